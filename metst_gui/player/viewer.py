"""The single-video viewer (``metst-gui VIDEO``): a frame-accurate player above its synchronised curves.

The frame shown is always exactly ``VideoSource.frame(i)`` (decoded off the GUI thread by
:class:`~metst_gui.player.frame_provider.FrameProvider`), the curves are the engine's per-frame
arrays, and clicking or dragging on any curve seeks the video there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from PySide6 import QtCore, QtGui, QtWidgets

from metst_engine.curves_file import Curves
from metst_engine.errors import MetstError
from metst_engine.features import FeatureSet
from metst_engine.spotting import BaselineSpotter
from metst_engine.video import VideoSource
from metst_gui.player.frame_provider import FrameProvider
from metst_gui.player.player import Player
from metst_gui.review.timeline import IntervalMark, Timeline


def roi_groups_of(roi_set: str | None) -> dict[str, str]:
    """ROI name -> face-region group from the ROI set's JSON (empty if the set is unknown)."""
    if not roi_set:
        return {}
    from metst_engine.rois import load_roi_set

    try:
        return {r.name: r.group or r.region for r in load_roi_set(roi_set).rois}
    except MetstError:
        return {}


class ViewerWindow(QtWidgets.QMainWindow):
    """Player on top, synchronised curves below; keys: Space, Left/Right, Shift+Left/Right,
    PageUp/PageDown (previous/next interval), L (loop interval), Z (zoom to face)."""

    def __init__(self, video: VideoSource, features: FeatureSet | None = None, *,
                 curves: Curves | None = None, intervals: Sequence[IntervalMark] = (),
                 roi_groups: Mapping[str, str] | None = None, proxy: bool = False) -> None:
        super().__init__()
        self.video = video
        self.setWindowTitle(f"metst — {video.path.name}")
        self.provider = FrameProvider(video, proxy=proxy, parent=self)
        self.player = Player(video, self.provider)
        self.timeline = Timeline()
        self.timeline.set_length(video.n_frames, video.fps)
        if curves is None and features is not None:      # flow, face box and the model-free spotter's curve
            curves = BaselineSpotter().spot(features).curves
        if curves is not None:
            self.timeline.set_spotting(curves.spotting, curves.threshold)
            self.timeline.set_recognition(curves.recognition, curves.class_names)
            if roi_groups is None and features is not None:
                roi_groups = roi_groups_of(features.params.get("roi_set"))
            self.timeline.set_flow(curves.flow, curves.channel_names, roi_groups)
        self.timeline.set_intervals(intervals)
        self.player.set_intervals(sorted({(m.onset, m.offset) for m in intervals}))
        if curves is not None:
            self.player.set_face_box(curves.face_box)

        self.timeline.seekRequested.connect(self.player.seek)
        self.player.positionChanged.connect(lambda i, _t: self.timeline.set_playhead(i))
        self.player.install_shortcuts(self)
        self.provider.failed.connect(lambda i, msg: self.statusBar().showMessage(f"frame {i}: {msg}", 10_000))
        self.provider.proxyProgress.connect(
            lambda done, total: self.statusBar().showMessage(f"building preview proxy {done}/{total}", 2_000))
        self.provider.proxyAvailable.connect(lambda _p: self.statusBar().showMessage("preview proxy ready", 5_000))

        split = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        split.addWidget(self.player)
        split.addWidget(self.timeline)
        split.setSizes([480, 360])
        self.setCentralWidget(split)
        self.resize(1100, 860)
        from metst_gui.shell.help import add_help_menu

        add_help_menu(self, self.show_keys)

    def show_keys(self) -> QtWidgets.QMessageBox:
        """F1: the player's keys (the review keys belong to a project window)."""
        from metst_gui.shell.shortcuts import PLAYER_KEYS

        rows = "".join(f"<tr><td><b>{key}</b></td><td>{label}</td></tr>" for key, label in PLAYER_KEYS)
        box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.NoIcon, "Keyboard shortcuts",
                                    f"<table cellpadding=3>{rows}</table>", parent=self)
        box.setObjectName("keysBox")
        box.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        return box

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        self.player.close_provider()
        self.provider.close()
        super().closeEvent(event)


