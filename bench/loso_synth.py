"""LOSO on synthetic subjects: ME-TST+ (and optionally ME-TST) against the model-free spotter.

Generates a synthetic set (metst synth), trains leave-one-subject-out, predicts every
held-out video with the model-free spotter too, and prints spotting P/R/F1 of each, STRS of
the models, and the run time. Not part of CI (minutes to hours on a CPU).

    python bench/loso_synth.py --subjects 6 --videos 2 --seconds 20 --epochs 50 [--models metst_plus,metst]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from metst_engine.baseline import spot
from metst_engine.datasets import load_manifest
from metst_engine.evaluation import cases_from_videos, evaluate
from metst_engine.extraction import extract_video
from metst_engine.features import ExtractParams
from metst_engine.synth import SynthConfig, generate
from metst_engine.training import TrainConfig, run_loso


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--subjects", type=int, default=6)
    ap.add_argument("--videos", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--window", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--model-overrides", default="{}", help="JSON, e.g. a smaller network for a quick look")
    ap.add_argument("--models", default="metst_plus", help="comma list of models to train: metst_plus, metst "
                                                            "(ME-TST, to compare STRS)")
    ap.add_argument("--out", default=None, help="keep data and runs here (default: a temp folder)")
    ap.add_argument("--data", default=None, help="reuse a synthetic set (a folder holding manifest.csv) instead of "
                                                 "generating one; its features come from the cache")
    a = ap.parse_args()
    root = Path(a.out or tempfile.mkdtemp(prefix="metst-loso-"))
    t0 = time.perf_counter()
    data = Path(a.data) if a.data else root / "data"
    if not a.data:
        generate(data, SynthConfig(subjects=a.subjects, videos_per_subject=a.videos, seconds=a.seconds, seed=a.seed))
    manifest = data / "manifest.csv"
    dataset = load_manifest(manifest)
    t_synth = time.perf_counter() - t0

    rows = {}
    t1 = time.perf_counter()
    preds = {}
    for v in dataset.videos:
        feats = extract_video(Path(v.path), ExtractParams(rois="metst_plus", window=a.window), fps=v.fps)
        preds[v.video] = spot(feats)
    base = evaluate(cases_from_videos(dataset.videos, preds), mode="megc").summary()
    rows["model-free spotter"] = base | {"seconds": time.perf_counter() - t1}

    models = [m.strip() for m in a.models.split(",") if m.strip()]
    for name in models:
        t2 = time.perf_counter()
        cfg = TrainConfig(dataset=str(manifest), model=name, window=a.window, epochs=a.epochs, threads=a.threads,
                          batch=32, ratio=4.0, final=False, model_overrides=json.loads(a.model_overrides)
                          if name == "metst_plus" else {})
        m = run_loso(cfg, root / f"run_{name}")
        rows[name] = {k: v for k, v in m.items() if k != "per_subject"} | {"seconds": time.perf_counter() - t2}

    subjects = dataset.subjects()
    print(f"{len(subjects)} subjects, {len(dataset.videos)} videos ({data}), window {a.window}, {a.epochs} epochs, "
          f"ME-TST+ overrides {a.model_overrides}; synth {t_synth:.0f} s; runs in {root}")
    print(f"{'':22s} {'TP':>4s} {'FP':>4s} {'FN':>4s} {'P':>6s} {'R':>6s} {'F1':>6s} {'STRS':>6s} {'time s':>8s}")
    for name, r in rows.items():
        print(f"{name:22s} {r['tp']:4d} {r['fp']:4d} {r['fn']:4d} {r['precision']:6.3f} {r['recall']:6.3f} "
              f"{r['f1']:6.3f} {r['strs']:6.3f} {r['seconds']:8.0f}")


if __name__ == "__main__":
    main()
