"""Analyze in the background: extraction + spotting of chosen videos in a QThread, with progress and Cancel.

The worker opens no project (one Project per thread): it runs the engine's
:func:`~metst_engine.analysis.analyze_videos` (the spotter made in this thread, a checkpoint
loaded once) and hands the :class:`~metst_engine.analysis.Analysis` back; the GUI thread
imports it with :func:`~metst_engine.analysis.import_analysis` (the two halves of
``analyze_into_project``). Cancel sets a flag the extraction polls between windows; with
the cache on, the finished chunks of a cancelled video are kept and the next Analyze
resumes there. Progress says how long the video has left at the pace so far.
"""

from __future__ import annotations

import threading

from PySide6 import QtCore

from metst_engine.analysis import AnalyzeJob, AnalyzeProgress, analyze_videos
from metst_engine.errors import Cancelled, MetstError
from metst_engine.progress import TimeLeft, format_duration
from metst_engine.spotting import make_spotter

__all__ = ["AnalyzeJob", "AnalyzeWorker"]


class AnalyzeWorker(QtCore.QThread):
    """Signals: ``progressed(percent, message)``, ``succeeded(Analysis)``, ``failed(message)``,
    ``cancelled()``; exactly one of the last three ends a run. ``partial(video, PartialSpotting)``:
    a video's provisional intervals so far (its first minutes) while the rest is computed."""

    progressed = QtCore.Signal(int, str)
    partial = QtCore.Signal(str, object)
    succeeded = QtCore.Signal(object)
    failed = QtCore.Signal(str)
    cancelled = QtCore.Signal()

    def __init__(self, jobs: list[AnalyzeJob], *, checkpoint: str | None = None, use_cache: bool = True,
                 workers: int = 1, alignment: str | None = None, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.jobs = list(jobs)
        self.checkpoint = checkpoint
        self.use_cache = use_cache
        self.workers = workers
        self.alignment = alignment      #: None: the checkpoint's, or the model-free spotter's own
        self._cancel = threading.Event()
        self._left: dict[int, TimeLeft] = {}

    def cancel(self) -> None:
        self._cancel.set()

    def _progress(self, p: AnalyzeProgress) -> None:
        if not p.total:
            self.progressed.emit(int(100 * p.fraction), f"{p.video}: reading")
            return
        secs = self._left.setdefault(p.index, TimeLeft())(p.done, p.total)
        eta = f", about {format_duration(secs)} left" if secs is not None else ""
        self.progressed.emit(int(100 * p.fraction), f"{p.video}: {p.done}/{p.total} windows{eta}")

    def run(self) -> None:
        try:
            spotter = make_spotter(self.checkpoint, alignment=self.alignment)
            analysis = analyze_videos(self.jobs, spotter, progress=self._progress, cancel=self._cancel.is_set,
                                      use_cache=self.use_cache, workers=self.workers,
                                      on_partial=lambda job, part: self.partial.emit(job.video, part))
        except Cancelled:
            self.cancelled.emit()
            return
        except (MetstError, OSError, ValueError) as exc:
            self.failed.emit(str(exc))
            return
        self.progressed.emit(100, "done")
        self.succeeded.emit(analysis)
