"""Screenshots of the real app for README.md and docs/user-guide.md, and the guide's keyboard table.

    QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1600x1000x24" python docs/make_screenshots.py
    (or with QT_QPA_PLATFORM=offscreen: the same pictures through QWidget.grab)

Builds the demo project (3 synthetic subjects, ground truth as annotator "dataset", the
model-free spotter's predictions) and a tiny finished training run in build/screenshots/
(reused by later calls), opens the real MainWindow on them, reviews a few intervals as
annotator "alice", and saves into docs/images/: the review workspace, the help overlay,
the training panel with the run's results, the export dialog and the agreement view.
Rewrites the keyboard table in docs/user-guide.md from metst_gui/shell/shortcuts.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WORK = ROOT / "build" / "screenshots"
IMAGES = ROOT / "docs" / "images"
GUIDE = ROOT / "docs" / "user-guide.md"
MAX_BYTES = 300_000
TINY_MODEL = {"depth": 1, "dim": 16}
WAIT_S = 120

os.environ.setdefault("METST_CACHE_DIR", str(WORK / "feature-cache"))

from PySide6 import QtCore, QtGui, QtWidgets

from metst_engine.project import Project
from metst_gui.project.demo_project import ensure_demo_project
from metst_gui.shell.keyboard_table import with_table
from metst_gui.shell.main_window import MainWindow


def wait_until(app: QtWidgets.QApplication, ready, what: str, timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        if time.monotonic() > deadline:
            raise SystemExit(f"error: timed out waiting for {what}")
        app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 50)
        time.sleep(0.02)


def settle(app: QtWidgets.QApplication, ms: int = 300) -> None:
    end = time.monotonic() + ms / 1000
    wait_until(app, lambda: time.monotonic() > end, "the window to settle")


def shoot(widget: QtWidgets.QWidget, name: str) -> Path:
    """The widget as the screen shows it (xcb) or as it renders itself (offscreen), saved under ``MAX_BYTES``."""
    widget.raise_()
    QtWidgets.QApplication.processEvents()
    if QtGui.QGuiApplication.platformName() == "xcb":
        geo = widget.frameGeometry()
        pixmap = QtGui.QGuiApplication.primaryScreen().grabWindow(0, geo.x(), geo.y(), geo.width(), geo.height())
    else:
        pixmap = widget.grab()
    path = IMAGES / name
    image = pixmap.toImage()
    image.save(str(path), "PNG", 9)
    if path.stat().st_size > MAX_BYTES:      # photos of faces compress badly: 256 colours are plenty for a UI
        image.convertToFormat(QtGui.QImage.Format.Format_Indexed8).save(str(path), "PNG", 9)
    print(f"{path.relative_to(ROOT)}: {image.width()}x{image.height()}, {path.stat().st_size // 1024} KB")
    return path


def tiny_training_run(manifest: Path) -> Path:
    """A finished LOSO run (3 folds + final) of a tiny ME-TST on the demo's ground truth, made by
    ``metst train`` with its log in ``train.log`` as the panel would; built once."""
    run = WORK / "run-tiny"
    if (run / "metrics.json").is_file():
        return run
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    command = [sys.executable, "-m", "metst_engine.cli", "train", "--dataset", str(manifest), "--model", "metst",
               "--loso", "-o", str(run), "--window", "30", "--epochs", "3", "--batch", "16", "--seed", "0",
               "--model-overrides", json.dumps(TINY_MODEL)]
    print("training a tiny model for the training panel screenshot", file=sys.stderr)
    with open(run / "train.log", "w", encoding="utf-8") as log:
        subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=True, cwd=ROOT,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    return run


def click_row(win: MainWindow, interval_id: int) -> None:
    """Select a table row the way a click does (the table announces it; the player seeks to its onset)."""
    win.table.selectRow(win.table.interval_model.row_of(interval_id))


def review_a_few(win: MainWindow, app: QtWidgets.QApplication):
    """Open the busiest demo video, accept one prediction, reject one, select a third at its onset."""
    win.browser.select_video(win.project.video("s03_v01").id)
    wait_until(app, lambda: win.player is not None and win.player.shown_index >= 0, "the first frame")
    pending = [r for r in win.table.interval_model.records if r.state == "pending"]
    if len(pending) >= 3:                                  # every review colour on show
        click_row(win, pending[0].id)
        win.session.accept()
        click_row(win, pending[1].id)
        win.session.reject()
    target = next(r for r in win.table.interval_model.records if r.state == "pending")
    click_row(win, target.id)
    wait_until(app, lambda: win.player.shown_index == target.onset and win.player.shown_exact, "the onset frame")
    return target


def main() -> int:
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    from metst_gui.shell.app_icon import app_icon

    app.setWindowIcon(app_icon())
    IMAGES.mkdir(parents=True, exist_ok=True)
    WORK.mkdir(parents=True, exist_ok=True)
    GUIDE.write_text(with_table(GUIDE.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"{GUIDE.relative_to(ROOT)}: keyboard table written")

    source = ensure_demo_project(WORK / "demo-source", progress=lambda msg: print(f"demo project: {msg}",
                                                                                  file=sys.stderr))
    folder = WORK / "demo-project"                         # a fresh copy: the same edits in every run
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(source, folder)
    settings = QtCore.QSettings(str(WORK / "gui.ini"), QtCore.QSettings.Format.IniFormat)
    settings.clear()                                       # default layout and keys in every picture
    project = Project.open(folder, annotator="alice", read_only=False)
    win = MainWindow(project, settings, proxy=False, owns_project=True)
    win.move(0, 0)
    win.resize(1400, 900)
    win.show()
    settle(app)

    review_a_few(win, app)
    settle(app, 500)
    shoot(win, "review-workspace.png")

    win.overlay.toggle()
    settle(app)
    shoot(win, "keyboard-overlay.png")
    win.overlay.toggle()

    from metst_gui.project.export_dialog import ExportDialog
    export = ExportDialog(win.project, win.session.video, win)
    export.set_format("EAF (ELAN)")
    export.path_edit.setText(str(Path("~/interviews/s03_v01.eaf")))   # what a user would type, not the build folder
    export.show()
    settle(app)
    shoot(export, "export-dialog.png")
    export.close()

    from metst_gui.review.agreement_view import AgreementView
    agreement = AgreementView(win.project, win)
    agreement.a_box.setCurrentText("alice")
    agreement.b_box.setCurrentText("dataset")
    agreement.show()
    settle(app)
    shoot(agreement, "agreement-view.png")
    agreement.close()

    sources = win.refresh_label_sources()
    run = tiny_training_run(sources["Imported ground truth"])
    win.tabs.setCurrentWidget(win.training_page)
    if not win.training.attach(run):
        raise SystemExit(f"error: the training panel did not open {run}")
    wait_until(app, lambda: win.training.outcome is not None and not win.training.results.is_loading()
               and win.training.results.report is not None, "the run's results")
    win.training.tabs.setCurrentWidget(win.training.results)
    settle(app, 800)
    shoot(win, "training-panel.png")
    win.training.tabs.setCurrentWidget(win.training.progress_page)
    settle(app, 500)
    shoot(win, "training-progress.png")

    win.tabs.setCurrentWidget(win.splitter)
    win.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
