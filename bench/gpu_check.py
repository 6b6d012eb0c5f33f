"""The CUDA path, checked and timed on a machine with an NVIDIA GPU (one prepared run).

Stages (each reports PASS / FAIL and its figures; a failing stage does not stop the others):

1. environment: torch, CUDA, the GPU, which Mamba backend ``auto`` picks (mamba-ssm's kernel
   only when it imports; the pure-PyTorch scan otherwise) and the message when ``cuda`` is
   forced without it;
2. parity: paper-size ME-TST+ and ME-TST with the same weights on CPU (numba-fused scan) and on
   the GPU (PyTorch scan), TF32 off: outputs, loss and every gradient compared (relative to the
   largest CPU value);
3. one training step (batch 32, k 30, forward + backward + Adam) on the GPU, fp32 and TF32,
   against the same step on this machine's CPU in the same run;
4. ME-TST+ inference over every window of a 10-minute 30-fps video on the GPU, against the CPU
   (fused scan) on a subset of windows in the same run, spots compared;
5. end to end: ``metst train --device cuda`` on a small synthetic LOSO set whose features are
   already in ``--cache-dir`` (no face model is needed there), the final checkpoint loaded back
   on CPU through the validating loader; the same run with ``--device cpu`` beside it.

    python bench/gpu_check.py [--device cuda] [--data .gpu] [--out DIR] [--quick]

``--data`` holds ``synth/manifest.csv`` and ``cache/`` made on the CPU machine by
``python bench/gpu_check.py --prepare .gpu`` (synthesises the set and extracts its features).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# isort: off
import metst_engine  # noqa: F401  (before torch: it sets the OpenMP wait policy torch reads at load)
import torch
# isort: on

from metst_engine.intervals import EMOTIONS
from metst_engine.models import build_model
from metst_engine.training import loss_fn

CHANNELS = {"metst_plus": 36, "metst": 10}
SYNTH = {"subjects": 3, "videos_per_subject": 1, "seconds": 8, "seed": 5}
TRAIN_ARGS = ["--window", "30", "--epochs", "2", "--batch", "32", "--seed", "1"]


def stage(name: str, fn: Callable[[], None], results: dict[str, str]) -> None:
    print(f"\n=== {name} ===", flush=True)
    t0 = time.perf_counter()
    try:
        fn()
        results[name] = "PASS"
    except Exception:  # noqa: BLE001  (a stage's failure is reported; the next stage still runs)
        traceback.print_exc(file=sys.stdout)
        results[name] = "FAIL"
    print(f"--- {name}: {results[name]} ({time.perf_counter() - t0:.1f} s)", flush=True)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def environment(device: torch.device) -> None:
    from metst_engine.models.mamba import cuda_backend_available, resolve_backend

    print(f"python {sys.version.split()[0]}, torch {torch.__version__}, CUDA build {torch.version.cuda}, "
          f"cuda available {torch.cuda.is_available()}")
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        print(f"GPU: {p.name}, {p.total_memory / 2**30:.0f} GiB, {p.multi_processor_count} SMs, "
              f"capability {p.major}.{p.minor}")
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version,clocks.sm,clocks.max.sm",
                              "--format=csv,noheader"], capture_output=True, text=True, check=False)
        print(f"nvidia-smi: {out.stdout.strip() or out.stderr.strip()}")
    print(f"mamba-ssm kernel available: {cuda_backend_available()}; "
          f"'auto' picks {resolve_backend('auto', device)!r} on {device}")
    try:
        resolve_backend("cuda", device)
        print("'cuda' backend forced: accepted")
    except RuntimeError as exc:
        print(f"'cuda' backend forced without it: {exc}")


def _batch(name: str, batch: int, k: int, device: torch.device, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, CHANNELS[name], k, generator=g)
    spot = (torch.rand(batch, k, generator=g) > 0.8).float()
    recog = torch.randint(0, len(EMOTIONS) + 1, (batch, k), generator=g)
    weights = torch.ones(len(EMOTIONS) + 1)
    return [t.to(device) for t in (x, spot, recog, weights)]


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach().double().cpu(), b.detach().double().cpu()
    return float((a - b).abs().max() / a.abs().max().clamp_min(1e-12))


def parity(device: torch.device, tolerance: float = 1e-4) -> None:
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    worst_all = 0.0
    for name, channels in CHANNELS.items():
        # eval mode: dropout off, so both sides compute the same function (gradients still flow)
        cpu_model = build_model(name, seed=0, in_channels=channels, n_classes=len(EMOTIONS)).eval()
        dev_model = copy.deepcopy(cpu_model).to(device)
        results = []
        for model, dev in ((cpu_model, torch.device("cpu")), (dev_model, device)):
            x, spot, recog, weights = _batch(name, 8, 30, dev)
            out = model(x)
            loss = loss_fn(out, spot, recog, weights)[0]
            model.zero_grad(set_to_none=True)
            loss.backward()
            results.append((out, loss, {n: p.grad for n, p in model.named_parameters()}))
        (o1, l1, g1), (o2, l2, g2) = results
        spot_err, recog_err, loss_err = _rel(o1.spot, o2.spot), _rel(o1.recog, o2.recog), _rel(l1, l2)
        grad_err = {n: _rel(g1[n], g2[n]) for n in g1 if g1[n] is not None}
        worst = max(grad_err, key=grad_err.get)
        print(f"{name}: spot {spot_err:.1e}, recog {recog_err:.1e}, loss {loss_err:.1e}; gradients of "
              f"{len(grad_err)} tensors: worst {grad_err[worst]:.1e} ({worst}), "
              f"median {statistics.median(grad_err.values()):.1e}")
        worst_all = max(worst_all, spot_err, recog_err, loss_err, grad_err[worst])
    print(f"largest relative difference CPU vs {device}: {worst_all:.1e} (tolerance {tolerance:.0e})")
    if worst_all > tolerance:
        raise AssertionError(f"CPU and {device} differ by {worst_all:.1e}")


def _step_time(name: str, device: torch.device, repeats: int, warmup: int, batch: int = 32, k: int = 30) -> float:
    model = build_model(name, seed=0, in_channels=CHANNELS[name], n_classes=len(EMOTIONS)).to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=3e-4)
    x, spot, recog, weights = _batch(name, batch, k, device)

    def step() -> None:
        loss = loss_fn(model(x), spot, recog, weights)[0]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(warmup):
        step()
    sync(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def train_step(device: torch.device, quick: bool) -> None:
    threads = torch.get_num_threads()
    for name in CHANNELS:
        cpu = _step_time(name, torch.device("cpu"), repeats=1 if quick else 3, warmup=1)
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
        fp32 = _step_time(name, device, repeats=5 if quick else 30, warmup=3)
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        tf32 = _step_time(name, device, repeats=5 if quick else 30, warmup=3)
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
        print(f"{name} step (batch 32, k 30): {device} fp32 {fp32 * 1e3:7.1f} ms, TF32 {tf32 * 1e3:7.1f} ms; "
              f"CPU ({threads} threads, same run) {cpu * 1e3:7.1f} ms -> {cpu / fp32:5.1f}x")


def _windows(minutes: int = 10, fps: int = 30, k: int = 50) -> torch.Tensor:
    frames, stride = fps * 60 * minutes, k // 2
    features = torch.randn(36, frames, generator=torch.Generator().manual_seed(0))
    return torch.stack([features[:, i * stride: i * stride + k] for i in range(frames // stride - 1)])


def _infer(model: torch.nn.Module, windows: torch.Tensor, device: torch.device, batch: int) -> tuple[float, torch.Tensor]:
    spots = []
    sync(device)
    t0 = time.perf_counter()
    with torch.inference_mode():
        for start in range(0, windows.shape[0], batch):
            spots.append(model(windows[start: start + batch].to(device)).spot.cpu())
    sync(device)
    return time.perf_counter() - t0, torch.cat(spots)


def inference(device: torch.device, quick: bool) -> None:
    windows = _windows(minutes=1 if quick else 10)
    model = build_model("metst_plus", seed=0).eval()
    dev_model = copy.deepcopy(model).to(device)
    _infer(dev_model, windows[:8], device, 256)                       # warm-up
    seconds, spots = _infer(dev_model, windows, device, 256)
    n = min(64, len(windows))
    cpu_s, cpu_spots = _infer(model, windows[:n], torch.device("cpu"), 256)
    cpu_total = cpu_s * len(windows) / n
    diff = float((cpu_spots - spots[:n]).abs().max())
    frames = (len(windows) + 1) * 25
    print(f"ME-TST+ over {len(windows)} windows of 36 x 50 ({frames} frames): {device} {seconds:6.2f} s "
          f"({frames / seconds:,.0f} frames/s); CPU ({torch.get_num_threads()} threads, {n} windows scaled) "
          f"{cpu_total:6.2f} s -> {cpu_total / seconds:5.1f}x; max |spot difference| {diff:.1e}")
    if diff > 1e-3:
        raise AssertionError(f"spots differ by {diff:.1e}")


def _train_cli(data: Path, out: Path, device: str) -> tuple[float, dict]:
    cmd = [sys.executable, "-m", "metst_engine.cli", "train", "--dataset", str(data / "synth" / "manifest.csv"),
           "--model", "metst_plus", "--loso", "-o", str(out), "--cache-dir", str(data / "cache"),
           "--device", device, *TRAIN_ARGS]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env, timeout=900)
    seconds = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"metst train --device {device} exited {r.returncode}:\n{r.stderr[-3000:]}")
    return seconds, json.loads(r.stdout)


def end_to_end(device: torch.device, data: Path, out: Path) -> None:
    from metst_engine.models.checkpoint import load_checkpoint

    keys = ("f1", "precision", "recall")
    shutil.rmtree(out, ignore_errors=True)
    rows = {}
    for dev in dict.fromkeys((str(device), "cpu")):
        seconds, summary = _train_cli(data, out / f"run-{dev.replace(':', '')}", dev)
        flat = {k: v for k, v in summary.items() if isinstance(v, int | float)}
        rows[dev] = flat
        shown = ", ".join(f"{k} {flat[k]:.3f}" for k in flat if any(key in k for key in keys))
        print(f"metst train --device {dev}: {seconds:6.1f} s; {shown}")
    final = out / f"run-{str(device).replace(':', '')}" / "final" / "model.safetensors"
    model, meta = load_checkpoint(final, device="cpu")
    print(f"final checkpoint trained on {device} loaded on CPU: {meta.model}, "
          f"{sum(p.numel() for p in model.parameters()):,} parameters")


def prepare(folder: Path) -> None:
    """Synthesise the LOSO set and fill the feature cache here (CPU, with the face model)."""
    from metst_engine.synth import SynthConfig, generate

    generate(folder / "synth", SynthConfig(**SYNTH))
    scratch = folder / "prepare-run"
    _train_cli(folder, scratch, "cpu")
    shutil.rmtree(scratch)
    print(f"prepared {folder}: {sum(1 for _ in (folder / 'cache').glob('*.npz'))} cached feature files")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--data", type=Path, default=ROOT / ".gpu")
    parser.add_argument("--out", type=Path, default=Path("/tmp/metst-gpu-check"),
                        help="where the end-to-end runs go (emptied first)")
    parser.add_argument("--quick", action="store_true", help="fewer repeats, 1-minute video (a dry run)")
    parser.add_argument("--prepare", type=Path, help="make the synthetic set and its feature cache in this folder")
    parser.add_argument("--stages", nargs="+", default=["environment", "parity", "train step", "inference",
                                                        "end to end"])
    args = parser.parse_args()
    if args.prepare:
        prepare(args.prepare)
        return
    device = torch.device(args.device)
    print(f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}")
    stages = {
        "environment": lambda: environment(device),
        "parity": lambda: parity(device),
        "train step": lambda: train_step(device, args.quick),
        "inference": lambda: inference(device, args.quick),
        "end to end": lambda: end_to_end(device, args.data, args.out),
    }
    results: dict[str, str] = {}
    for name in args.stages:
        stage(name, stages[name], results)
    print("\nsummary: " + ", ".join(f"{k} {v}" for k, v in results.items()))
    sys.exit(0 if all(v == "PASS" for v in results.values()) else 1)


if __name__ == "__main__":
    main()
