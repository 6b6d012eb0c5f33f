"""Fused selective scan against mamba-ssm's reference formulation (CPU, float32).

The baseline is ``selective_scan_materialized`` (what mamba-ssm ships as
``selective_scan_ref``: exp(delta*A) and delta*B*u materialised for every step, then a loop
over L), measured in the same run. Prints times, the speed-up and the largest differences.

    python bench/scan_bench.py [--threads 2] [--repeats 3] [--no-backward]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from metst_engine.models.scan import (
    fused_available,
    selective_scan,
    selective_scan_materialized,
    selective_scan_reference,
)

SHAPES = [(256, 50), (1, 4096)]
D_INNER, D_STATE = 256, 64


def make_inputs(batch: int, length: int, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(batch, D_INNER, length, generator=g)
    delta = torch.randn(batch, D_INNER, length, generator=g) * 0.5 - 2.0
    A = -torch.arange(1, D_STATE + 1, dtype=torch.float32).repeat(D_INNER, 1) * torch.exp(
        torch.randn(D_INNER, 1, generator=g) * 0.3
    )
    B = torch.randn(batch, D_STATE, length, generator=g)
    C = torch.randn(batch, D_STATE, length, generator=g)
    D = torch.randn(D_INNER, generator=g)
    z = torch.randn(batch, D_INNER, length, generator=g)
    bias = torch.randn(D_INNER, generator=g) * 0.1
    return [u, delta, A, B, C, D, z, bias]


def timed(fn, repeats: int, warmup: bool = True) -> tuple[float, object]:
    out = fn() if warmup else None  # warm-up (and numba compilation / cache load)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-backward", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if not fused_available():
        sys.exit("numba is not installed: there is no fused scan to measure")
    print(f"torch {torch.__version__}, {args.threads} threads, float32, d_inner {D_INNER}, d_state {D_STATE}")
    for batch, length in SHAPES:
        inputs = make_inputs(batch, length)
        kw = dict(delta_softplus=True)

        def ref_fwd():
            with torch.no_grad():
                return selective_scan_materialized(*inputs, **kw)

        def fused_fwd():
            with torch.no_grad():
                return selective_scan(*inputs, **kw, impl="fused")

        t_ref, y_ref = timed(ref_fwd, args.repeats)
        t_fus, y_fus = timed(fused_fwd, args.repeats)
        diff = (y_ref - y_fus).abs().max().item()
        rel = diff / y_ref.abs().max().item()
        print(
            f"B={batch:4d} L={length:5d} forward : reference {t_ref * 1e3:9.1f} ms  fused {t_fus * 1e3:8.1f} ms"
            f"  speed-up {t_ref / t_fus:6.1f}x  max|diff| {diff:.2e} (rel {rel:.1e})"
        )
        if args.no_backward:
            continue
        leaves = [t.clone().requires_grad_(True) for t in inputs]
        grad_out = torch.randn_like(y_ref)

        # Autograd through the materialised formulation slices a (B, D, L, N) tensor once per
        # step, and each slice's backward writes a full-size gradient: for L = 4096 that takes
        # hours. There the baseline is the plain loop (selective_scan_reference) instead.
        base_fn = selective_scan_materialized if length <= 512 else selective_scan_reference
        base_name = "reference" if length <= 512 else "plain loop"

        def ref_fb():
            y = base_fn(*leaves, **kw)
            return torch.autograd.grad(y, leaves, grad_out)

        def fused_fb():
            y = selective_scan(*leaves, **kw, impl="fused")
            return torch.autograd.grad(y, leaves, grad_out)

        t_ref, g_ref = timed(ref_fb, 1, warmup=False)  # slow; nothing to warm up
        t_fus, g_fus = timed(fused_fb, args.repeats)
        worst = max(((a - b).abs().max() / b.abs().max().clamp_min(1e-12)).item() for a, b in zip(g_ref, g_fus))
        print(
            f"B={batch:4d} L={length:5d} fwd+bwd : {base_name} {t_ref * 1e3:9.1f} ms  fused {t_fus * 1e3:8.1f} ms"
            f"  speed-up {t_ref / t_fus:6.1f}x  worst grad diff / max|grad| {worst:.1e}"
        )


if __name__ == "__main__":
    main()
