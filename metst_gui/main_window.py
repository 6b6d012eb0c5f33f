"""The review workspace: project browser, player, stacked curves, interval table, training tab, status bar.

Assembly only: the browser, :class:`~metst_gui.player.Player`, :class:`~metst_gui.timeline.Timeline`
and :class:`~metst_gui.interval_table.IntervalTable` show what the store holds for the
current video; :class:`~metst_gui.review_session.ReviewSession` dispatches keys to the
engine's review model (:mod:`metst_engine.project.review`: the rules and undo histories);
Analyze runs in :class:`~metst_gui.analyze_worker.AnalyzeWorker`. Window geometry and dock
layout are restored from QSettings.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from metst_engine.errors import MetstError
from metst_engine.intervals import EMOTIONS
from metst_engine.project import Edit, IntervalRecord, Project
from metst_engine.project.review import interval_at
from metst_engine.runs import RunFolder
from metst_engine.video import VideoSource, open_video
from metst_gui.analyze_worker import (
    AnalyzeJob,
    AnalyzeOutcome,
    AnalyzeWorker,
    FaceProxyBuilder,
    FaceProxyJob,
)
from metst_gui.curves_data import CurveData
from metst_gui.frame_provider import FrameProvider
from metst_gui.interval_table import IntervalTable
from metst_gui.player import Player
from metst_gui.project_browser import ProjectBrowser
from metst_gui.review_session import ReviewSession
from metst_gui.shortcuts import ShortcutMap, ShortcutOverlay
from metst_gui.timeline import IntervalMark, Timeline
from metst_gui.training_panel import TrainingPanel

#: Label sources offered to the training panel: name -> (include_ground_truth, reviewed).
LABEL_SOURCES: dict[str, tuple[bool, bool]] = {
    "Reviewed annotations": (False, True),
    "Imported ground truth": (True, False),
    "Reviewed + ground truth": (True, True),
}


def default_settings() -> QtCore.QSettings:
    return QtCore.QSettings("metst", "metst-gui")


def mark_of(r: IntervalRecord) -> IntervalMark:
    """Imported ground truth in the lower half, everything reviewable (predicted, manual) in the upper."""
    return IntervalMark(r.onset, r.offset, r.state, "gt" if r.source == "imported" else "pred")


class MainWindow(QtWidgets.QMainWindow):
    def __init__(self, project: Project, settings: QtCore.QSettings | None = None, *,
                 proxy: bool = True, owns_project: bool = False) -> None:
        super().__init__()
        self.project = project
        self.settings = settings or default_settings()
        self.proxy = proxy
        self.owns_project = owns_project
        self.video: VideoSource | None = None
        self.provider: FrameProvider | None = None
        self.player: Player | None = None
        self.analyze_worker: AnalyzeWorker | None = None
        self.face_proxies = FaceProxyBuilder(project.cache_dir / "proxies", self)
        self.face_proxies.built.connect(self._face_proxy_built)
        self.face_proxies.message.connect(self.say)
        self.analyze_use_cache = True
        title = f"metst — {project.folder.name}"
        self.setWindowTitle(title + (" (read-only)" if project.read_only else ""))

        self.session = ReviewSession(project, self._playhead, self)
        self.session.changed.connect(self._after_edit)
        self.session.message.connect(self.say)
        self.session.selectionChanged.connect(self._select_interval)
        self.session.refused.connect(lambda _msg: QtCore.QTimer.singleShot(0, self._redraw_selection))

        self.timeline = Timeline()
        self.timeline.seekRequested.connect(self._seek_from_plot)
        self.timeline.regionEdited.connect(self.session.move_edges)
        self.player_host = QtWidgets.QWidget()
        self.player_host.setLayout(QtWidgets.QVBoxLayout())
        self.player_host.layout().setContentsMargins(0, 0, 0, 0)
        self.placeholder = QtWidgets.QLabel("Choose a video in the project browser")
        self.placeholder.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.player_host.layout().addWidget(self.placeholder)
        self.splitter = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        self.splitter.setObjectName("centralSplitter")
        self.splitter.addWidget(self.player_host)
        self.splitter.addWidget(self.timeline)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.training = TrainingPanel()
        self.training.run_ended.connect(self.record_training_run)
        self.training.use_model_requested.connect(self.analyze_with_model)
        self.tabs = QtWidgets.QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.splitter, "Review")
        self.tabs.addTab(self.training, "Training")
        self.tabs.currentChanged.connect(lambda i: self.tabs.widget(i) is self.training and self.refresh_label_sources())
        self.setCentralWidget(self.tabs)

        self.browser = ProjectBrowser()
        self.browser.videoChosen.connect(self.open_video)
        self.table = IntervalTable()
        self.table.intervalSelected.connect(self._table_selected)
        self.browser_dock = self._dock("Project", "projectDock", self.browser, QtCore.Qt.DockWidgetArea.LeftDockWidgetArea)
        self.table_dock = self._dock("Intervals", "intervalsDock", self.table, QtCore.Qt.DockWidgetArea.BottomDockWidgetArea)

        self.shortcuts = ShortcutMap(self.settings, self)
        self._build_actions()
        self.overlay = ShortcutOverlay(self.shortcuts, self)
        self._build_status_bar()

        self.resize(1400, 900)
        self.splitter.setSizes([400, 480])
        self.resizeDocks([self.browser_dock], [240], QtCore.Qt.Orientation.Horizontal)
        self.resizeDocks([self.table_dock], [200], QtCore.Qt.Orientation.Vertical)
        self._restore_layout()
        self.browser.refresh(project)
        ids = self.browser.video_ids()
        if ids:
            self.browser.select_video(ids[0])
        if project.read_only:
            self.say(project.read_only_reason or "read-only", 0)
        self.table.setFocus()

    # ================================================================== construction
    def _dock(self, title: str, name: str, widget: QtWidgets.QWidget,
              area: QtCore.Qt.DockWidgetArea) -> QtWidgets.QDockWidget:
        dock = QtWidgets.QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _action(self, text: str, slot, name: str | None = None) -> QtGui.QAction:  # type: ignore[no-untyped-def]
        action = QtGui.QAction(text, self)
        action.triggered.connect(slot)
        if name is not None:
            self.shortcuts.bind(name, action)
        self.addAction(action)
        return action

    def _build_actions(self) -> None:
        s = self.session
        self.actions_by_name: dict[str, QtGui.QAction] = {
            "accept": self._action("&Accept", s.accept, "accept"),
            "reject": self._action("&Reject", s.reject, "reject"),
            "set_onset": self._action("Set &onset at playhead", lambda: s.set_bound("onset"), "set_onset"),
            "set_apex": self._action("Set ape&x at playhead", lambda: s.set_bound("apex"), "set_apex"),
            "set_offset": self._action("Set o&ffset at playhead", lambda: s.set_bound("offset"), "set_offset"),
            "add": self._action("Add &manual interval", s.add, "add"),
            "next_pending": self._action("&Next pending", self.next_pending, "next_pending"),
        }
        for k in range(1, 5):
            self.actions_by_name[f"emotion_{k}"] = self._action(
                f"Emotion: {EMOTIONS[k - 1]}",
                lambda _=False, k=k: s.set_emotion(k), f"emotion_{k}")
        undo = s.stacks.group.createUndoAction(self, "&Undo")
        redo = s.stacks.group.createRedoAction(self, "&Redo")
        self.addAction(self.shortcuts.bind("undo", undo))
        self.addAction(self.shortcuts.bind("redo", redo))
        self.actions_by_name["undo"], self.actions_by_name["redo"] = undo, redo
        self.complete_action = self._action("Mark video review &complete", self._toggle_complete)
        self.complete_action.setCheckable(True)
        self.analyze_action = self._action("A&nalyze selected videos", lambda: self.analyze())
        help_action = self._action("&Keyboard shortcuts", lambda: self.overlay.toggle(), "help")
        self.actions_by_name["help"] = help_action

        bar = self.menuBar()
        project_menu = bar.addMenu("&Project")
        project_menu.addAction(self.analyze_action)
        project_menu.addMenu(self._alignment_menu())
        project_menu.addAction(self._action("&Export…", self.show_export_dialog))
        project_menu.addAction(self._action("Annotator a&greement…", self.show_agreement))
        project_menu.addSeparator()
        project_menu.addAction(self._action("&Close", self.close))
        edit_menu = bar.addMenu("&Edit")
        edit_menu.addAction(undo)
        edit_menu.addAction(redo)
        review_menu = bar.addMenu("&Review")
        for name in ("accept", "reject", "emotion_1", "emotion_2", "emotion_3", "emotion_4", "set_onset",
                     "set_apex", "set_offset", "add", "next_pending"):
            review_menu.addAction(self.actions_by_name[name])
        review_menu.addSeparator()
        review_menu.addAction(self.complete_action)
        view_menu = bar.addMenu("&View")
        for dock in (self.browser_dock, self.table_dock):
            view_menu.addAction(dock.toggleViewAction())
        view_menu.addSeparator()
        view_menu.addAction(self._action("&Review", lambda: self.tabs.setCurrentIndex(0)))
        view_menu.addAction(self._action("&Training", lambda: self.tabs.setCurrentWidget(self.training)))
        bar.addMenu("&Help").addAction(help_action)

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.analyze_progress = QtWidgets.QProgressBar()
        self.analyze_progress.setMaximumWidth(220)
        self.analyze_progress.setRange(0, 100)
        self.analyze_cancel = QtWidgets.QPushButton("Cancel")
        self.analyze_cancel.clicked.connect(self.cancel_analyze)
        for w in (self.analyze_progress, self.analyze_cancel):
            w.hide()
            bar.addPermanentWidget(w)
        self.frame_label = QtWidgets.QLabel()
        self.time_label = QtWidgets.QLabel()
        self.fps_label = QtWidgets.QLabel()
        self.annotator_label = QtWidgets.QLabel(f"annotator: {self.project.annotator}")
        for w in (self.frame_label, self.time_label, self.fps_label, self.annotator_label):
            w.setMinimumWidth(90)
            bar.addPermanentWidget(w)

    def say(self, text: str, timeout_ms: int = 8000) -> None:
        self.statusBar().showMessage(text, timeout_ms)

    # ================================================================== layout
    def _restore_layout(self) -> None:
        geometry = self.settings.value("window/geometry")
        state = self.settings.value("window/state")
        splitter = self.settings.value("window/splitter")
        tab = self.settings.value("window/tab")
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is not None:
            self.restoreState(state)
        if splitter is not None:
            self.splitter.restoreState(splitter)
        if tab is not None:
            self.tabs.setCurrentIndex(int(tab))

    def save_layout(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.settings.setValue("window/splitter", self.splitter.saveState())
        self.settings.setValue("window/tab", self.tabs.currentIndex())
        self.settings.sync()

    # ================================================================== the current video
    def open_video(self, video_id: int) -> None:
        """Show this video: player, curves, intervals and its undo stack."""
        record = self.session.set_video(video_id)
        self._close_player()
        try:
            self.video = open_video(record.path, fps=record.fps)
        except MetstError as exc:
            self.placeholder.setText(f"{record.name}: cannot open the video ({exc})")
            self.placeholder.show()
            self.say(str(exc), 0)
            self.video = None
        if self.video is not None:
            self.placeholder.hide()
            self.provider = FrameProvider(self.video, proxy=self.proxy, parent=self)
            self.player = Player(self.video, self.provider)
            self.player.install_shortcuts(self.player)
            self.player.positionChanged.connect(self._position_changed)
            self.provider.failed.connect(lambda i, msg: self.say(f"frame {i}: {msg}"))
            self.player_host.layout().addWidget(self.player)
        self.timeline.set_length(record.n_frames, record.fps)
        self._load_curves(video_id)
        self.fps_label.setText(f"{record.fps:g} fps")
        self.complete_action.setChecked(record.complete)
        self.refresh_intervals()
        if self.player is not None:
            self._position_changed(self.player.index, self.player.time_of(self.player.index))

    def _close_player(self) -> None:
        if self.player is not None:
            self.player.close_provider()
            self.player.setParent(None)
            self.player.deleteLater()
            self.player = None
        if self.provider is not None:
            self.provider.close()
            self.provider.deleteLater()
            self.provider = None
        if self.video is not None:
            self.video.close()
            self.video = None

    def _load_curves(self, video_id: int) -> None:
        curves = self.project.curves(video_id)
        data = None
        if curves:
            try:
                data = CurveData.load(curves[-1].path)
            except MetstError as exc:
                self.say(f"curves: {exc}")
        self.timeline.set_selected_interval(None)
        self.timeline.set_spotting(None if data is None else data.spotting, None if data is None else data.threshold)
        self.timeline.set_recognition(None if data is None else data.recognition,
                                      [] if data is None else data.class_names)
        self.timeline.set_flow(None if data is None else data.flow, [] if data is None else data.channel_names)
        if self.player is not None:
            self.player.set_face_box(None if data is None else data.face_box)
        if data is not None and data.face_box is not None and self.provider is not None and self.session.video:
            self.face_proxies.attach(self.provider, self.session.video.name, curves[-1].path,
                                     build=not self.project.read_only)

    def refresh_intervals(self) -> None:
        """Re-read the current video's intervals into the table, the plots and the player."""
        records = self.session.intervals()          # drops a selection that is gone
        stamps = self.project.timestamps(self.session.video.id) if self.session.video else []
        self.table.set_intervals(records, stamps, keep_selection=self.session.selected)
        self.timeline.set_intervals([mark_of(r) for r in records])
        if self.player is not None:
            self.player.set_intervals(sorted({(r.onset, r.offset) for r in records if r.state != "rejected"}))
        self._show_selection_on_plots()

    # ================================================================== selection and position
    def _playhead(self) -> int:
        return 0 if self.player is None else self.player.index

    def _position_changed(self, index: int, seconds: float) -> None:
        self.timeline.set_playhead(index)
        n = self.session.video.n_frames if self.session.video else 0
        self.frame_label.setText(f"frame {index} / {max(n - 1, 0)}")
        self.time_label.setText(f"{seconds:.3f} s")

    def _seek_from_plot(self, frame: int) -> None:
        """Seek there; a click inside an interval also selects it (the shortest one containing the frame)."""
        if self.player is not None:
            self.player.seek(frame)
        hit = interval_at(self.table.interval_model.records, frame)
        if hit is not None:
            self._select_interval(hit.id, seek=False)

    def _table_selected(self, interval_id: int) -> None:
        self._select_interval(interval_id if interval_id >= 0 else None)

    def _select_interval(self, interval_id: int | None, seek: bool = True) -> None:
        self.session.select(interval_id)
        self.table.select_interval(interval_id)
        self._show_selection_on_plots()
        if seek and interval_id is not None and self.player is not None:
            record = next((r for r in self.table.interval_model.records if r.id == interval_id), None)
            if record is not None:
                self.player.seek(record.onset)

    def _show_selection_on_plots(self) -> None:
        record = next((r for r in self.table.interval_model.records if r.id == self.session.selected), None)
        self.timeline.set_selected_interval(None if record is None else (record.onset, record.offset))

    def _redraw_selection(self) -> None:
        """Put the draggable edges back where the store has them (after a refused edit)."""
        self.timeline.set_selected_interval(None)
        self._show_selection_on_plots()

    def next_pending(self) -> None:
        shown = None if self.session.video is None else self.session.video.id
        target = self.session.next_pending()
        if target is not None and target.video_id != shown:
            self.browser.select_video(target.video_id)     # opens it (and its undo stack)
            self._select_interval(target.id)

    # ================================================================== after edits
    def _after_edit(self, edit: Edit) -> None:
        self.refresh_intervals()
        self.browser.refresh(self.project)
        if self.session.video is not None:
            self.complete_action.setChecked(self.session.video.complete)
        if edit.action in ("complete", "reopen") or any(c.table == "videos" for c in edit.changes):
            self.refresh_label_sources()
        self.say(f"{edit.action}: saved")

    def _toggle_complete(self, checked: bool) -> None:
        self.session.set_complete(bool(checked))
        if self.session.video is not None:
            self.complete_action.setChecked(self.session.video.complete)

    # ================================================================== Analyze
    #: Face alignment choices of Analyze: (label, value passed to the engine; None = automatic).
    ALIGNMENT_CHOICES = (("Automatic (the model's own; improved for the model-free spotter)", None),
                         ("As the authors' public code", "public"),
                         ("metst's improved alignment", "improved"))

    def _alignment_menu(self) -> QtWidgets.QMenu:
        menu = QtWidgets.QMenu("Analyze &alignment", self)
        group = QtGui.QActionGroup(menu)
        self.analyze_alignment: str | None = None
        self.alignment_actions: dict[str | None, QtGui.QAction] = {}
        for label, value in self.ALIGNMENT_CHOICES:
            act = menu.addAction(label)
            act.setCheckable(True)
            act.setChecked(value is None)
            act.triggered.connect(lambda _=False, v=value: setattr(self, "analyze_alignment", v))
            group.addAction(act)
            self.alignment_actions[value] = act
        return menu

    def analyze(self, video_ids: list[int] | None = None, checkpoint: str | None = None) -> bool:
        """Extraction + spotting of the videos (default: selected in the browser) in the background."""
        if self.analyze_worker is not None:
            self.say("Analyze is already running")
            return False
        if self.project.read_only:
            self.say(f"Analyze: {self.project.read_only_reason}")
            return False
        ids = video_ids or self.browser.selected_video_ids()
        if not ids:
            self.say("Analyze: choose videos in the project browser")
            return False
        jobs = [AnalyzeJob(v.name, v.subject, v.path) for v in (self.project.video(i) for i in ids)]
        stamp = QtCore.QDateTime.currentDateTimeUtc().toString("yyyyMMdd-HHmmss-zzz")
        worker = AnalyzeWorker(jobs, self.project.cache_dir / "analysis" / stamp, checkpoint=checkpoint,
                               use_cache=self.analyze_use_cache, alignment=self.analyze_alignment,
                               workers=os.cpu_count() or 1, parent=self)
        worker.progressed.connect(self._analyze_progress)
        worker.succeeded.connect(self._analyze_succeeded)
        worker.failed.connect(lambda msg: self._analyze_ended(f"Analyze failed: {msg}"))
        worker.cancelled.connect(lambda: self._analyze_ended("Analyze cancelled; nothing imported"))
        self.analyze_worker = worker
        self.analyze_progress.setValue(0)
        self.analyze_progress.show()
        self.analyze_cancel.show()
        self.analyze_action.setEnabled(False)
        worker.start()
        return True

    def analyze_with_model(self, checkpoint: str, run_dir: str) -> None:
        """The training panel's "Use this model": re-predict the selected videos with ``checkpoint``."""
        if self.analyze(checkpoint=checkpoint):
            self.say(f"Analyzing with the model of {Path(run_dir).name}")

    def cancel_analyze(self) -> None:
        if self.analyze_worker is not None:
            self.analyze_worker.cancel()
            self.analyze_cancel.setEnabled(False)

    def _analyze_progress(self, percent: int, message: str) -> None:
        self.analyze_progress.setValue(percent)
        self.analyze_progress.setFormat(f"{percent}%  {message}")

    def _analyze_succeeded(self, outcome: AnalyzeOutcome) -> None:
        paths = {j.video: j.path for j in self.analyze_worker.jobs} if self.analyze_worker is not None else {}
        try:
            result = self.project.import_predictions(outcome.combined_csv, predictor=outcome.predictor,
                                                     params=outcome.params)
            for r in outcome.results:
                self.project.register_curves(r.video, r.curves_npz, result.run_id)
        except MetstError as exc:
            self._analyze_ended(f"Analyze: import failed: {exc}")
            return
        self._analyze_ended(f"Analyze: run {result.run_id}: {result.added} intervals added, {result.replaced} "
                            f"replaced, {result.skipped} skipped (already reviewed)")
        if self.session.video is not None and self.session.video.name in {r.video for r in outcome.results}:
            self.open_video(self.session.video.id)
        self.browser.refresh(self.project)
        self.face_proxies.build([FaceProxyJob(r.video, paths[r.video], r.curves_npz)
                                 for r in outcome.results if r.video in paths])

    def _face_proxy_built(self, video: str, path: str) -> None:
        if self.provider is not None and self.session.video is not None and self.session.video.name == video:
            self.provider.use_face_proxy(path)

    def _analyze_ended(self, message: str) -> None:
        if self.analyze_worker is not None:
            self.analyze_worker.wait()
            self.analyze_worker.deleteLater()
            self.analyze_worker = None
        self.analyze_progress.hide()
        self.analyze_cancel.hide()
        self.analyze_cancel.setEnabled(True)
        self.analyze_action.setEnabled(True)
        self.say(message, 0)

    # ================================================================== training
    def refresh_label_sources(self) -> dict[str, Path]:
        """Write the store's training manifests into ``cache/training/`` and offer those that have labels."""
        sources: dict[str, Path] = {}
        folder = self.project.cache_dir / "training"
        for name, (with_gt, reviewed) in LABEL_SOURCES.items():
            path = folder / (name.lower().replace(" + ", "_and_").replace(" ", "_") + ".csv")
            try:
                if not self.project.read_only:
                    self.project.training_manifest(path, include_ground_truth=with_gt, reviewed=reviewed)
                elif not path.is_file():
                    continue
            except MetstError:
                continue
            sources[name] = path
        self.training.set_label_sources(sources)
        return sources

    def record_training_run(self, run_dir: str, outcome: str) -> None:
        """Keep the finished run's checkpoint and parameters in the project (a run without intervals)."""
        if self.project.read_only:
            return
        folder = RunFolder(run_dir)
        run = folder.path
        checkpoint = folder.final_checkpoint()
        params: dict = {"kind": "training", "outcome": outcome, "run_dir": str(run),
                        "checkpoint": None if checkpoint is None else str(checkpoint)}
        for key, value in (("config", folder.settings_or_none()), ("metrics", folder.metrics_or_none())):
            if value is not None:
                params[key] = value
        try:
            record = self.project.record_run(f"trained model {run.name}", params, run)
        except MetstError as exc:
            self.say(f"could not record the training run: {exc}", 0)
            return
        self.say(f"training run {run.name} ({outcome}) recorded as run {record.id}")

    # ================================================================== dialogs
    def show_export_dialog(self) -> None:
        from metst_gui.export_dialog import ExportDialog

        ExportDialog(self.project, self.session.video, self).exec()

    def show_agreement(self) -> None:
        from metst_gui.agreement_view import AgreementView

        AgreementView(self.project, self).exec()

    # ================================================================== closing
    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        if not self.training.confirm_close():
            event.ignore()
            return
        if self.analyze_worker is not None:
            self.analyze_worker.cancel()
            self.analyze_worker.wait()
            self.analyze_worker = None
        self.face_proxies.stop()
        self.save_layout()
        self._close_player()
        if self.owns_project:
            self.project.close()
        super().closeEvent(event)

    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:
        super().resizeEvent(event)
        if self.overlay.isVisible():
            self.overlay.hide()
            self.overlay.toggle()
