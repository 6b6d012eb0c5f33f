"""One CPU training step of paper-size ME-TST+ and ME-TST, timed against the machine's matmul rate.

The step is what ``metst train`` runs per batch (``training.train_fold``): the model built by
``build_model`` with the catalogue's defaults for the model's own ROI set (ME-TST+ 36 input
channels, ME-TST 10), a batch of windows of k frames, ``training.loss_fn``, zero_grad, backward
and ``torch.optim.Adam``. Printed per model, all measured in the same run:

* the step's time (median and min of --repeats after --warmup steps; wall clock and CPU time);
* the step's matmul + convolution FLOPs (``torch.utils.flop_counter.FlopCounterMode``; the
  numba scan kernels are not counted) and the fraction of the machine's dense matmul rate
  (a --gemm^3 float32 matmul on the same threads, measured in this run) the step achieves;
* the ratio against the baseline: the same network with the plain-PyTorch scan path
  (``Mamba.scan_impl = "loop"``, no numba), timed over --baseline-repeats steps.

``--profile`` adds torch.profiler tables by op for the forward (with the loss) and the backward
separately (--profile-rows rows each). Other processes on the machine make the wall-clock times
noisy: compare the ratios, and read ``uptime`` (printed first).

``--compare-spin R`` times the ME-TST+ step in child processes, R of them with OpenMP workers
that sleep at once (GOMP_SPINCOUNT 0) and R with metst's default short spin, alternating, and
prints the ratio (the setting is read when torch loads, so it needs a process of its own).

    python bench/train_step_bench.py [--threads 2] [--batch 32] [--k 30] [--repeats 5]
        [--models metst_plus metst] [--baseline-repeats 1] [--profile]
    python bench/train_step_bench.py --compare-spin 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# isort: off
import metst_engine  # noqa: F401  (before torch: it sets the OpenMP wait policy torch reads at load)
import torch
# isort: on
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

from alternate import alternate_runs  # bench/, the script's own folder
from metst_engine.intervals import EMOTIONS
from metst_engine.malloc_tuning import keep_freed_memory
from metst_engine.models import build_model
from metst_engine.models.mamba import Mamba
from metst_engine.training import loss_fn

CHANNELS = {"metst_plus": 36, "metst": 10}  # 18 / 5 ROIs x (x, y): the models' own ROI sets
GOALS = {"metst_plus": 1.0, "metst": 0.25}


def matmul_rate(n: int, repeats: int = 5) -> float:
    """Dense float32 matmul rate (FLOP/s, median of ``repeats``) on the current threads."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t0)
    return 2 * n**3 / statistics.median(times)


class Step:
    """One training step of ``name`` on a fixed random batch (the training loop's calls)."""

    def __init__(self, name: str, batch: int, k: int, scan_impl: str = "auto") -> None:
        g = torch.Generator().manual_seed(0)
        self.model = build_model(name, seed=0, in_channels=CHANNELS[name], n_classes=len(EMOTIONS))
        for m in self.model.modules():
            if isinstance(m, Mamba):
                m.scan_impl = scan_impl
        self.model.train()
        self.opt = torch.optim.Adam(self.model.parameters(), lr=3e-4, fused=True)  # as training.train_fold
        self.x = torch.randn(batch, CHANNELS[name], k, generator=g)
        self.spot = (torch.rand(batch, k, generator=g) > 0.8).float()
        self.recog = torch.randint(0, len(EMOTIONS) + 1, (batch, k), generator=g)
        self.weights = torch.ones(len(EMOTIONS) + 1)

    def forward(self) -> torch.Tensor:
        out = self.model(self.x)
        return loss_fn(out, self.spot, self.recog, self.weights)[0]

    def backward(self, loss: torch.Tensor) -> None:
        self.opt.zero_grad(set_to_none=True)
        loss.backward()

    def __call__(self) -> None:
        self.backward(self.forward())
        self.opt.step()


def timed(step: Step, warmup: int, repeats: int) -> tuple[list[float], list[float]]:
    """(wall seconds, process CPU seconds) of ``repeats`` steps after ``warmup`` steps."""
    for _ in range(warmup):
        step()
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        step()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return wall, cpu


