"""``metst-gui``: a frame-accurate video viewer beside the per-ROI flow curves of its features.

The first view of the review workspace (issue 6 grows it into the full workspace): the
frame shown is always exactly ``VideoSource.frame(i)``, the curves are the engine's
features stitched per frame, and clicking a curve seeks the video there.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from metst_engine.curves import roi_magnitude_curves
from metst_engine.errors import MetstError
from metst_engine.features import FeatureSet
from metst_engine.video import VideoSource, open_video


class FrameView(QtWidgets.QLabel):
    """Shows one BGR frame, scaled to fit while keeping its aspect ratio."""

    def __init__(self) -> None:
        super().__init__()
        self.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.setMinimumSize(320, 240)
        self._image: QtGui.QImage | None = None

    def show_frame(self, bgr: np.ndarray) -> None:
        rgb = np.ascontiguousarray(bgr[:, :, ::-1])
        h, w = rgb.shape[:2]
        self._image = QtGui.QImage(rgb.data, w, h, 3 * w, QtGui.QImage.Format.Format_RGB888).copy()
        self._rescale()

    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)
        self._rescale()

    def _rescale(self) -> None:
        if self._image is not None:
            pix = QtGui.QPixmap.fromImage(self._image)
            self.setPixmap(pix.scaled(self.size(), QtCore.Qt.AspectRatioMode.KeepAspectRatio,
                                      QtCore.Qt.TransformationMode.SmoothTransformation))


class ViewerWindow(QtWidgets.QMainWindow):
    """Video on top, ROI flow curves below with a playhead; Left/Right step, Shift jumps one second."""

    def __init__(self, video: VideoSource, features: FeatureSet | None = None) -> None:
        super().__init__()
        self.video = video
        self.features = features
        self.index = -1
        self.setWindowTitle(f"metst — {video.path.name}")
        self.view = FrameView()
        self.slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.slider.setRange(0, video.n_frames - 1)
        self.slider.valueChanged.connect(self.seek)
        self.plot = pg.PlotWidget(background="w")
        self.plot.setLabel("bottom", "frame")
        self.plot.setLabel("left", "ROI flow (crop px)")
        self.plot.addLegend(offset=(5, 5))
        self.plot.setClipToView(True)
        self.plot.setDownsampling(auto=True, mode="peak")
        self.playhead = pg.InfiniteLine(pos=0, angle=90, pen=pg.mkPen("r", width=2))
        self.plot.addItem(self.playhead)
        self.plot.scene().sigMouseClicked.connect(self._plot_clicked)
        if features is not None:
            self._add_curves(features)
        split = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        top = QtWidgets.QWidget()
        lay = QtWidgets.QVBoxLayout(top)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.view, 1)
        lay.addWidget(self.slider)
        split.addWidget(top)
        split.addWidget(self.plot)
        split.setSizes([480, 260])
        self.setCentralWidget(split)
        self.frame_label = QtWidgets.QLabel()
        self.statusBar().addPermanentWidget(self.frame_label)
        for key, step in ((QtCore.Qt.Key.Key_Right, 1), (QtCore.Qt.Key.Key_Left, -1)):
            QtGui.QShortcut(QtGui.QKeySequence(key), self, activated=lambda s=step: self.step(s))
            QtGui.QShortcut(QtGui.QKeySequence(QtCore.Qt.KeyboardModifier.ShiftModifier | key), self,
                            activated=lambda s=step: self.step(s * max(1, round(self.video.fps))))
        self.resize(900, 800)
        self.seek(0)

    def _add_curves(self, feats: FeatureSet) -> None:
        frames, curves = roi_magnitude_curves(feats)
        for i, (name, values) in enumerate(curves.items()):
            self.plot.plot(frames, values, pen=pg.mkPen(pg.intColor(i, hues=max(len(curves), 2)), width=1.5), name=name)

    def seek(self, index: int) -> None:
        """Show exactly frame ``index`` (clamped to the video)."""
        index = int(min(max(index, 0), self.video.n_frames - 1))
        if index == self.index:
            return
        self.index = index
        self.view.show_frame(self.video.frame(index))
        self.playhead.setValue(index)
        if self.slider.value() != index:
            self.slider.blockSignals(True)
            self.slider.setValue(index)
            self.slider.blockSignals(False)
        t = float(self.video.timestamps[index])
        self.frame_label.setText(f"frame {index} / {self.video.n_frames - 1}   {t:8.3f} s   {self.video.fps:.2f} fps")

    def step(self, n: int) -> None:
        self.seek(self.index + n)

    def _plot_clicked(self, event) -> None:  # type: ignore[no-untyped-def]
        pos = self.plot.plotItem.vb.mapSceneToView(event.scenePos())
        self.seek(int(round(pos.x())))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="metst-gui", description="Frame-accurate viewer with ROI flow curves.",
                                     epilog="examples:\n  metst-gui --demo\n  metst-gui interview.mp4 --features interview.npz",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("video", nargs="?", help="video file or frame folder")
    parser.add_argument("--features", help=".npz written by `metst extract` for this video")
    parser.add_argument("--fps", type=float, default=None)
    parser.add_argument("--demo", action="store_true", help="open the bundled demo video with its features")
    args = parser.parse_args(argv)
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    try:
        if args.demo:
            from metst_engine.extraction import extract_video
            from metst_engine.features import ExtractParams
            from metst_engine.resources_path import resource_path

            path = Path(str(resource_path("demo", "demo_face.mp4")))
            feats: FeatureSet | None = extract_video(path, ExtractParams(rois="metst", window=30))
        elif args.video:
            path = Path(args.video)
            feats = FeatureSet.load(args.features) if args.features else None
        else:
            parser.print_help(sys.stderr)
            return 2
        video = open_video(path, fps=args.fps)
    except MetstError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    win = ViewerWindow(video, feats)
    win.show()
    return int(app.exec())


if __name__ == "__main__":
    sys.exit(main())
