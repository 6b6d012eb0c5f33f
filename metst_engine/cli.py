"""The ``metst`` command: a thin layer over the engine modules.

Conventions for every verb: results go to stdout or the named output file; logs and
progress go to stderr; on failure one line ``error: <file>: <problem>`` and a non-zero
exit code (1 bad input, 2 bad usage, 3 internal error, 4 cancelled on request), with a
traceback only under ``--debug``. When stdout's reader goes away (``metst project stats | head``)
the verb ends quietly with exit code 1, as Python's documentation of SIGPIPE advises. Each verb registers itself in :data:`VERBS` (name -> (setup, run)).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext, redirect_stdout
from pathlib import Path
from typing import Any

from . import __version__
from .alignment import ALIGNMENTS, DEFAULT_ALIGNMENT
from .datasets import load_manifest
from .errors import Cancelled, MetstError, UsageError
from .intervals import Interval
from .intervals_io import read_predictions, write_predictions
from .malloc_tuning import keep_freed_memory
from .model_catalog import SPOTTER_CATALOG
from .progress_signals import cancel_on_signals
from .resources_path import resource_path
from .runs import EXIT_CANCELLED, TrainConfig
from .runs import add_arguments as add_train_config_arguments
from .safe_paths import check_id

log = logging.getLogger("metst")

Setup = Callable[[argparse.ArgumentParser], None]
Run = Callable[[argparse.Namespace], int]
VERBS: dict[str, tuple[str, str, Setup, Run]] = {}


def verb(name: str, help_text: str, epilog: str) -> Callable[[Setup], Callable[[Run], Run]]:
    """Register a verb: ``@verb(...)(setup)(run)`` keeps each verb's parser beside its code."""
    def with_setup(setup: Setup) -> Callable[[Run], Run]:
        def with_run(run: Run) -> Run:
            VERBS[name] = (help_text, epilog, setup, run)
            return run
        return with_run
    return with_setup


# ----------------------------------------------------------------------------- executors
def _executor_args(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--executor", choices=["local", "ray"], default="local",
                   help=f"where {what} run: local (this machine) or ray (a Ray cluster; needs metst[cluster])")
    p.add_argument("--ray-address", default=None, metavar="ADDR",
                   help="Ray cluster to join (auto, ray://head:10001); default: start a local Ray")
    p.add_argument("--max-retries", type=int, default=2,
                   help="ray: times a failed or lost task is retried before it is reported (default 2)")


@contextmanager
def _executor(a: argparse.Namespace, workers: int | None) -> Iterator[Any]:
    """The executor the command line asks for, closed afterwards; meanwhile stdout goes to
    stderr, because Ray prints its workers' errors on stdout, where only results belong."""
    from .executors import make_executor  # lazy: multiprocessing (startup)

    if a.max_retries < 0:
        raise UsageError("--max-retries must be >= 0")
    with redirect_stdout(sys.stderr):
        try:
            executor = make_executor(a.executor, address=a.ray_address, workers=workers, max_retries=a.max_retries)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        try:
            yield executor
        finally:
            executor.close()


# ----------------------------------------------------------------------------- extract
def _alignment_arg(p: argparse.ArgumentParser, default: str | None, note: str = "") -> None:
    p.add_argument("--alignment", choices=ALIGNMENTS, default=default,
                   help="how the face crop follows the head: public = as the authors' code (unit slip included); "
                        "improved = metst's sub-pixel variant with a coarse pre-registration" + note)


def _resume_hint(video: str, no_cache: bool) -> str:
    if no_cache:
        return f"{video}: cancelled (with --no-cache nothing is kept)"
    return f"{video}: cancelled; the finished chunks are kept: the same command resumes where it stopped"


def _extract_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="video file, frame folder, or a dataset folder (with --dataset)")
    p.add_argument("-o", "--output", required=True,
                   help="output .npz for one video; output folder (one <video_id>.npz each) with --dataset")
    p.add_argument("--rois", default="metst", help="ROI set: metst (5 ROIs, 10 channels), metst_plus (18 ROIs, "
                                                   "36 channels), a user set name or a .json path")
    p.add_argument("--window", "-k", type=int, default=50, help="window length k in frames after skip (even; 50 for "
                                                               "30 fps, 30 for SAMM-LV with skip 7)")
    p.add_argument("--skip", "-s", type=int, default=1, help="keep every s-th frame (SAMM-LV: 7)")
    p.add_argument("--fps", type=float, default=None, help="capture rate, for frame folders (default 30)")
    p.add_argument("--fill-gaps", action="store_true", help="frame folders: serve a missing number with the next "
                                                            "file (public ME-TST behaviour) instead of failing")
    p.add_argument("--dataset", action="store_true", help="INPUT is a folder of videos / frame folders")
    p.add_argument("--workers", type=int, default=None, help="one video: walkers over its windows (this process and "
                                                             "N-1 worker processes); dataset: processes, one video "
                                                             "each; default: one per core")
    _alignment_arg(p, DEFAULT_ALIGNMENT)
    p.add_argument("--no-align", action="store_true", help="do not shift the crop box with the head")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the feature cache")
    p.add_argument("--cache-dir", default=None, help="feature cache folder (default: user cache dir, or $METST_CACHE_DIR)")
    _executor_args(p, "the videos of --dataset")


