"""Read a training run folder back as a report: its settings, which folds are done, and its metrics.

Front ends (the GUI's training panel, scripts) show runs through this module instead of
parsing the run folder themselves. MEGC metrics come from the files ``run_loso`` wrote;
the reference-compatible counting (the public ME-TST code's, ``evaluate(mode="metst_code")``)
is recomputed here from the folds' ``predictions.csv`` against the run's manifest, in
frames after the run's frame skip, exactly as ``metst evaluate --mode reference`` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .datasets import load_manifest
from .errors import InputError
from .intervals import Interval
from .intervals_io import read_predictions
from .runs.folder import RunFolder

#: Report modes: MEGC (what the run scored) and the public code's counting.
REPORT_MODES: tuple[str, ...] = ("megc", "reference")
#: Columns of every metrics row, in display order.
METRIC_KEYS: tuple[str, ...] = ("tp", "fp", "fn", "precision", "recall", "f1", "uf1", "uar", "recog_f1", "strs")


@dataclass
class RunReport:
    """What a run folder says about itself; ``pooled`` is None until the run has finished."""

    run_dir: Path
    config: dict[str, Any]                      #: the resolved TrainConfig (config.json "config")
    subjects: list[str]
    done_folds: list[str]                       #: subjects whose fold metrics.json exists
    per_subject: dict[str, dict[str, Any]]      #: metrics row per finished fold
    pooled: dict[str, Any] | None = None        #: RUN_DIR/metrics.json without per_subject
    confusion: dict[str, Any] | None = None     #: {rows, columns, matrix} of the pooled recognition
    final_checkpoint: Path | None = None
    mode: str = "megc"
    extra: dict[str, Any] = field(default_factory=dict)   #: config.json besides "config"

    @property
    def finished(self) -> bool:
        return self.pooled is not None

    def fold_checkpoint(self, subject: str) -> Path:
        return RunFolder(self.run_dir).fold_checkpoint(subject)


def is_run_folder(path: str | Path) -> bool:
    """A folder ``metst train`` has started (it writes config.json first)."""
    return RunFolder(path).is_run()


def read_run(run_dir: str | Path) -> RunReport:
    """The run's settings, finished folds and MEGC metrics, as far as the run got."""
    folder = RunFolder(run_dir)
    if not folder.is_run():
        raise InputError(folder.path, "not a training run folder (no config.json)")
    cfg_file = folder.read_settings()
    subjects = list(cfg_file.get("subjects", []))
    per_subject = {s: folder.read_fold_metrics(s) for s in subjects if folder.fold_done(s)}
    report = RunReport(run_dir=folder.path, config=dict(cfg_file.get("config", {})), subjects=subjects,
                       done_folds=[s for s in subjects if s in per_subject], per_subject=per_subject,
                       extra={k: v for k, v in cfg_file.items() if k != "config"})
    report.final_checkpoint = folder.final_checkpoint()
    if folder.finished():
        pooled = folder.read_metrics()
        report.per_subject = {**per_subject, **pooled.pop("per_subject", {})}
        report.confusion = pooled.pop("confusion", None)
        report.pooled = pooled
    return report


def manifest_of(report: RunReport) -> Path:
    """The run's dataset manifest (config "dataset": a CSV or a folder holding manifest.csv)."""
    p = Path(report.config.get("dataset", ""))
    if p.is_dir():
        p = p / "manifest.csv"
    if not p.is_file():
        raise InputError(p, "the run's dataset manifest is not found (moved, or a path relative to another folder)")
    return p


def reference_report(report: RunReport, manifest: str | Path | None = None) -> RunReport:
    """The same run scored as the public ME-TST code counts (``metst evaluate --mode reference``):
    finished folds' predictions in frames after the run's skip, greedy matching, per subject and pooled."""
    from .evaluation import cases_from_videos, evaluate  # lazy: scipy
    from .models import read_checkpoint_meta  # lazy: torch

    if not report.done_folds:
        raise InputError(report.run_dir, "no finished fold to score yet")
    gt = load_manifest(manifest or manifest_of(report))
    skip = read_checkpoint_meta(report.fold_checkpoint(report.done_folds[0])).frame_skip
    classes = tuple(report.config.get("recog_classes") or ("negative", "positive", "surprise"))
    folder = RunFolder(report.run_dir)
    preds = read_predictions([folder.fold_predictions(s) for s in report.done_folds])
    preds = {v: [Interval(onset=i.onset // skip, offset=i.offset // skip,
                          apex=None if i.apex is None else i.apex // skip, emotion=i.emotion, score=i.score)
                 for i in ivs] for v, ivs in preds.items()}
    done = set(report.done_folds)
    entries = [v for v in gt.videos if v.subject in done]

    def score(videos: list) -> Any:
        ids = {v.video for v in videos}
        return evaluate(cases_from_videos(videos, {k: v for k, v in preds.items() if k in ids}, skip=skip),
                        mode="metst_code", classes=classes)

    per_subject = {s: score([v for v in entries if v.subject == s]).summary() for s in report.done_folds}
    pooled_res = score(entries)
    complete = done == set(report.subjects)
    return RunReport(run_dir=report.run_dir, config=report.config, subjects=report.subjects,
                     done_folds=report.done_folds, per_subject=per_subject,
                     pooled=pooled_res.summary() | {"skip": skip} if complete else None,
                     confusion=pooled_res.recognition.to_dict()["confusion"] if complete else None,
                     final_checkpoint=report.final_checkpoint, mode="reference", extra=report.extra)


def report_for_mode(run_dir: str | Path, mode: str, manifest: str | Path | None = None) -> RunReport:
    """``read_run`` for "megc", ``reference_report`` of it for "reference"."""
    if mode not in REPORT_MODES:
        raise ValueError(f"mode must be one of {REPORT_MODES}, got {mode!r}")
    report = read_run(run_dir)
    return report if mode == "megc" else reference_report(report, manifest)


__all__ = ["METRIC_KEYS", "REPORT_MODES", "RunReport", "is_run_folder", "manifest_of", "read_run",
           "reference_report", "report_for_mode"]
