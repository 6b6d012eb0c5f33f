"""Analyze in the main window: the worker, its progress bar and Cancel button, the alignment menu.

Starts :class:`~metst_gui.project.analyze_worker.AnalyzeWorker` on the chosen videos, follows
it in the status bar and, when it succeeds, imports its predictions and curves into the project
store; ``imported`` then names the videos whose intervals changed so the window can show them.
While it runs, ``provisional(video)`` says that video's provisional intervals so far
(:attr:`AnalyzeController.partials`) changed, so the timeline can show the first minutes'
proposals before the rest is computed; ``provisional("")`` when the run ends and they are dropped.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from metst_engine.analysis import Analysis, PartialSpotting, import_analysis
from metst_engine.errors import MetstError
from metst_engine.project import Project
from metst_gui.project.analyze_worker import AnalyzeJob, AnalyzeWorker

#: Face alignment choices of Analyze: (label, value passed to the engine; None = automatic).
ALIGNMENT_CHOICES = (("Automatic (the model's own; improved for the model-free spotter)", None),
                     ("As the authors' public code", "public"),
                     ("metst's improved alignment", "improved"))


class AnalyzeController(QtCore.QObject):
    """Owns the running worker (at most one), the Analyze action, the progress widgets and the alignment choice."""

    imported = QtCore.Signal(set)          # names of the videos whose predictions were imported
    provisional = QtCore.Signal(str)       # a video's partial intervals changed ("": all dropped)

    def __init__(self, window: QtWidgets.QMainWindow, project: Project,
                 selected_ids: Callable[[], list[int]], say: Callable[..., None]) -> None:
        super().__init__(window)
        self.window, self.project, self.selected_ids, self.say = window, project, selected_ids, say
        self.worker: AnalyzeWorker | None = None
        self.partials: dict[str, PartialSpotting] = {}     #: the running analysis' latest, by video name
        self.use_cache = True
        self.action = QtGui.QAction("A&nalyze selected videos", window)
        self.action.triggered.connect(lambda: self.analyze())
        window.addAction(self.action)
        self.alignment_menu = self._alignment_menu()
        self.progress = QtWidgets.QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.setRange(0, 100)
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        for w in (self.progress, self.cancel_button):
            w.hide()
            window.statusBar().addPermanentWidget(w)

    def _alignment_menu(self) -> QtWidgets.QMenu:
        menu = QtWidgets.QMenu("Analyze &alignment", self.window)
        group = QtGui.QActionGroup(menu)
        self.alignment: str | None = None
        self.alignment_actions: dict[str | None, QtGui.QAction] = {}
        for label, value in ALIGNMENT_CHOICES:
            act = menu.addAction(label)
            act.setCheckable(True)
            act.setChecked(value is None)
            act.triggered.connect(lambda _=False, v=value: setattr(self, "alignment", v))
            group.addAction(act)
            self.alignment_actions[value] = act
        return menu

    def analyze(self, video_ids: list[int] | None = None, checkpoint: str | None = None) -> bool:
        """Extraction + spotting of the videos (default: selected in the browser) in the background."""
        if self.worker is not None:
            self.say("Analyze is already running")
            return False
        if self.project.read_only:
            self.say(f"Analyze: {self.project.read_only_reason}")
            return False
        ids = video_ids or self.selected_ids()
        if not ids:
            self.say("Analyze: choose videos in the project browser")
            return False
        jobs = [AnalyzeJob.of(self.project.video(i)) for i in ids]
        worker = AnalyzeWorker(jobs, checkpoint=checkpoint, use_cache=self.use_cache,
                               alignment=self.alignment, workers=os.cpu_count() or 1, parent=self.window)
        worker.progressed.connect(self._progressed)
        worker.partial.connect(self._partial)
        worker.succeeded.connect(self._succeeded)
        worker.failed.connect(lambda msg: self._ended(f"Analyze failed: {msg}"))
        worker.cancelled.connect(lambda: self._ended("Analyze cancelled; nothing imported"))
        self.worker = worker
        self.progress.setValue(0)
        self.progress.setFormat("%p%")
        self.progress.show()
        self.cancel_button.show()
        self.action.setEnabled(False)
        worker.start()
        return True

    def analyze_with_model(self, checkpoint: str, run_dir: str) -> None:
        """The training panel's "Use this model": re-predict the selected videos with ``checkpoint``."""
        if self.analyze(checkpoint=checkpoint):
            self.say(f"Analyzing with the model of {Path(run_dir).name}")

    def cancel(self) -> None:
        """Ask the worker to stop; its time left goes at once (it may take a moment to stop)."""
        if self.worker is not None:
            self.worker.cancel()
            self.cancel_button.setEnabled(False)
            self.progress.setFormat("Cancelling…")

    def stop(self) -> None:
        """Cancel and wait (the window is closing)."""
        if self.worker is not None:
            self.worker.cancel()
            self.worker.wait()
            self.worker = None

    def _progressed(self, percent: int, message: str) -> None:
        if not self.cancel_button.isEnabled():          # cancelling: no more estimates
            return
        self.progress.setValue(percent)
        self.progress.setFormat(f"{percent}%  {message}")

    def _partial(self, video: str, part: PartialSpotting) -> None:
        if self.worker is not None:            # a late signal of a finished run is dropped
            self.partials[video] = part
            self.provisional.emit(video)

    def _succeeded(self, analysis: Analysis) -> None:
        try:
            result = import_analysis(self.project, analysis)
        except (MetstError, OSError) as exc:
            self._ended(f"Analyze: import failed: {exc}")
            return
        self._ended(f"Analyze: run {result.run_id}: {result.added} intervals added, {result.replaced} "
                    f"replaced, {result.skipped} skipped (already reviewed)")
        self.imported.emit({job.video for job, _ in analysis.results})

    def _ended(self, message: str) -> None:
        if self.worker is not None:
            self.worker.wait()
            self.worker.deleteLater()
            self.worker = None
        self.progress.hide()
        self.progress.setFormat("%p%")
        self.cancel_button.hide()
        self.cancel_button.setEnabled(True)
        self.action.setEnabled(True)
        self.partials.clear()
        self.provisional.emit("")
        self.say(message, 0)
