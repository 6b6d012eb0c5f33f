"""``metst-gui``: the review workspace for a project folder, or a frame-accurate player for one video.

``metst-gui`` alone shows the welcome view (New / Open / recent projects / the demo);
``metst-gui PROJECT_DIR`` / ``--demo`` open :class:`~metst_gui.shell.main_window.MainWindow`;
``metst-gui VIDEO`` opens the video in its own project (kept in the user's data folder, see
:mod:`metst_engine.project.scratch`) and analyzes it; ``metst-gui VIDEO --features/--curves``
opens the single-video viewer (:class:`~metst_gui.player.viewer.ViewerWindow`) on those files.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PySide6 import QtWidgets

from metst_engine.curves_file import Curves
from metst_engine.errors import MetstError
from metst_engine.features import FeatureSet
from metst_engine.video import open_video
from metst_gui.player.viewer import ViewerWindow
from metst_gui.shell.app_icon import app_icon
from metst_gui.shell.launcher import Launcher


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="metst-gui", description="Review workspace for a metst project (or a player for one video).",
        epilog="examples:\n  metst-gui                        (welcome: new / open project)\n  metst-gui --demo"
               "\n  metst-gui interviews/            (a project folder)"
               "\n  metst-gui interview.mp4          (one video: analyzed, its reviews kept for next time)"
               "\n  metst-gui interview.mp4 --features interview.npz"
               "\n  metst-gui interview.mp4 --curves interview_curves.npz",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", nargs="?", help="project folder, or a video file / frame folder to analyze and "
                                                  "review on its own (none: the welcome view)")
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
    if target is not None and (args.features or args.curves):
        return _run_viewer(app, target, args)
    launcher = Launcher(annotator=args.annotator, proxy=not args.no_proxy,
                        read_only=True if args.read_only else None, parent=app)
    try:
        if args.demo:
            from metst_gui.project.demo_project import ensure_demo_project

            target = ensure_demo_project(target, annotator=args.annotator,
                                         progress=lambda msg: print(f"demo project: {msg}", file=sys.stderr))
        if target is None:
            launcher.show_welcome()
            return int(app.exec())
        win = (launcher.open_project(target, raise_errors=True) if _is_project(target)
               else launcher.open_video(target, fps=args.fps))
    except MetstError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.smoke_test and win is not None:
        from metst_gui.shell.smoke_test import run_smoke_test

        return run_smoke_test(win, Path(args.smoke_test))
    return int(app.exec())


def _is_project(path: Path) -> bool:
    from metst_engine.project import DB_NAME

    return path.suffix == ".sqlite" or (path / DB_NAME).is_file()


def _run_viewer(app: QtWidgets.QApplication, target: Path, args: argparse.Namespace) -> int:
    """``metst-gui VIDEO --features F.npz / --curves C.npz``: the player over those files' curves."""
    try:
        feats = FeatureSet.load(args.features) if args.features else None
        curves = Curves.load(args.curves) if args.curves else None
        video = open_video(target, fps=args.fps)
    except MetstError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    win = ViewerWindow(video, feats, curves=curves, proxy=not args.no_proxy)
    win.show()
    return int(app.exec())


if __name__ == "__main__":
    sys.exit(main())
