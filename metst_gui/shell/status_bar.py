"""The main window's permanent status fields: frame, time, frame rate and the annotator."""

from __future__ import annotations

from PySide6 import QtWidgets


class StatusFields:
    """Labels on the right of the status bar (after Analyze's progress widgets)."""

    def __init__(self, bar: QtWidgets.QStatusBar, annotator: str) -> None:
        self.frame_label = QtWidgets.QLabel()
        self.time_label = QtWidgets.QLabel()
        self.fps_label = QtWidgets.QLabel()
        self.annotator_label = QtWidgets.QLabel(f"annotator: {annotator}")
        for w in (self.frame_label, self.time_label, self.fps_label, self.annotator_label):
            w.setMinimumWidth(90)
            bar.addPermanentWidget(w)

    def show_position(self, index: int, n_frames: int, seconds: float) -> None:
        self.frame_label.setText(f"frame {index} / {max(n_frames - 1, 0)}")
        self.time_label.setText(f"{seconds:.3f} s")

    def show_fps(self, fps: float) -> None:
        self.fps_label.setText(f"{fps:g} fps")