def step_flops(step: Step) -> int:
    counter = FlopCounterMode(display=False)
    with counter:
        step()
    return counter.get_total_flops()


def profile_tables(step: Step, rows: int) -> str:
    """torch.profiler tables by op (self CPU time) of the forward and of the backward."""
    step()
    with profile(activities=[ProfilerActivity.CPU]) as fwd:
        loss = step.forward()
    with profile(activities=[ProfilerActivity.CPU]) as bwd:
        step.backward(loss)
    step.opt.step()
    parts = []
    for title, prof in (("forward (with the loss)", fwd), ("backward", bwd)):
        table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows, max_name_column_width=40)
        parts.append(f"--- {title} ---\n{table}")
    return "\n".join(parts)


def report(name: str, args: argparse.Namespace, rate: float) -> None:
    step = Step(name, args.batch, args.k)
    wall, cpu = timed(step, args.warmup, args.repeats)
    flops = step_flops(step)
    med = statistics.median(wall)
    print(f"{name}: batch {args.batch}, k {args.k}, {sum(p.numel() for p in step.model.parameters()):,} parameters")
    print(f"  step      : median {med:6.3f} s  min {min(wall):6.3f} s  (CPU {statistics.median(cpu):6.3f} s; "
          f"goal <= {GOALS[name]:.2f} s)")
    print(f"  FLOPs     : {flops / 1e9:6.1f} GFLOP matmul + conv -> {flops / rate:6.3f} s at the matmul rate; "
          f"achieved {flops / med / rate:.2f} of it (median), {flops / min(wall) / rate:.2f} (min)")
    if args.baseline_repeats > 0:
        base = Step(name, args.batch, args.k, scan_impl="loop")
        b_wall, _ = timed(base, 1, args.baseline_repeats)
        b_med = statistics.median(b_wall)
        print(f"  baseline  : plain-PyTorch scan (scan_impl 'loop') median {b_med:6.3f} s -> speed-up "
              f"{b_med / med:.1f}x")
    if args.profile:
        print(profile_tables(step, args.profile_rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--k", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--baseline-repeats", type=int, default=1, help="0 skips the baseline")
    parser.add_argument("--models", nargs="+", default=["metst_plus", "metst"], choices=sorted(CHANNELS))
    parser.add_argument("--gemm", type=int, default=2048, help="size of the matmul that measures the rate")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--profile-rows", type=int, default=25)
    parser.add_argument("--compare-spin", type=int, default=0, metavar="ROUNDS",
                        help="time the ME-TST+ step ROUNDS times per OpenMP spin setting in child processes")
    args = parser.parse_args()
    if args.compare_spin:
        compare_spin(args)
        return
    tuned = keep_freed_memory()  # as the metst command and the training workers
    torch.set_num_threads(args.threads)
    load = os.getloadavg()
    rate = matmul_rate(args.gemm)
    print(f"torch {torch.__version__}, {args.threads} threads, OMP_WAIT_POLICY {os.environ.get('OMP_WAIT_POLICY')!r}, "
          f"GOMP_SPINCOUNT {os.environ.get('GOMP_SPINCOUNT')!r}, "
          f"malloc thresholds {'metst' if tuned else 'glibc'}; "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"dense matmul rate ({args.gemm}^3 float32): {rate / 1e9:.0f} GFLOP/s")
    for name in args.models:
        report(name, args, rate)


def compare_spin(args: argparse.Namespace) -> None:
    """Alternate child runs with GOMP_SPINCOUNT 0 and metst's default; print medians and the ratio."""
    spin = os.environ.get("GOMP_SPINCOUNT", "")
    common = ["--models", "metst_plus", "--baseline-repeats", "0", "--threads", str(args.threads),
              "--repeats", str(args.repeats)]
    variants = {label: (common, {**os.environ, "GOMP_SPINCOUNT": count})
                for label, count in (("no spin", "0"), (f"spin {spin}", spin))}
    medians = alternate_runs(__file__, variants, args.compare_spin, r"step\s+: median\s+([0-9.]+) s")
    none, spun = medians["no spin"], medians[f"spin {spin}"]
    print(f"median no spin {none:.3f} s, spin {spin} {spun:.3f} s: {none / spun:.2f}x")


if __name__ == "__main__":
    main()