@verb("extract", "windowed optical-flow features per ROI (.npz)", """examples:
  metst extract interview.mp4 --rois metst_plus -o interview.npz
  metst extract CASME3/data/spNO.1/a/color --rois metst -k 50 -o spNO.1_a.npz
  metst extract SAMM_longvideos --dataset --skip 7 --window 30 --fps 200 -o features/
  metst extract /shared/CASME3/data --dataset --executor ray --ray-address auto -o features/
""")(_extract_args)
def _extract(a: argparse.Namespace) -> int:
    from .extraction import (  # lazy: cv2, av
        discover_videos,
        extract_dataset,
        extract_video,
    )
    from .features import ExtractParams  # lazy: cv2, av
    from .progress import progress_bar  # lazy: tqdm (startup)

    params = ExtractParams(rois=a.rois, window=a.window, skip=a.skip, alignment=a.alignment, align=not a.no_align)
    try:
        params.validate()
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    from .rois import load_roi_set  # lazy: cv2

    load_roi_set(a.rois)  # a bad set fails before any video is opened
    if not a.dataset and (a.executor != "local" or a.ray_address):
        raise UsageError("--executor ray runs the videos of --dataset; give --dataset")
    if a.dataset:
        root = Path(a.input)
        if not root.is_dir():
            raise UsageError(f"{root}: --dataset needs a folder")
        items = discover_videos(root)
        if a.fps:
            items = [type(it)(it.video_id, it.path, a.fps) for it in items]
        if not items:
            raise MetstError(f"{root}: no videos or frame folders found")
        log.info("extracting %d videos from %s", len(items), root)
        workers = max(1, min(a.workers or os.cpu_count() or 1, len(items)))
        # local: extract_dataset's own persistent pool (each worker loads its landmark model once)
        where = nullcontext(None) if a.executor == "local" else _executor(a, workers)
        with where as executor, progress_bar(len(items), "videos") as bar:
            def done(res):  # type: ignore[no-untyped-def]
                if res.error:
                    log.error("error: %s: %s", res.video_id, res.error)
                bar(1)
            results = extract_dataset(items, params, a.output, use_cache=not a.no_cache, cache_dir=a.cache_dir,
                                      fill_gaps=a.fill_gaps, on_done=done, processes=workers, executor=executor)
        summary = [{"video": r.video_id, "output": str(r.output) if r.output else None,
                    "n_windows": r.n_windows, "error": r.error} for r in results]
        json.dump(summary, sys.stdout, indent=1)
        sys.stdout.write("\n")
        failed = [r for r in results if r.error]
        if failed:
            log.error("error: %d of %d videos failed (listed above)", len(failed), len(results))
            return 1
        return 0
    with cancel_on_signals() as stop, progress_bar(None, "windows") as bar:
        try:
            feats = extract_video(a.input, params, fps=a.fps, fill_gaps=a.fill_gaps, use_cache=not a.no_cache,
                                  cache_dir=a.cache_dir, workers=a.workers or os.cpu_count() or 1,
                                  progress=lambda d, n: bar.update_to(d, n), cancel=stop.is_set)
        except Cancelled:
            raise Cancelled(_resume_hint(a.input, a.no_cache)) from None
    out = feats.save(a.output)
    json.dump({"output": str(out), "n_windows": feats.n_windows, "channels": len(feats.channel_names),
               "k": feats.k, "skip": feats.skip, "fps": feats.fps, "n_frames": feats.n_frames,
               "windows_without_face": int((~feats.face_ok).sum())}, sys.stdout)
    sys.stdout.write("\n")
    return 0


# ----------------------------------------------------------------------------- info
def _info_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="video file or frame folder")
    p.add_argument("--fps", type=float, default=None)
    p.add_argument("--validate", action="store_true", help="decode every frame and report how many are usable")


