"""``metst project ACTION``: the project store from the command line, so a researcher can script it.

Registered by :mod:`metst_engine.cli` as the verb ``project``; every action prints JSON to
stdout and fails with the CLI's one-line ``error: <file>: <problem>``.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from metst_engine.alignment import ALIGNMENTS
from metst_engine.datasets.formats import GROUND_TRUTH_FORMATS, load_dataset
from metst_engine.errors import InputError, PendingIntervalsError, UsageError
from metst_engine.progress_signals import cancel_on_signals
from metst_engine.project.core import db_path
from metst_engine.project.recovery import damaged
from metst_engine.project.store import Project
from metst_engine.project.videos import videos_to_add

EPILOG = """examples:
  metst project create interviews
  metst project add interviews videos/p01_a.mp4 videos/p01_b.mp4 --subject p01
  metst project add interviews recordings/          # p01/a.mp4, p02/b.mp4 ...: subjects p01, p02
  metst project import interviews --predictions preds/p01_a.csv --predictor baseline
  metst project import interviews --ground-truth casme3 /data/CASME3
  metst project import interviews --ground-truth casme2 /data/CASME2 --sheet "/data/CAS(ME)^2code_final.xlsx"
  metst project import interviews --ground-truth manifest synth/manifest.csv
  metst project complete interviews p01_a                      # refused while intervals are pending
  metst project complete interviews p01_a --reject-pending     # rejects the pending ones, then completes
  metst project export interviews -o labels.csv                # MEGC-style CSV (also .xlsx)
  metst project export interviews -o p01_a.eaf --video p01_a   # ELAN, one tier per annotator (+ rejected)
  metst project export interviews -o train.csv --format manifest --include-ground-truth
  metst project analyze interviews                             # spot every video, import the proposals
  metst project analyze interviews p01_a --model runs/synth/final/model.safetensors
  metst project stats interviews
  metst project agreement interviews alice bob
  metst project restore interviews                             # put back the newest automatic backup
