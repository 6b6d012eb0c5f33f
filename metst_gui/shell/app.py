"""``metst-gui``: the review workspace for a project folder, or a frame-accurate player for one video.

``metst-gui PROJECT_DIR`` / ``--demo`` open :class:`~metst_gui.main_window.MainWindow`;
``metst-gui VIDEO`` keeps the single-video viewer below: the frame shown is always exactly
``VideoSource.frame(i)`` (decoded off the GUI thread by
:class:`~metst_gui.frame_provider.FrameProvider`), the curves are the engine's per-frame
arrays, and clicking or dragging on any curve seeks the video there.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from metst_engine.errors import MetstError
from metst_engine.features import FeatureSet
from metst_engine.video import VideoSource, open_video
from metst_gui.app_icon import app_icon
from metst_gui.curves_data import CurveData
from metst_gui.frame_provider import FrameProvider
from metst_gui.player import CropBox, Player
from metst_gui.timeline import IntervalMark, Timeline


def face_box_of(feats: FeatureSet) -> CropBox | None:
    """The median face crop over the windows (source pixels): what 'zoom to face' shows."""
    if feats.crop_boxes.size == 0:
        return None
    x0, y0, x1, y1 = np.median(feats.crop_boxes, axis=0)
    return float(x0), float(y0), float(x1), float(y1)


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
                 curves: CurveData | None = None, intervals: Sequence[IntervalMark] = (),
                 roi_groups: Mapping[str, str] | None = None, proxy: bool = False) -> None:
        super().__init__()
        self.video = video
        self.setWindowTitle(f"metst — {video.path.name}")
        self.provider = FrameProvider(video, proxy=proxy, parent=self)
        self.player = Player(video, self.provider)
        self.timeline = Timeline()
        self.timeline.set_length(video.n_frames, video.fps)
        if curves is None and features is not None:
            curves = CurveData.from_features(features)
        if curves is not None:
            self.timeline.set_spotting(curves.spotting, curves.threshold)
            self.timeline.set_recognition(curves.recognition, curves.class_names)
            if roi_groups is None and features is not None:
                roi_groups = roi_groups_of(features.params.get("roi_set"))
            self.timeline.set_flow(curves.flow, curves.channel_names, roi_groups)
        self.timeline.set_intervals(intervals)
        self.player.set_intervals(sorted({(m.onset, m.offset) for m in intervals}))
        if features is not None:
            self.player.set_face_box(face_box_of(features))

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

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        self.player.close_provider()
        self.provider.close()
        super().closeEvent(event)


def demo_intervals(path: Path, spotted: Sequence[tuple[int, int]]) -> list[IntervalMark]:
    """Ground truth from the demo's JSON beside the video plus the spotter's intervals (pending)."""
    marks = [IntervalMark(a, b, "pending", "pred") for a, b in spotted]
    meta = path.with_suffix(".json")
    if meta.is_file():
        for ev in json.loads(meta.read_text(encoding="utf-8")).get("events", []):
            marks.append(IntervalMark(int(ev["onset"]), int(ev["offset"]), "accepted", "gt"))
    return marks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="metst-gui", description="Review workspace for a metst project (or a player for one video).",
        epilog="examples:\n  metst-gui --demo\n  metst-gui interviews/            (a project folder)"
               "\n  metst-gui interview.mp4 --features interview.npz"
               "\n  metst-gui interview.mp4 --curves interview_curves.npz",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", nargs="?", help="project folder (metst project create), or a video file / frame "
                                                  "folder to view on its own")
    parser.add_argument("--features", help="video only: .npz written by `metst extract` for this video")
    parser.add_argument("--curves", help="video only: .npz written by `metst predict --curves` for this video")
    parser.add_argument("--fps", type=float, default=None)
    parser.add_argument("--annotator", default=None, help="name recorded on every edit (default: login name)")
    parser.add_argument("--read-only", action="store_true", help="open the project without editing")
    parser.add_argument("--no-proxy", action="store_true",
                        help="never build an all-intra preview proxy for long-GOP files")
    parser.add_argument("--demo", action="store_true",
                        help="open the demo project (synthetic faces, ground truth, predictions; built on first use "
                             "in $METST_DEMO_DIR or ~/.local/share/metst/demo-project)")
    parser.add_argument("--smoke-test", metavar="PNG", default=None,
                        help="check the install: open the demo project (or the given project), wait for an exact "
                             "frame, save a screenshot to PNG and exit (0 = it works)")
    args = parser.parse_args(argv)
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    app.setWindowIcon(app_icon())
    app.setDesktopFileName("metst")
    if args.smoke_test and args.target is None:
        args.demo = True
    target = Path(args.target) if args.target else None
    if args.demo or (target is not None and _is_project(target)):
        return _run_project(app, target, args)
    if target is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        feats = FeatureSet.load(args.features) if args.features else None
        curves = CurveData.load(args.curves) if args.curves else None
        video = open_video(target, fps=args.fps)
    except MetstError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    win = ViewerWindow(video, feats, curves=curves, proxy=not args.no_proxy)
    win.show()
    return int(app.exec())


def _is_project(path: Path) -> bool:
    from metst_engine.project import DB_NAME

    return path.suffix == ".sqlite" or (path / DB_NAME).is_file()


def _run_project(app: QtWidgets.QApplication, folder: Path | None, args: argparse.Namespace) -> int:
    from metst_engine.project import Project
    from metst_gui.main_window import MainWindow

    try:
        if args.demo:
            from metst_gui.demo_project import ensure_demo_project

            folder = ensure_demo_project(folder, annotator=args.annotator,
                                         progress=lambda msg: print(f"demo project: {msg}", file=sys.stderr))
        assert folder is not None
        project = Project.open(folder, annotator=args.annotator, read_only=True if args.read_only else None)
    except MetstError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    win = MainWindow(project, proxy=not args.no_proxy, owns_project=True)
    win.show()
    if args.smoke_test:
        from metst_gui.smoke_test import run_smoke_test

        return run_smoke_test(win, Path(args.smoke_test))
    return int(app.exec())


if __name__ == "__main__":
    sys.exit(main())