@verb("info", "frame count, fps and size of a video or frame folder (JSON)", """examples:
  metst info interview.mp4
  metst info CASME3/data/spNO.1/a/color --fps 30 --validate
""")(_info_args)
def _info(a: argparse.Namespace) -> int:
    from .video import open_video  # lazy: cv2, av

    with open_video(a.input, fps=a.fps) as v:
        info = {"path": str(v.path), "n_frames": v.n_frames, "fps": v.fps, "fps_declared": v.fps_declared,
                "fps_measured": v.fps_measured, "width": v.size[0], "height": v.size[1],
                "duration_s": float(v.timestamps[-1]) if v.n_frames else 0.0}
        if a.validate:
            info["usable_frames"] = v.validate()
    json.dump(info, sys.stdout)
    sys.stdout.write("\n")
    return 0


# ----------------------------------------------------------------------------- rois
def _rois_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", nargs="?", help="show one set's ROIs and channels")


@verb("rois", "list the ROI sets, or show one", """examples:
  metst rois
  metst rois metst_plus
""")(_rois_args)
def _rois(a: argparse.Namespace) -> int:
    from .rois import available_roi_sets, load_roi_set  # lazy: cv2

    if a.name is None:
        for name in available_roi_sets():
            s = load_roi_set(name)
            print(f"{name}\t{len(s.rois)} ROIs, {s.n_channels} channels\t{s.source}")
        return 0
    s = load_roi_set(a.name)
    print(json.dumps({"name": s.name, "description": s.description, "channels": s.channel_names,
                      "rois": [{"name": r.name, "group": r.group, "granularity": r.granularity,
                                "landmarks": list(r.landmarks), "region": r.region} for r in s.rois]}, indent=1))
    return 0


# ----------------------------------------------------------------------------- synth
def _synth_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("out_dir", metavar="OUT_DIR", help="output folder: <subject>/<video>.mp4, manifest.csv, synth.json")
    p.add_argument("--subjects", type=int, default=3, help="photo variants, each a subject (odd ones mirrored)")
    p.add_argument("--videos-per-subject", type=int, default=2)
    p.add_argument("--seconds", type=float, default=20.0, help="length of each video")
    p.add_argument("--seed", type=int, default=0, help="same seed, same videos and manifest")
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--size", type=int, default=320, help="frame side in pixels (even)")
    p.add_argument("--varied", action="store_true",
                   help="the spotter benchmark's harder mix (faint to clear MEs of 0.15-0.5 s, MEs inside or next "
                        "to macro-expressions, blinks up to 0.35 s, more noise, drift and a small head roll); "
                        "the options below override it")
    p.add_argument("--me-per-minute", type=float, default=None, help="mean micro-expression rate")
    p.add_argument("--me-seconds", type=float, nargs=2, default=None, metavar=("LOW", "HIGH"),
                   help="ME duration range in seconds")
    p.add_argument("--me-amplitude", type=float, nargs=2, default=None, metavar=("LOW", "HIGH"),
                   help="ME peak displacement range, px of a 320 frame")
    p.add_argument("--macro-per-minute", type=float, default=None, help="macro-expression rate")
    p.add_argument("--blink-per-minute", type=float, default=None, help="blink rate")
    p.add_argument("--blink-seconds", type=float, nargs=2, default=None, metavar=("LOW", "HIGH"),
                   help="blink duration range in seconds")
    p.add_argument("--blink-lower-lid", type=float, default=None,
                   help="lower-lid rise in a blink, fraction of the eye opening (0: upper lids only)")
    p.add_argument("--me-near-macro", type=float, default=None,
                   help="chance that a macro-expression carries an extra ME in another face region, inside it "
                        "or next to it")
    p.add_argument("--noise", type=float, default=None, help="sensor noise sigma in grey levels")
    p.add_argument("--drift", type=float, default=None, help="peak head drift per axis, px of a 320 frame")
    p.add_argument("--rotation", type=float, default=None, help="peak head roll in degrees")
    p.add_argument("--no-blinks", action="store_true", help="no blink distractors")
    p.add_argument("--no-macros", action="store_true", help="no macro-expressions")
    p.add_argument("--overwrite", action="store_true", help="write into a non-empty OUT_DIR")


#: ``metst synth`` options that override a SynthConfig field when given.
_SYNTH_OVERRIDES = {"me_per_minute": "me_per_minute", "me_seconds": "me_seconds", "me_amplitude": "me_amplitude",
                    "macro_per_minute": "macro_per_minute", "blink_per_minute": "blink_per_minute",
                    "blink_seconds": "blink_seconds", "blink_lower_lid": "blink_lower_lid", "me_near_macro": "me_near_macro", "noise": "noise_sigma",
                    "drift": "drift_px", "rotation": "rotation_deg"}


