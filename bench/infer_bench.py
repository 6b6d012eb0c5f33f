"""ME-TST+ inference over every window of a 10-minute 30-fps video, on CPU.

18,000 frames, windows of k=50 frames every 25 frames -> 719 windows of 36 x 50. Reports
seconds and frames/s for the default ME-TST+ (numba-fused scan), and, as the baseline of the
same run, the same network with the plain-loop scan timed on a subset of the windows and
scaled up (running all of them that way takes minutes).

It runs with the allocator thresholds metst's entry points set (``metst_engine.malloc_tuning``);
``--compare-allocator R`` times the whole inference R times with those and R times with glibc's
defaults, alternating, each in its own child process, and prints the ratio.

    python bench/infer_bench.py [--threads 2] [--batch 256] [--baseline-windows 64]
    python bench/infer_bench.py --compare-allocator 2
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# isort: off
import metst_engine  # noqa: F401  (before torch: it sets the OpenMP wait policy torch reads at load)
import torch
# isort: on

from alternate import alternate_runs  # bench/, the script's own folder
from metst_engine.malloc_tuning import keep_freed_memory
from metst_engine.models import build_model
from metst_engine.models.mamba import Mamba
from metst_engine.models.scan import fused_available

FPS, MINUTES, K = 30, 10, 50


def run(model: torch.nn.Module, windows: torch.Tensor, batch: int) -> tuple[float, torch.Tensor, float]:
    """(wall seconds, spotting outputs, process CPU seconds)."""
    spots = []
    t0, c0 = time.perf_counter(), time.process_time()
    with torch.inference_mode():
        for start in range(0, windows.shape[0], batch):
            spots.append(model(windows[start : start + batch]).spot)
    return time.perf_counter() - t0, torch.cat(spots), time.process_time() - c0


def set_scan(model: torch.nn.Module, impl: str) -> None:
    for m in model.modules():
        if isinstance(m, Mamba):
            m.scan_impl = impl


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--baseline-windows", type=int, default=64, help="0 skips the baseline")
    parser.add_argument("--allocator", choices=("metst", "glibc"), default="metst",
                        help="metst: the thresholds metst's entry points set; glibc: its defaults")
    parser.add_argument("--compare-allocator", type=int, default=0, metavar="ROUNDS",
                        help="time the inference ROUNDS times per allocator setting in child processes")
    args = parser.parse_args()
    if args.compare_allocator:
        compare_allocator(args)
        return
    tuned = keep_freed_memory() if args.allocator == "metst" else False
    torch.set_num_threads(args.threads)

    frames = FPS * 60 * MINUTES
    stride = K // 2
    n_windows = frames // stride - 1
    features = torch.randn(36, frames, generator=torch.Generator().manual_seed(0))
    windows = torch.stack([features[:, i * stride : i * stride + K] for i in range(n_windows)])
    model = build_model("metst_plus", seed=0).eval()
    impl = "fused" if fused_available() else "loop"
    set_scan(model, impl)
    run(model, windows[:4], args.batch)  # warm-up, numba cache load
    seconds, spots, cpu = run(model, windows, args.batch)
    load = os.getloadavg()
    print(f"torch {torch.__version__}, {args.threads} threads, batch {args.batch}, scan '{impl}', "
          f"OMP_WAIT_POLICY {os.environ.get('OMP_WAIT_POLICY')!r}, "
          f"GOMP_SPINCOUNT {os.environ.get('GOMP_SPINCOUNT')!r}, "
          f"malloc thresholds {'metst' if tuned else 'glibc'}; "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"ME-TST+ on {n_windows} windows of 36 x {K} ({frames} frames, {MINUTES} min at {FPS} fps)")
    print(f"  {impl:5s} scan : {seconds:7.2f} s   {frames / seconds:8.0f} frames/s   (CPU {cpu:.2f} s; goal <= 10 s)")
    if args.baseline_windows > 0 and impl == "fused":
        n = min(args.baseline_windows, n_windows)
        set_scan(model, "loop")
        t_sub, spots_loop, _ = run(model, windows[:n], args.batch)
        t_base = t_sub * n_windows / n
        diff = (spots_loop - spots[:n]).abs().max().item()
        print(
            f"  loop  scan : {t_base:7.2f} s   {frames / t_base:8.0f} frames/s   (timed on {n} windows, scaled)"
            f"\n  speed-up {t_base / seconds:.1f}x; max |spot difference| {diff:.1e}"
        )

def compare_allocator(args: argparse.Namespace) -> None:
    """Alternate child runs with glibc's malloc thresholds and metst's; print medians and the ratio."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    common = ["--baseline-windows", "0", "--threads", str(args.threads), "--batch", str(args.batch)]
    medians = alternate_runs(__file__, {alloc: (["--allocator", alloc, *common], env) for alloc in ("glibc", "metst")},
                             args.compare_allocator, r"scan :\s+([0-9.]+) s")
    glibc, metst = medians["glibc"], medians["metst"]
    print(f"median glibc {glibc:.2f} s, metst {metst:.2f} s: {glibc / metst:.2f}x")


if __name__ == "__main__":
    main()
