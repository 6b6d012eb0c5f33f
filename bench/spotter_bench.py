"""The model-free spotter on held-out synthetic seeds: the new (per-ROI evidence) spotter beside the old one.

Each seed is one ``SynthConfig.varied`` set: 2 subjects (one mirrored) x 1 video of
``--seconds`` s; even seeds at 320 px, odd seeds at 240 px (a second face size). Features
(ME-TST+ 18 ROIs, the spotter's alignment, window 50) are extracted once and cached under
``--data``; the old spotter runs on the 5-ROI ``metst`` channels of the same features
(identical to a ``metst`` extraction: same boxes, same flow), i.e. what ``metst predict``
gave before. Spotting is scored per seed with MEGC matching (IoU >= 0.5); AP ranks the
intervals by their score over all matches (a measure of whether scores put true spots first).

The spotter's parameters were chosen on the tuning seeds (``--tune-seeds``, default 1-8) only;
the report is on the held-out seeds (``--seeds``, default 101-112). Frames/s: the spotting
step alone (features in memory) for each spotter, and the feature extraction where it ran.

    python bench/spotter_bench.py [--seeds 101-112] [--data /work/scratch/spotter] [--prepare-only]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from metst_engine.analysis import LEGACY_ROIS, SPOTTER_ALIGNMENT, SPOTTER_ROIS
from metst_engine.baseline import spot
from metst_engine.baseline_legacy import LegacyParams, legacy_spot
from metst_engine.curves import select_rois
from metst_engine.datasets import load_manifest
from metst_engine.datasets.base import Dataset
from metst_engine.evaluation import average_precision, cases_from_videos, evaluate
from metst_engine.extraction import extract_video
from metst_engine.features import ExtractParams, FeatureSet
from metst_engine.intervals import Interval
from metst_engine.synth import SynthConfig, generate

WINDOW = 50


def seed_config(seed: int, seconds: float) -> SynthConfig:
    """The bench's set for one seed (sizes alternate so both face sizes are in every seed range)."""
    return SynthConfig.varied(subjects=2, videos_per_subject=1, seconds=seconds, seed=seed,
                              size=320 if seed % 2 == 0 else 240)


def parse_seeds(text: str) -> list[int]:
    """'101-112' or '1,3,5' or '1-4,9'."""
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def prepare(seed: int, root: Path, seconds: float) -> tuple[Dataset, dict[str, FeatureSet], float, int]:
    """(dataset, features per video, extraction seconds, frames extracted) of a seed; generates and caches."""
    data, config = root / f"seed_{seed:03d}", seed_config(seed, seconds)
    if not (data / "manifest.csv").is_file():
        generate(data, config)
    elif json.loads((data / "synth.json").read_text(encoding="utf-8"))["config"] != json.loads(json.dumps(asdict(config))):
        sys.exit(f"{data} holds another set than seed {seed} of this bench (other --seconds or generator); "
                 f"use another --data")
    ds = load_manifest(data / "manifest.csv")
    params = ExtractParams(rois=SPOTTER_ROIS, window=WINDOW, alignment=SPOTTER_ALIGNMENT)
    feats, spent, frames = {}, 0.0, 0
    for v in ds.videos:
        t0 = time.perf_counter()
        feats[v.video] = extract_video(Path(v.path), params, fps=v.fps, cache_dir=root / "cache")
        dt = time.perf_counter() - t0
        if dt > 1.0:                                 # a cache hit takes milliseconds, an extraction tens of seconds
            spent, frames = spent + dt, frames + feats[v.video].n_frames
    return ds, feats, spent, frames