@verb("synth", "generate face videos with known micro-expressions and a manifest (tests, demos, benchmarks)",
      """examples:
  metst synth synth_set --subjects 3 --videos-per-subject 2 --seconds 20 --seed 0
  metst synth tiny --subjects 1 --videos-per-subject 1 --seconds 6 --no-blinks --no-macros
""")(_synth_args)
def _synth(a: argparse.Namespace) -> int:
    from .progress import progress_bar  # lazy: tqdm (startup)
    from .synth import SynthConfig, generate  # lazy: cv2

    given = {field: tuple(v) if isinstance(v, list) else v
             for opt, field in _SYNTH_OVERRIDES.items() if (v := getattr(a, opt)) is not None}
    try:
        cfg = (SynthConfig.varied if a.varied else SynthConfig)(
            subjects=a.subjects, videos_per_subject=a.videos_per_subject, seconds=a.seconds, fps=a.fps, size=a.size,
            seed=a.seed, blinks=not a.no_blinks, macros=not a.no_macros, **given)
        cfg.validate()
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    out = Path(a.out_dir)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not a.overwrite:
        raise UsageError(f"{out}: folder is not empty (use --overwrite)")
    log.info("generating %d videos of %g s in %s", cfg.subjects * cfg.videos_per_subject, cfg.seconds, out)
    with progress_bar(cfg.subjects * cfg.videos_per_subject, "videos") as bar:
        ds = generate(out, cfg, progress=lambda d, n: bar.update_to(d, n))
    counts = {"micro": 0, "macro": 0, "blink": 0}      # blinks are in synth.json only (unlabelled)
    for v in json.loads((out / "synth.json").read_text(encoding="utf-8"))["videos"]:
        for ev in v["events"]:
            counts[ev["kind"]] = counts.get(ev["kind"], 0) + 1
    json.dump({"manifest": str(out / "manifest.csv"), "params": str(out / "synth.json"), "n_videos": len(ds.videos),
               "n_subjects": len(ds.subjects()), "n_frames_per_video": cfg.n_frames, "fps": cfg.fps,
               "events": counts}, sys.stdout)
    sys.stdout.write("\n")
    return 0


# ----------------------------------------------------------------------------- demo
def _demo_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", default=None, help="where to write the demo features (default: a temp folder)")


@verb("demo", "extract features from the bundled demo video and summarise the strongest motions", """examples:
  metst demo
""")(_demo_args)
def _demo(a: argparse.Namespace) -> int:
    import tempfile

    import numpy as np

    from .analysis import SPOTTER_ALIGNMENT  # lazy: cv2, av
    from .extraction import extract_video  # lazy: cv2, av
    from .features import ExtractParams  # lazy: cv2, av
    from .progress import progress_bar  # lazy: tqdm (startup)

    video = resource_path("demo", "demo_face.mp4")
    out = Path(a.output or tempfile.mkdtemp(prefix="metst-demo-")) / "demo_face.npz"
    with progress_bar(None, "windows") as bar:
        feats = extract_video(Path(str(video)), ExtractParams(rois="metst_plus", window=30, alignment=SPOTTER_ALIGNMENT),
                              use_cache=False,
                              progress=lambda d, n: bar.update_to(d, n))
    feats.save(out)
    mag = np.hypot(feats.features[:, 0::2], feats.features[:, 1::2])       # (windows, rois, k)
    peak = mag.max(axis=(0, 2))
    names = [n[:-2] for n in feats.channel_names[0::2]]
    print(f"demo video: {video}\nfeatures:   {out}  ({feats.n_windows} windows x {len(feats.channel_names)} channels x k={feats.k})")
    print("strongest ROI motions (crop px, relative to the nose):")
    for i in np.argsort(peak)[::-1][:6]:
        w, t = np.unravel_index(mag[:, i].argmax(), mag[:, i].shape)
        frame = int(feats.starts[w] + t * feats.skip)
        print(f"  {names[i]:16s} {peak[i]:5.2f} px at frame {frame} ({frame / feats.fps:.2f} s)")
    return 0


# ----------------------------------------------------------------------------- train
def _train_args(p: argparse.ArgumentParser) -> None:
    add_train_config_arguments(p)
    p.add_argument("--loso", action="store_true", help="leave-one-subject-out (the only protocol; required)")
    p.add_argument("-o", "--output", required=True, metavar="RUN_DIR",
                   help="run folder: config.json, progress.jsonl, folds/<subject>/, metrics.json, final/")
    p.add_argument("--resume", action="store_true", help="continue RUN_DIR at the first fold without metrics.json")
    p.add_argument("--workers", type=int, default=1,
                   help="local: folds run at once, each in its own process (default 1: one after the other in "
                        "this process, with live progress)")
    _executor_args(p, "the videos' extraction and the folds")