"""



def setup(p: argparse.ArgumentParser) -> None:
    p.add_argument("--annotator", default=None, help="name recorded on edits (default: the login name)")
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    a = sub.add_parser("create", help="make a new project folder")
    a.add_argument("project", help="project folder")
    a = sub.add_parser("add", help="add videos (files, frame folders, or folders searched for them)")
    a.add_argument("project")
    a.add_argument("videos", nargs="+")
    a.add_argument("--subject", default=None,
                   help="subject of every video (default: the name of the folder holding each video)")
    a.add_argument("--video-id", default=None, help="video id (only with one video; default: the file's stem)")
    a.add_argument("--fps", type=float, default=None, help="capture rate (frame folders; overrides the header)")
    a = sub.add_parser("import", help="import predictions, ground truth or an exported CSV")
    a.add_argument("project")
    what = a.add_mutually_exclusive_group(required=True)
    what.add_argument("--predictions", nargs="+", metavar="CSV", help="'metst predict' CSVs, one run each")
    what.add_argument("--ground-truth", nargs=2, metavar=("FORMAT", "PATH"),
                      help=f"FORMAT one of {', '.join(GROUND_TRUTH_FORMATS)}; PATH a manifest CSV or dataset root")
    what.add_argument("--intervals", metavar="CSV", help="a CSV written by 'metst project export'")
    a.add_argument("--sheet", default=None, metavar="PATH",
                   help="--ground-truth casme3/samm_lv/casme2: the label sheet (.xlsx, or a CSV export of it), "
                        "when it is not the default file in PATH (casme3_label.xlsx, "
                        "SAMM_LongVideos_V3_Release.xlsx, code_final.xlsx)")
    a.add_argument("--emotion-sheet", default=None, metavar="PATH",
                   help="--ground-truth samm_lv: the FACS-codes sheet with the emotions "
                        "(default SAMM_Micro_FACS_Codes_v2.xlsx in PATH)")
    a.add_argument("--predictor", default="metst predict", help="name of the predictor or checkpoint")
    a.add_argument("--params", default=None, metavar="JSON", help='run parameters, e.g. \'{"threshold": 0.4}\'')
    a.add_argument("--one-based", action="store_true",
                   help="--predictions: the CSVs count frames from 1 (as 'metst predict --one-based' writes them)")
    a.add_argument("--keep-untouched", action="store_true",
                   help="keep earlier untouched predictions of the videos (default: replace them)")
    a = sub.add_parser("export", help="export intervals: csv, xlsx, eaf, or a training manifest")
    a.add_argument("project")
    a.add_argument("-o", "--output", required=True)
    a.add_argument("--format", choices=["csv", "xlsx", "eaf", "manifest"], default=None,
                   help="default: from the output's suffix (.csv, .xlsx, .eaf)")
    a.add_argument("--video", default=None, help="one video (required for eaf)")
    a.add_argument("--tiers", choices=["annotator", "state"], default="annotator", help="eaf: one tier per ...")
    a.add_argument("--rejected", choices=["tier", "omit"], default="tier",
                   help="eaf: rejected intervals in their own tier 'rejected proposals' (default) or left out")
    a.add_argument("--include-ground-truth", action="store_true", help="manifest: merge imported ground truth")
    a = sub.add_parser("analyze", help="extract and spot videos (default: all), import the proposals and "
                                       "curves as one prediction run; Ctrl-C cancels, importing nothing")
    a.add_argument("project")
    a.add_argument("videos", nargs="*", metavar="VIDEO", help="video ids (default: every video of the project)")
    a.add_argument("--model", default=None, metavar="CKPT",
                   help="checkpoint (.safetensors); default: the model-free spotter")
    a.add_argument("--alignment", choices=ALIGNMENTS, default=None,
                   help="how the face crop follows the head (default: the checkpoint's; improved for the "
                        "model-free spotter)")
    a.add_argument("--no-cache", action="store_true", help="recompute the features (default: reuse the cache)")
    a = sub.add_parser("stats", help="review progress per video and subject, missing videos (JSON)")
    a.add_argument("project")
    a = sub.add_parser("complete", help="mark a video's review complete (or --reopen it); refused while "
                                        "intervals are pending")
    a.add_argument("project")
    a.add_argument("video")
    what = a.add_mutually_exclusive_group()
    what.add_argument("--reopen", action="store_true")
    what.add_argument("--reject-pending", action="store_true",
                      help="reject the video's pending intervals first (one edit), then mark it complete")
    a = sub.add_parser("relocate", help="point a moved video at its new path (content must match)")
    a.add_argument("project")
    a.add_argument("video")
    a.add_argument("new_path")
    a.add_argument("--force", action="store_true", help="accept a file whose content differs")
    a = sub.add_parser("agreement", help="Cohen's kappa (per frame) and event F1 between two annotators")
    a.add_argument("project")
    a.add_argument("annotator_a")
    a.add_argument("annotator_b")
    a.add_argument("--video", default=None)
    a = sub.add_parser("restore", help="replace a damaged database by an automatic backup (backups/)")
    a.add_argument("project")
    a.add_argument("--backup", default=None, help="the backup file to use (default: the newest)")


#: Actions that only read: they open the project read-only (a read-only folder or another editor is fine).
READ_ONLY_ACTIONS = ("stats", "agreement", "export")


def _print(obj: Any) -> None:
    json.dump(obj, sys.stdout, default=str)
    sys.stdout.write("\n")


def _load_ground_truth(a: argparse.Namespace) -> Any:
    fmt, path = a.ground_truth
    try:
        return load_dataset(fmt, path, sheet=a.sheet, emotion_sheet=a.emotion_sheet)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def run(a: argparse.Namespace) -> int:
    try:
        return _run(a)
    except sqlite3.DatabaseError as exc:
        if type(exc) is not sqlite3.DatabaseError:      # integrity / programming errors are bugs
            raise
        raise damaged(db_path(a.project), str(exc)) from None


def _run(a: argparse.Namespace) -> int:
    if a.action == "create":
        with Project.create(a.project, annotator=a.annotator) as p:
            _print({"project": str(p.folder), "database": str(p.db_path)})
        return 0
    if a.action == "restore":
        used, kept = Project.restore_backup(a.project, a.backup)
        with Project.open(a.project, read_only=True) as p:
            _print({"project": str(p.folder), "restored_from": str(used), "damaged_copy": kept and str(kept),
                    "videos": len(p.videos())})
        return 0
    with Project.open(a.project, read_only=a.action in READ_ONLY_ACTIONS or None,
                      annotator=a.annotator) as p:
        if p.read_only and a.action not in READ_ONLY_ACTIONS:
            raise InputError(p.db_path, f"cannot {a.action}: {p.read_only_reason or 'opened read-only'}")
        if a.action == "add":
            if a.video_id and len(a.videos) > 1:
                raise InputError(a.videos[1], "--video-id needs exactly one video")
            found = videos_to_add(a.videos)
            if a.video_id and len(found) > 1:
                raise InputError(a.videos[0], f"--video-id needs exactly one video; found {len(found)}")
            added = [p.add_video(v.path, v.subject if a.subject is None else a.subject,   # "" is refused, not inferred
                                 a.video_id or v.video_id, fps=a.fps) for v in found]
            _print([{"video": v.name, "subject": v.subject, "n_frames": v.n_frames, "fps": v.fps,
                     "path": v.stored_path} for v in added])
        elif a.action == "import":
            _print(_import(p, a))
        elif a.action == "export":
            _print(_export(p, a))
        elif a.action == "stats":
            _print({"videos": [asdict(v) for v in p.progress()], "subjects": [asdict(s) for s in p.subject_progress()],
                    "missing": [asdict(m) for m in p.missing_videos()], "notes": p.notes})
        elif a.action == "complete":
            _print(_complete(p, a))
        elif a.action == "analyze":
            _print(_analyze(p, a))
        elif a.action == "relocate":
            p.relocate_video(a.video, a.new_path, check_content=not a.force)
            _print({"video": a.video, "path": str(p.video(a.video).path)})
        elif a.action == "agreement":
            _print(p.agreement(a.annotator_a, a.annotator_b, a.video).to_dict())
    return 0


def _analyze(p: Any, a: argparse.Namespace) -> Any:
    """``analyze_into_project`` with a progress bar (time left) on stderr; SIGINT / SIGTERM cancel at
    the next window and nothing is imported (the features done so far stay in the cache)."""
    import os

    from metst_engine.analysis import analyze_into_project  # lazy: cv2, av
    from metst_engine.errors import Cancelled
    from metst_engine.progress import progress_bar  # lazy: tqdm
    from metst_engine.spotting import make_spotter  # lazy: torch

    videos = a.videos or [v.name for v in p.videos()]
    if not videos:
        raise InputError(p.db_path, "no videos to analyze: add some with 'metst project add'")
    for v in videos:
        p.video(v)                       # an unknown name fails here, before any work
    spotter = make_spotter(a.model, alignment=a.alignment)
    with cancel_on_signals() as stop, progress_bar(None, "windows") as bar:
        def progress(step: Any) -> None:
            bar.describe(f"{step.video} ({step.index + 1}/{step.count})")
            if step.total:
                bar.update_to(step.done, step.total)
        try:
            result = analyze_into_project(p, videos, spotter, progress=progress, cancel=stop.is_set,
                                          use_cache=not a.no_cache, workers=os.cpu_count() or 1)
        except Cancelled:
            kept = ("" if a.no_cache else " (the finished chunks are kept in the feature cache: the same command "
                                           "resumes there)")
            raise Cancelled(f"{p.folder}: analyze cancelled; nothing imported{kept}") from None
    return {"run": result.run_id, "videos": videos, "predictor": spotter.predictor, "added": result.added,
            "replaced": result.replaced, "skipped": result.skipped}


def _import(p: Any, a: argparse.Namespace) -> Any:
    if (a.sheet or a.emotion_sheet) and not a.ground_truth:
        raise UsageError("--sheet and --emotion-sheet go with --ground-truth")
    if a.predictions:
        try:
            params = json.loads(a.params) if a.params else {}
        except ValueError as exc:
            raise InputError(None, f"--params: not JSON: {exc}") from None
        if not isinstance(params, dict):
            raise InputError(None, "--params: must be a JSON object")
        out = []
        for csv_path in a.predictions:
            r = p.import_predictions(csv_path, predictor=a.predictor, params=params,
                                     replace_untouched=not a.keep_untouched, one_based=a.one_based)
            out.append({"file": csv_path, "run": r.run_id, "added": r.added, "replaced": r.replaced,
                        "skipped": r.skipped})
        return out
    if a.ground_truth:
        ds = _load_ground_truth(a)
        r = p.import_ground_truth(ds)
        return {"dataset": ds.name, "added": r.added, "skipped": r.skipped, "labels": ds.label_summary(),
                "warnings": ds.messages()}
    r = p.import_intervals(a.intervals)
    return {"file": a.intervals, "added": r.added, "skipped": r.skipped}


def _complete(p: Any, a: argparse.Namespace) -> Any:
    """Mark complete (or reopen); pending intervals refuse it unless --reject-pending rejects them first."""
    rejected = 0
    if a.reject_pending:
        pending = p.intervals(a.video, states=["pending"])
        if pending:
            rejected = len(p.reject_pending(a.video).changes)
    try:
        p.set_complete(a.video, not a.reopen)
    except PendingIntervalsError as exc:
        raise PendingIntervalsError(exc.path, exc.video, exc.interval_ids,
                                    "review them (metst-gui, N = next pending), or run 'metst project complete "
                                    f"{a.project} {exc.video} --reject-pending' to reject them all") from None
    return {"video": a.video, "complete": not a.reopen, "rejected_pending": rejected}


def _export(p: Any, a: argparse.Namespace) -> Any:
    out = Path(a.output)
    fmt = a.format or {".csv": "csv", ".xlsx": "xlsx", ".eaf": "eaf"}.get(out.suffix.lower())
    if fmt is None:
        raise InputError(out, "cannot tell the format from the suffix; pass --format csv|xlsx|eaf|manifest")
    if fmt == "csv":
        p.export_csv(out, a.video)
    elif fmt == "xlsx":
        p.export_xlsx(out, a.video)
    elif fmt == "eaf":
        if a.video is None:
            raise InputError(out, "an ELAN file holds one video: pass --video")
        p.export_eaf(out, a.video, tiers=a.tiers, rejected=a.rejected)
    else:
        p.training_manifest(out, include_ground_truth=a.include_ground_truth)
        return {"output": str(out), "format": fmt, "left_out": p.training_exclusions()}
    return {"output": str(out), "format": fmt}
