"""The training runs a project has made, for a list of past runs: where they are, how each one
ended (or that it is still going), when it started, its model, labels and main metrics.

Front ends list runs through :func:`find_runs` instead of reading run folders themselves; the
status is the one ``RunFollower`` tells (the same code follows a run), the metrics are
``run_report.read_run``'s.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import MetstError
from .folder import RUNS_FOLDER, RunFolder
from .progress import RunFollower

#: Statuses of a listed run (``stopped``: its process went away without a word, e.g. a reboot).
STATUSES = ("running", "finished", "cancelled", "failed", "stopped")


@dataclass
class RunSummary:
    """One run folder as a line of a list of runs."""

    run_dir: Path
    status: str                                 #: one of STATUSES
    message: str = ""                           #: how it ended (the run's last error line, if any)
    started: datetime.datetime | None = None
    model: str | None = None
    dataset: str | None = None                  #: the manifest it was trained on
    folds: int = 0
    folds_done: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)   #: pooled MEGC metrics once finished

    @property
    def running(self) -> bool:
        return self.status == "running"


def project_runs_folder(project_folder: str | Path) -> Path:
    """Where a project's training runs go by default: ``<project>/runs``."""
    return Path(project_folder) / RUNS_FOLDER


def _started(folder: RunFolder) -> datetime.datetime | None:
    record = folder.read_launch_record() or {}
    try:
        stamp = float(record["started"])
    except (KeyError, TypeError, ValueError):
        try:
            stamp = (folder.config_file if folder.is_run() else folder.path).stat().st_mtime
        except OSError:
            return None
    return datetime.datetime.fromtimestamp(stamp)


def summarize_run(run_dir: str | Path) -> RunSummary:
    """How the run in ``run_dir`` stands now (reads its folder once; starts nothing)."""
    from ..run_report import (
        read_run,  # run_report imports this package: import it when called
    )

    folder = RunFolder(run_dir)
    follower = RunFollower(folder.path)
    update = follower.poll()
    status, message = update.ended if update.ended is not None else ("running", "")
    summary = RunSummary(folder.path, status, message, _started(folder))
    if not folder.is_run():
        return summary
    try:
        report = read_run(folder.path)
    except MetstError as exc:
        summary.status, summary.message = "failed", str(exc)
        return summary
    summary.model = report.config.get("model")
    summary.dataset = report.config.get("dataset")
    summary.folds, summary.folds_done = len(report.subjects), len(report.done_folds)
    if report.pooled is not None:
        summary.status = "finished"
        summary.metrics = dict(report.pooled)
    return summary


def _is_launched(folder: RunFolder) -> bool:
    return folder.is_run() or folder.read_launch_record() is not None


def find_runs(places: Iterable[str | Path]) -> list[RunSummary]:
    """Every run in ``places`` (each a run folder or a folder of run folders), newest first, each once."""
    seen: set[Path] = set()
    found: list[RunSummary] = []
    for place in places:
        folder = RunFolder(place)
        if _is_launched(folder):
            candidates = [folder]
        elif folder.path.is_dir():
            candidates = [RunFolder(p) for p in sorted(folder.path.iterdir()) if p.is_dir()]
        else:
            continue
        for run in candidates:
            key = run.path.resolve()
            if key in seen or not _is_launched(run):
                continue
            seen.add(key)
            found.append(summarize_run(run.path))
    found.sort(key=lambda s: s.started or datetime.datetime.min, reverse=True)
    return found


__all__ = ["STATUSES", "RunSummary", "find_runs", "project_runs_folder", "summarize_run"]