@verb("train", "train ME-TST / ME-TST+ leave-one-subject-out, evaluate each fold, then a final model", """examples:
  metst synth synth_set --subjects 3 --videos-per-subject 1 --seconds 10
  metst train --dataset synth_set --model metst --loso -o runs/synth --window 30 --epochs 5 --batch 32
  metst train --dataset samm_lv.csv --model metst_plus --loso -o runs/samm --window 30 --skip 7 --batch 32 --ratio 0.5
  metst train --dataset synth_set --model metst --loso -o runs/synth --resume
  metst train --dataset /shared/synth_set --model metst --loso -o runs/synth --executor ray --ray-address auto
""")(_train_args)
def _train(a: argparse.Namespace) -> int:
    from .training import run_loso  # lazy: torch

    if not a.loso:
        raise UsageError("give --loso: leave-one-subject-out is the only training protocol")
    try:
        cfg = TrainConfig.from_args(a)
        cfg.resolved().validate()
    except ValueError as exc:
        raise UsageError(str(exc)) from None

    def report(e: dict) -> None:
        ev = e.get("event")
        if ev == "epoch":
            log.info("fold %s epoch %d/%d loss %.4f", e["fold"], e["epoch"], e.get("epochs", 0), e["losses"]["loss"])
        elif ev == "fold_end":
            m = e["metrics"]
            log.info("fold %s: spotting F1 %.3f, STRS %.3f", e["fold"], m["f1"], m["strs"])
        elif ev in ("fold_skipped", "final_start", "final_end", "extract"):
            log.info("%s %s", ev, e.get("fold") or e.get("video") or "")
        elif ev in ("fold_failed", "final_failed"):
            log.error("error: %s %s failed: %s", "fold" if ev == "fold_failed" else "model", e["fold"], e["error"])

    if a.workers < 1:
        raise UsageError(f"--workers must be >= 1, got {a.workers}")
    with cancel_on_signals() as stop, _executor(a, a.workers) as executor:
        try:
            out = run_loso(cfg, a.output, progress=report, cancel=stop.is_set, resume=a.resume, executor=executor)
        except Cancelled:
            raise Cancelled(f"{a.output}: training cancelled; finished folds are kept, continue with --resume") from None
    json.dump({k: v for k, v in out.items() if k != "per_subject"} | {"run_dir": str(a.output)}, sys.stdout)
    sys.stdout.write("\n")
    return 0