def score(ds: Dataset, preds: dict[str, list[Interval]]) -> dict[str, float]:
    cases = cases_from_videos(ds.videos, preds)
    m = evaluate(cases, mode="megc").summary()
    return {"f1": m["f1"], "precision": m["precision"], "recall": m["recall"], "ap": average_precision(cases),
            "tp": m["tp"], "fp": m["fp"], "fn": m["fn"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="101-112", help="held-out seeds reported on")
    ap.add_argument("--tune-seeds", default="1-8", help="the seeds the parameters were chosen on (listed, and "
                                                        "refused as --seeds unless --allow-tuning-seeds)")
    ap.add_argument("--allow-tuning-seeds", action="store_true")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--data", default=None, help="keep videos and features here (default: a temp folder)")
    ap.add_argument("--prepare-only", action="store_true", help="generate and extract, print nothing else")
    ap.add_argument("--time-extraction", type=int, default=1, metavar="N",
                    help="extract the first N videos again without the cache to time it (0: skip)")
    a = ap.parse_args()
    seeds, tune = parse_seeds(a.seeds), parse_seeds(a.tune_seeds)
    if set(seeds) & set(tune) and not a.allow_tuning_seeds:
        ap.error(f"seeds {sorted(set(seeds) & set(tune))} were used for tuning; report on others")
    root = Path(a.data or tempfile.mkdtemp(prefix="metst-spotter-bench-"))

    rows: list[tuple[int, int, dict[str, float], dict[str, float]]] = []
    ext_s, ext_frames, spot_s, frames_total = 0.0, 0, {"old": 0.0, "new": 0.0}, 0
    for seed in seeds:
        ds, feats, spent, frames = prepare(seed, root, a.seconds)
        ext_s, ext_frames = ext_s + spent, ext_frames + frames
        if a.prepare_only:
            print(f"seed {seed}: ready ({spent:.0f} s extraction)", file=sys.stderr, flush=True)
            continue
        preds = {"old": {}, "new": {}}
        for name, f in feats.items():
            frames_total += f.n_frames
            legacy_feats = select_rois(f, LEGACY_ROIS)
            t0 = time.perf_counter()
            preds["old"][name] = legacy_spot(legacy_feats, LegacyParams())
            t1 = time.perf_counter()
            preds["new"][name] = spot(f)
            t2 = time.perf_counter()
            spot_s["old"] += t1 - t0
            spot_s["new"] += t2 - t1
        n_me = sum(len(v.micro()) for v in ds.videos)
        rows.append((seed, n_me, score(ds, preds["old"]), score(ds, preds["new"])))
    if a.prepare_only:
        return 0

    overlap = sorted(set(seeds) & set(tune))
    role = f"TUNING seeds {overlap} among them" if overlap else f"tuning seeds {a.tune_seeds} not among them"
    print(f"seeds {a.seeds} ({role}); SynthConfig.varied, "
          f"2 subjects x 1 video x {a.seconds:g} s per seed, 320/240 px; features {SPOTTER_ROIS} window {WINDOW}, "
          f"alignment {SPOTTER_ALIGNMENT}; data in {root}")
    head = f"{'seed':>4s} {'px':>4s} {'MEs':>4s} | {'old F1':>6s} {'P':>5s} {'R':>5s} {'AP':>5s} | " \
           f"{'new F1':>6s} {'P':>5s} {'R':>5s} {'AP':>5s} {'TP':>3s} {'FP':>3s} {'FN':>3s}"
    print(head)
    print("-" * len(head))
    for seed, n_me, old, new in rows:
        print(f"{seed:4d} {seed_config(seed, a.seconds).size:4d} {n_me:4d} | {old['f1']:6.3f} {old['precision']:5.2f} "
              f"{old['recall']:5.2f} {old['ap']:5.2f} | {new['f1']:6.3f} {new['precision']:5.2f} {new['recall']:5.2f} "
              f"{new['ap']:5.2f} {new['tp']:3d} {new['fp']:3d} {new['fn']:3d}")
    print("-" * len(head))
    for label, fn in (("mean", np.mean), ("min", np.min)):
        o = {k: fn([r[2][k] for r in rows]) for k in ("f1", "precision", "recall", "ap")}
        n = {k: fn([r[3][k] for r in rows]) for k in ("f1", "precision", "recall", "ap")}
        print(f"{label:>14s} | {o['f1']:6.3f} {o['precision']:5.2f} {o['recall']:5.2f} {o['ap']:5.2f} | "
              f"{n['f1']:6.3f} {n['precision']:5.2f} {n['recall']:5.2f} {n['ap']:5.2f}")
    better = sum(r[3]["f1"] > r[2]["f1"] for r in rows)
    print(f"new F1 above old on {better}/{len(rows)} seeds; mean gain {np.mean([r[3]['f1'] - r[2]['f1'] for r in rows]):+.3f}")
    print(f"spotting frames/s (features in memory): old {frames_total / max(spot_s['old'], 1e-9):,.0f}, "
          f"new {frames_total / max(spot_s['new'], 1e-9):,.0f} (new/old time {spot_s['new'] / max(spot_s['old'], 1e-9):.1f}x)")
    if not ext_frames and a.time_extraction > 0:
        params = ExtractParams(rois=SPOTTER_ROIS, window=WINDOW, alignment=SPOTTER_ALIGNMENT)
        for v in load_manifest(root / f"seed_{seeds[0]:03d}" / "manifest.csv").videos[:a.time_extraction]:
            t0 = time.perf_counter()
            f = extract_video(Path(v.path), params, fps=v.fps, use_cache=False)
            ext_s, ext_frames = ext_s + time.perf_counter() - t0, ext_frames + f.n_frames
    if ext_frames:
        per_frame_new = spot_s["new"] / frames_total
        print(f"feature extraction: {ext_frames / ext_s:.1f} frames/s ({ext_frames} frames, 1 process); the new "
              f"spotter adds {100 * per_frame_new / (ext_s / ext_frames):.2f}% to it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
