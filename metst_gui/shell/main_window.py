"""The review workspace: project browser, player, stacked curves, interval table, training tab, status bar.

Assembly only: the browser, :class:`~metst_gui.player.player.Player`, :class:`~metst_gui.review.timeline.Timeline`
and :class:`~metst_gui.review.interval_table.IntervalTable` show what the store holds for the
current video; :class:`~metst_gui.review.review_session.ReviewSession` dispatches keys to the
engine's review model (:mod:`metst_engine.project.review`: the rules and undo histories) and
:class:`~metst_gui.review.review_controller.ReviewController` keeps the views on its selection;
Analyze is :class:`~metst_gui.project.analyze_controller.AnalyzeController`; the training tab talks
to the store through :class:`~metst_gui.training.project_link.TrainingLink`. Window geometry and
dock layout follow :mod:`metst_gui.shell.layout` (face-first default, proportional resizing, QSettings).
"""

from __future__ import annotations

from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from metst_engine.curves_file import Curves
from metst_engine.errors import MetstError
from metst_engine.project import IntervalRecord, Project
from metst_engine.video import VideoSource, open_video
from metst_gui.player.face_proxy_builder import FaceProxyBuilder, FaceProxyJob
from metst_gui.player.frame_provider import FrameProvider
from metst_gui.player.player import Player
from metst_gui.project.analyze_controller import AnalyzeController
from metst_gui.project.project_browser import ProjectBrowser
from metst_gui.review.interval_table import IntervalTable
from metst_gui.review.review_controller import ReviewController
from metst_gui.review.review_session import ReviewSession
from metst_gui.review.timeline import IntervalMark, Timeline
from metst_gui.shell import menus
from metst_gui.shell.layout import MIN_DOCK, WindowLayout, default_settings
from metst_gui.shell.shortcuts import ShortcutMap, ShortcutOverlay
from metst_gui.shell.status_bar import StatusFields
from metst_gui.training.project_link import TrainingLink
from metst_gui.training.training_panel import TrainingPanel


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
        self.face_proxies = FaceProxyBuilder(project.cache_dir / "proxies", self)
        self.face_proxies.built.connect(self._face_proxy_built)
        self.face_proxies.message.connect(self.say)
        title = f"metst — {project.folder.name}"
        self.setWindowTitle(title + (" (read-only)" if project.read_only else ""))

        self.session = ReviewSession(project, self._playhead, self)
        self.session.message.connect(self.say)
        self.review = ReviewController(self)
        self._build_review_tab()
        self.training = TrainingPanel()
        self.training_link = TrainingLink(project, self.training, self.say)
        self.tabs = QtWidgets.QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.splitter, "Review")
        self.training_page = QtWidgets.QScrollArea()          # the form scrolls in a small window
        self.training_page.setWidgetResizable(True)
        self.training_page.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        self.training_page.setWidget(self.training)
        self.tabs.addTab(self.training_page, "Training")
        self.tabs.currentChanged.connect(
            lambda i: self.tabs.widget(i) is self.training_page and self.refresh_label_sources())
        self.setCentralWidget(self.tabs)

        self.browser = ProjectBrowser()
        self.browser.videoChosen.connect(self.open_video)
        self.table = IntervalTable()
        self.table.intervalSelected.connect(self.review.table_selected)
        self.browser_dock = self._dock("Project", "projectDock", self.browser, QtCore.Qt.DockWidgetArea.LeftDockWidgetArea)
        self.table_dock = self._dock("Intervals", "intervalsDock", self.table, QtCore.Qt.DockWidgetArea.LeftDockWidgetArea)

        self.shortcuts = ShortcutMap(self.settings, self)
        self.analyzer = AnalyzeController(self, project, self.browser.selected_video_ids, self.say)
        self.analyzer.imported.connect(self._analyzed)
        self.analyzer.provisional.connect(self._show_provisional)
        self.training.use_model_requested.connect(self.analyzer.analyze_with_model)
        self.actions_by_name = menus.review_actions(self)
        self.complete_action = menus.add_action(self, "Mark video review &complete", self.review.toggle_complete)
        self.complete_action.setCheckable(True)
        menus.build_menus(self)
        self.overlay = ShortcutOverlay(self.shortcuts, self)
        self.status_fields = StatusFields(self.statusBar(), project.annotator)
        self._show_first(project)

    # ================================================================== construction
    def _build_review_tab(self) -> None:
        """The player (or a placeholder) above the stacked curves."""
        self.timeline = Timeline()
        self.timeline.seekRequested.connect(self.review.seek_from_plot)
        self.timeline.regionEdited.connect(self.session.move_edges)
        self.timeline.edgeMoving.connect(self.review.edge_moving)
        self.timeline.pickRequested.connect(self.review.pick_from_plot)
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

    def _show_first(self, project: Project) -> None:
        """The saved layout (or the default one), then the first video."""
        self.layout_state = WindowLayout(self.settings, self, self.splitter, self.tabs,
                                         (self.browser_dock, self.table_dock))
        self.layout_state.restore()
        self.browser.refresh(project)
        ids = self.browser.video_ids()
        if ids and not self.review.resume():          # where this annotator left off, else the first video
            self.browser.select_video(ids[0])
        if project.read_only:
            self.say(project.read_only_reason or "read-only", 0)
        self.table.setFocus()

    def _dock(self, title: str, name: str, widget: QtWidgets.QWidget,
              area: QtCore.Qt.DockWidgetArea) -> QtWidgets.QDockWidget:
        dock = QtWidgets.QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        widget.setMinimumSize(MIN_DOCK)
        self.addDockWidget(area, dock)
        return dock

    def say(self, text: str, timeout_ms: int = 8000) -> None:
        self.statusBar().showMessage(text, timeout_ms)

    def save_layout(self) -> None:
        self.layout_state.save()

    def reset_layout(self) -> None:
        """View -> Reset layout: default docks, sizes and face zoom; the saved layout is forgotten."""
        self.layout_state.reset()
        if self.player is not None:
            self.player.choose_face_zoom(self.layout_state.face_zoom())

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
            self.player.prefer_face_zoom = self.layout_state.face_zoom()
            self.player.faceZoomChosen.connect(self.layout_state.set_face_zoom)
            self.player.positionChanged.connect(self._position_changed)
            self.player.intervalReached.connect(self.review.interval_reached)
            self.provider.failed.connect(lambda i, msg: self.say(f"frame {i}: {msg}"))
            self.player_host.layout().addWidget(self.player)
        self.timeline.set_length(record.n_frames, record.fps)
        self._load_curves(video_id)
        self.status_fields.show_fps(record.fps)
        self.complete_action.setChecked(record.complete)
        self.refresh_intervals()
        if self.player is not None:
            self._position_changed(self.player.index, self.player.time_of(self.player.index))
        self._show_provisional()
        self.review.remember()

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
                data = Curves.load(curves[-1].path)
            except MetstError as exc:
                self.say(f"curves: {exc}")
        self.timeline.set_selected_interval(None)
        self.timeline.set_spotting(None if data is None else data.spotting, None if data is None else data.threshold)
        self.timeline.set_recognition(None if data is None else data.recognition,
                                      [] if data is None else data.class_names)
        self.timeline.set_flow(None if data is None else data.flow, [] if data is None else data.channel_names)
        self.timeline.set_rejected_peaks([] if data is None else data.rejected)
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
        self.review.show_selection_on_plots()

    # ================================================================== position
    def _playhead(self) -> int:
        return 0 if self.player is None else self.player.index

    def _position_changed(self, index: int, seconds: float) -> None:
        self.timeline.set_playhead(index)
        self.status_fields.show_position(index, self.session.video.n_frames if self.session.video else 0, seconds)

    # ================================================================== Analyze and training
    def analyze(self, video_ids: list[int] | None = None, checkpoint: str | None = None) -> bool:
        """Extraction + spotting of the videos (default: selected in the browser) in the background."""
        return self.analyzer.analyze(video_ids, checkpoint)

    def _show_provisional(self, _video: str = "") -> None:
        """The running analysis' provisional intervals of the video shown (none when it has none)."""
        part = None if self.session.video is None else self.analyzer.partials.get(self.session.video.name)
        marks = None if part is None else [IntervalMark(i.onset, i.offset) for i in part.intervals]
        self.timeline.set_provisional(marks, 0 if part is None else part.upto_frame)

    def _analyzed(self, video_names: set[str]) -> None:
        if self.session.video is not None and self.session.video.name in video_names:
            self.open_video(self.session.video.id)
        self.browser.refresh(self.project)
        if not self.project.read_only:      # the face proxies of the analysed videos, in the background
            jobs = []
            for name in sorted(video_names):
                video, curves = self.project.video(name), self.project.curves(name)
                if curves:
                    jobs.append(FaceProxyJob(name, Path(video.path), Path(curves[-1].path)))
            self.face_proxies.build(jobs)

    def _face_proxy_built(self, video: str, path: str) -> None:
        if self.provider is not None and self.session.video is not None and self.session.video.name == video:
            self.provider.use_face_proxy(path)

    def refresh_label_sources(self) -> dict:
        """Write the store's training manifests and offer those that have labels to the training tab."""
        return self.training_link.refresh_label_sources()

    # ================================================================== dialogs
    def show_export_dialog(self) -> None:
        from metst_gui.project.export_dialog import ExportDialog

        ExportDialog(self.project, self.session.video, self).exec()

    def show_agreement(self) -> None:
        from metst_gui.review.agreement_view import AgreementView

        AgreementView(self.project, self).exec()

    # ================================================================== closing
    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        if not self.training.confirm_close():
            event.ignore()
            return
        self.analyzer.stop()
        self.face_proxies.shutdown()
        self.training.shutdown()
        self.review.remember()
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