# ----------------------------------------------------------------------------- import-weights
def _import_weights_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("weights", help="a published weight file (subject_<id>.pkl), or the folder of one dataset's "
                                   "files (ME-TST/weights/CASME_3_4emo)")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="file: the checkpoint to write (.safetensors); folder: the run folder to write")
    p.add_argument("--dataset", default=None, help="folder import: manifest CSV (or a folder holding manifest.csv) "
                                                   "of the dataset the weights were trained on; required")
    p.add_argument("--authors-dataset", choices=["casme3", "samm_lv"], default=None,
                   help="which dataset the weights are for (the authors' window and skip: casme3 k 50 skip 1, "
                        "samm_lv k 30 skip 7); default: from the folder name (CASME_3_4emo, SAMMLV_4emo)")
    p.add_argument("--k-prime", type=int, default=None,
                   help="file import: k' to store (frames after the skip; a folder import computes it per fold)")
    p.add_argument("--final", default="first", metavar="SUBJECT",
                   help="folder import: the fold model that stands in for final/ (\"Use this model\"; the authors "
                        "publish no all-subject model): first (default: the first subject), a subject, or none")
    p.add_argument("--strategy", choices=["none", "spotting_mainly", "result_synergy"], default="spotting_mainly",
                   help="folder import: inference strategy of the fold predictions (default: the authors' strategy 2)")
    p.add_argument("--recog-classes", nargs="+", default=None, help="folder import: classes scored")
    p.add_argument("--device", default="auto", help="auto (cuda when present), cpu, cuda, cuda:N")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--cache-dir", default=None, help="feature cache folder (default: metst's cache)")
    p.add_argument("--no-cache", action="store_true")
    p.add_argument("--resume", action="store_true", help="folder import: finish a stopped import into OUT")


@verb("import-weights", "import the authors' published ME-TST / ME-TST+ weights (all three layouts), never "
                        "unpickling code", """examples:
  metst import-weights ME-TST/weights/CASME_3_4emo/subject_1.pkl -o casme3_s1.safetensors
  metst import-weights ME-TST/weights/CASME_3_4emo --dataset casme3.csv -o runs/authors_casme3
  metst evaluate --gt casme3.csv --pred runs/authors_casme3/folds/*/predictions.csv --mode reference
""")(_import_weights_args)
def _import_weights(a: argparse.Namespace) -> int:
    from .models import import_public_metst, save_checkpoint  # lazy: torch

    src = Path(a.weights)
    if src.is_dir():
        from .public_import import FIRST, import_public_run  # lazy: torch

        if not a.dataset:
            raise UsageError("a folder of weights imports as a run: give --dataset (the manifest of its videos)")
        final = None if a.final == "none" else FIRST if a.final == "first" else a.final
        with cancel_on_signals() as stop:
            try:
                out = import_public_run(src, a.output, a.dataset, authors_dataset=a.authors_dataset, final=final,
                                        strategy=a.strategy, recog_classes=a.recog_classes, device=a.device,
                                        threads=a.threads, use_cache=not a.no_cache, cache_dir=a.cache_dir,
                                        resume=a.resume, cancel=stop.is_set)
            except Cancelled:
                raise Cancelled(f"{a.output}: import cancelled; finished folds are kept, continue with --resume") \
                    from None
        json.dump({k: v for k, v in out.items() if k != "per_subject"} | {"run_dir": str(a.output)}, sys.stdout)
    else:
        if a.dataset:
            raise UsageError("--dataset is for a folder of weights; a single file imports as one checkpoint")
        model, meta = import_public_metst(src, dataset=a.authors_dataset, k_prime=a.k_prime)
        save_checkpoint(a.output, model, meta)
        json.dump({"output": a.output, "model": meta.model, "config": meta.config, "roi_set": meta.roi_set,
                   "window": meta.window, "skip": meta.frame_skip, "k_prime": meta.k_prime}, sys.stdout)
    sys.stdout.write("\n")
    return 0


# ----------------------------------------------------------------------------- predict
def _predict_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="video file or frame folder")
    p.add_argument("-o", "--output", required=True, help="intervals CSV: subject,video,onset,apex,offset,emotion,score "
                                                        "(0-based inclusive source frames)")
    p.add_argument("--model", default=None, help="checkpoint (.safetensors), or one of the authors' published weight "
                                                 "files (weights/CASME_3_4emo/subject_<id>.pkl; give --k-prime); its "
                                                 "ROI set, window and skip are used. Without it the model-free "
                                                 "spotter runs (--rois/--window/--skip)")
    p.add_argument("--curves", default=None, help="also write per-frame curves (.npz, arrays of length n_frames, "
                                                  "NaN where no window covers a frame)")
    p.add_argument("--video-id", default=None, help="id written in the video column (default: the input's name)")
    p.add_argument("--subject", default="", help="subject written in the subject column")
    p.add_argument("--rois", default=None, help="ROI set for the features (model-free spotter; default metst_plus, "
                                                "whose lower eyelids tell blinks apart; metst for --spotter legacy)")
    p.add_argument("--spotter", choices=["evidence", "legacy"], default="evidence",
                   help="model-free spotter: evidence (per-region motion in noise units) or legacy (the earlier "
                        "raw-magnitude spotter, for comparison)")
    _alignment_arg(p, None, " (default: the checkpoint's; improved for the model-free spotter)")
    p.add_argument("--window", "-k", type=int, default=None,
                   help="model-free spotter: window k (default: the spotter's, "
                        f"{', '.join(f'{s.name} {s.window}' for s in SPOTTER_CATALOG.values())}); "
                        "a checkpoint uses its own")
    p.add_argument("--skip", "-s", type=int, default=1)
    p.add_argument("--fps", type=float, default=None)
    p.add_argument("--fill-gaps", action="store_true")
    p.add_argument("--floor", type=float, default=None, help="minimum peak height: the threshold in noise units "
                                                             "(model-free spotter; legacy: crop px) or spotting "
                                                             "probability (model)")
    p.add_argument("--k-prime", type=int, default=None, help="model: override the checkpoint's k' (frames after skip)")
    p.add_argument("-p", type=float, default=None, help="model: override the checkpoint's threshold fraction p")
    p.add_argument("--strategy", choices=["none", "spotting_mainly", "result_synergy"], default="spotting_mainly",
                   help="model: none (no emotions), spotting_mainly, result_synergy (drop neutral-majority spots)")
    p.add_argument("--device", default="cpu", help="model: torch device (cpu, cuda)")
    p.add_argument("--force-fps", action="store_true", help="model: run even when the video's fps is more than 10%% "
                                                            "off the checkpoint's step rate")
    p.add_argument("--no-cache", action="store_true")
    p.add_argument("--one-based", action="store_true", help="count frames from 1 in the CSV (for sheets that do); "
                                                            "read it back with evaluate --one-based")


@verb("predict", "spot micro-expression intervals in a video (CSV)", """examples:
  metst predict interview.mp4 -o interview.csv --curves interview_curves.npz
  metst predict CASME3/data/spNO.1/a/color --video-id spNO.1_a --subject spNO.1 -o spNO.1_a.csv
""")(_predict_args)
def _predict(a: argparse.Namespace) -> int:
    from .analysis import LEGACY, spot_video  # lazy: cv2, av
    from .baseline import BaselineParams  # lazy: scipy, pandas
    from .baseline_legacy import LegacyParams  # lazy: scipy
    from .inference import InferenceOptions  # lazy: torch
    from .progress import progress_bar  # lazy: tqdm (startup)
    from .spotting import BaselineSpotter, make_spotter  # lazy: cv2, av, torch

    video_id = check_id(a.video_id or Path(a.input.rstrip("/")).stem, "video id", a.input,
                        fix="pass another one with --video-id")
    try:
        a.subject.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(f"--subject {a.subject!r} is not valid UTF-8 text") from None
    if a.k_prime is not None and not 1 <= a.k_prime <= 100000:
        raise UsageError(f"--k-prime must be a whole number in [1, 100000], got {a.k_prime}")
    if a.p is not None and not 0.0 <= a.p <= 1.0:
        raise UsageError(f"-p must be a fraction in [0, 1], got {a.p}")
    if a.floor is not None and not 0.0 <= a.floor < math.inf:
        raise UsageError(f"--floor must be a finite number >= 0, got {a.floor}")
    spotter_params: BaselineParams | LegacyParams
    if a.spotter == LEGACY:
        spotter_params = LegacyParams() if a.floor is None else LegacyParams(floor=a.floor)
    else:
        spotter_params = BaselineParams() if a.floor is None else BaselineParams(threshold=a.floor)
        try:
            spotter_params.validate()
        except ValueError as exc:
            raise UsageError(f"--floor: {exc}") from None
    opts = InferenceOptions(k_prime=a.k_prime, p=a.p, floor=a.floor or 0.0, strategy=a.strategy, device=a.device,
                            force_fps=a.force_fps)
    if not a.model:
        try:
            BaselineSpotter(spotter_params, rois=a.rois, window=a.window, skip=a.skip,
                            alignment=a.alignment).features.validate()
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    spotter = make_spotter(a.model, alignment=a.alignment, options=opts, params=spotter_params, rois=a.rois,
                           window=a.window, skip=a.skip)
    with cancel_on_signals() as stop, progress_bar(None, "windows") as bar:
        try:
            found = spot_video(a.input, spotter, fps=a.fps, fill_gaps=a.fill_gaps, use_cache=not a.no_cache,
                               workers=os.cpu_count() or 1, progress=lambda d, n: bar.update_to(d, n),
                               cancel=stop.is_set)
        except Cancelled:
            raise Cancelled(_resume_hint(a.input, a.no_cache)) from None
    write_predictions(a.output, [(a.subject, video_id, iv) for iv in found.intervals], one_based=a.one_based)
    if a.curves:
        found.curves.save(a.curves)
    summary = {"output": a.output, "video": video_id, "intervals": len(found.intervals),
               "predictor": spotter.predictor}
    if not a.model:
        summary |= {"spotter": found.params["spotter"], "threshold": found.params["threshold"]}
    if a.model:
        summary |= {"skip": found.params["skip"], "k_prime": found.params["k_prime"]}
    json.dump(summary, sys.stdout)
    sys.stdout.write("\n")
    return 0


# ----------------------------------------------------------------------------- evaluate
def _evaluate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--gt", required=True, help="ground truth: a manifest CSV (subject,video,path,fps,onset,apex,"
                                               "offset,type,emotion,raw_emotion)")
    p.add_argument("--pred", required=True, nargs="+", help="one or more predict CSVs")
    p.add_argument("--mode", choices=["megc", "reference", "reference-2024"], default="megc",
                   help="megc: one-to-one matching; reference: count as the public ME-TST+ code (2025) does; "
                        "reference-2024: as the 2024 ME-TST code (a placeholder [0, 0] for a video without spots)")
    p.add_argument("--skip", type=int, default=1, help="reference mode scores in frames after this skip")
    p.add_argument("--recog-classes", nargs="+", default=["negative", "positive", "surprise"])
    p.add_argument("--iou", type=float, default=0.5)
    p.add_argument("--per-subject", action="store_true", help="add per-subject rows")
    p.add_argument("--one-based", action="store_true", help="the prediction CSVs count frames from 1 "
                                                            "(predict --one-based); the manifest stays 0-based")


@verb("evaluate", "MEGC spotting and recognition metrics of predictions against ground truth (JSON)", """examples:
  metst evaluate --gt manifest.csv --pred preds/*.csv
  metst evaluate --gt manifest.csv --pred all.csv --mode reference --skip 7 --recog-classes negative positive surprise
""")(_evaluate_args)
def _evaluate(a: argparse.Namespace) -> int:
    from .evaluation import cases_from_videos, evaluate  # lazy: scipy

    if not 0.0 < a.iou <= 1.0:
        raise UsageError(f"--iou must be in (0, 1], got {a.iou}")
    if a.skip < 1:
        raise UsageError(f"--skip must be >= 1, got {a.skip}")
    gt = load_manifest(a.gt)
    preds = read_predictions(a.pred, one_based=a.one_based)
    known = {v.video for v in gt.videos}
    unknown = sorted(set(preds) - known)
    if unknown:
        raise MetstError(f"{a.pred[0]}: predictions for videos not in {a.gt}: {', '.join(unknown[:5])}")
    mode = {"reference": "metst_code", "reference-2024": "metst_code_2024"}.get(a.mode, "megc")
    skip = a.skip if mode != "megc" else 1
    if skip > 1:   # the reference counter works in frames after the skip
        preds = {v: [Interval(onset=i.onset // skip, offset=i.offset // skip,
                              apex=None if i.apex is None else i.apex // skip, emotion=i.emotion, score=i.score)
                     for i in ivs] for v, ivs in preds.items()}
    cases = cases_from_videos(gt.videos, preds, skip=skip)
    res = evaluate(cases, mode=mode, iou_threshold=a.iou, classes=tuple(a.recog_classes))
    out = res.summary()
    if a.per_subject:
        subject_of = {v.video: v.subject for v in gt.videos}
        rows = {}
        for subj in sorted(set(subject_of.values())):
            sub = [c for c in cases_from_videos([v for v in gt.videos if v.subject == subj],
                                                {k: v for k, v in preds.items() if subject_of.get(k) == subj}, skip=skip)]
            rows[subj] = evaluate(sub, mode=mode, iou_threshold=a.iou, classes=tuple(a.recog_classes)).summary()
        out["per_subject"] = rows
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")
    return 0


# ----------------------------------------------------------------------------- project, manifest
# light: the loaders and the store themselves are imported when the verb runs
from .datasets import cli as _datasets_cli
from .project import cli as _project_cli

verb("project", "review projects: create, add videos, import, export, stats, agreement (one SQLite file each)",
     _project_cli.EPILOG)(_project_cli.setup)(_project_cli.run)
verb("manifest", "a public dataset as shipped (CAS(ME)^3, SAMM-LV, CAS(ME)^2) -> a manifest CSV (summary as JSON)",
     _datasets_cli.EPILOG)(_datasets_cli.setup)(_datasets_cli.run)


# ----------------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="metst", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="metst: micro-expression spotting and recognition (ME-TST / ME-TST+).",
        epilog="examples:\n  metst extract interview.mp4 --rois metst_plus -o interview.npz\n"
               "  metst info interview.mp4\n  metst <verb> --help   (every verb has examples)")
    parser.add_argument("--version", action="version", version=f"metst {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser.add_argument("-q", "--quiet", action="store_true", help="only errors on stderr")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for name, (help_text, epilog, setup, _) in VERBS.items():
        p = sub.add_parser(name, help=help_text, description=help_text, epilog=epilog,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        setup(p)
    return parser


def _error(text: str) -> None:
    """One line on stderr, whatever it holds (newlines, control characters and a file name's
    undecodable bytes are shown escaped)."""
    line = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)     # one line: \n shown as \\n
    print(line.encode("utf-8", "backslashreplace").decode("utf-8"), file=sys.stderr)


def _stdout_closed() -> int:
    """The reader of stdout went away (``metst project stats | head``): stop quietly, as Python's
    documentation of SIGPIPE advises: point stdout at devnull so the flush at exit cannot fail
    again, and exit 1 (the output is incomplete) without a traceback."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):      # no real stdout (captured): nothing is left to flush
        pass
    return 1


def main(argv: list[str] | None = None) -> int:
    """Run one verb; the exit code (see the module's docstring)."""
    keep_freed_memory()
    try:
        try:
            return _main(argv)
        finally:
            sys.stdout.flush()      # a reader that closed early shows here, not at the exit
    except BrokenPipeError:
        return _stdout_closed()


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.DEBUG if args.debug else logging.ERROR if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(message)s", stream=sys.stderr)
    if not args.verb:
        parser.print_help(sys.stderr)
        return 2
    _, _, _, run = VERBS[args.verb]
    try:
        return run(args)
    except BrokenPipeError:
        raise                       # stdout's reader went away: main() ends quietly
    except UsageError as exc:
        _error(f"error: {exc}")
        return 2
    except Cancelled as exc:
        _error(f"error: {exc}")
        return EXIT_CANCELLED
    except MetstError as exc:
        if args.debug:
            traceback.print_exc()
        _error(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: say so in one line, traceback on request
        if args.debug:
            traceback.print_exc()
        _error(f"error: internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)")
        return 3


if __name__ == "__main__":
    sys.exit(main())
