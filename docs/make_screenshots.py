"""Screenshots of the real app for README.md and docs/user-guide.md, and the guide's keyboard table.

    QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1600x1000x24" python docs/make_screenshots.py
    (or with QT_QPA_PLATFORM=offscreen: the same pictures through QWidget.grab, without the tooltip)

Builds the demo project (3 synthetic subjects, ground truth as annotator "dataset", the
model-free spotter's predictions), a tiny finished training run, an empty project and a folder
of recordings in build/screenshots/ (the demo and the run are reused by later calls). Then it
uses the app as a user would, through the launcher, real key and mouse events and the menus'
actions: the welcome window; the empty project opened from the recent list, a folder dropped
on it (the add-videos dialog); the demo project opened from File → Open recent, a few
intervals reviewed as annotator "alice" (the review workspace, the F1 overlay, Mark complete
while intervals are pending, the tooltip of a rejected peak, the export dialog, the agreement
view); the Training tab with the run picked in Past runs (results, progress). Every picture is
saved into docs/images/ under ``MAX_BYTES`` (quantized to 256 colours when it is bigger, the
same way in every run). Rewrites the keyboard table in docs/user-guide.md from
metst_gui/shell/shortcuts.py.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WORK = ROOT / "build" / "screenshots"
IMAGES = ROOT / "docs" / "images"
GUIDE = ROOT / "docs" / "user-guide.md"
MAX_BYTES = 300_000
TINY_MODEL = {"depth": 1, "dim": 16}
WAIT_S = 120
WINDOW = (1600, 1000)                                   # the Xvfb screen: a window without frame fills it

os.environ.setdefault("METST_CACHE_DIR", str(WORK / "feature-cache"))

from PIL import Image
from PySide6 import QtCore, QtGui, QtWidgets
from PySide6.QtTest import QTest

from metst_engine.project import Project
from metst_gui.project.demo_project import ensure_demo_project
from metst_gui.shell.keyboard_table import with_table
from metst_gui.shell.launcher import Launcher
from metst_gui.shell.main_window import MainWindow

LEFT = QtCore.Qt.MouseButton.LeftButton
Key = QtCore.Qt.Key


def wait_until(app: QtWidgets.QApplication, ready, what: str, timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        if time.monotonic() > deadline:
            raise SystemExit(f"error: timed out waiting for {what}")
        app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 50)
        # what app.exec() would do: delete the widgets given up (a closed video's player), else one that is
        # shown again by accident stays on screen as a stray window
        QtCore.QCoreApplication.sendPostedEvents(None, QtCore.QEvent.Type.DeferredDelete.value)
        time.sleep(0.02)


def settle(app: QtWidgets.QApplication, ms: int = 300) -> None:
    end = time.monotonic() + ms / 1000
    wait_until(app, lambda: time.monotonic() > end, "the window to settle")


# ---------------------------------------------------------------------- grabbing and saving
def save_small(image: QtGui.QImage, name: str) -> Path:
    """Save under ``MAX_BYTES``: as it is when it fits, else quantized to 256 colours (plenty for a UI; photos
    of faces compress badly), else also scaled down. The same picture gives the same file in every run.
    (Octree, not median cut: median cut spends the palette on the face and merges the curves' and the
    legend's colours.)"""
    buffer = QtCore.QBuffer()
    buffer.open(QtCore.QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    picture = Image.open(io.BytesIO(bytes(buffer.data()))).convert("RGB")
    (WORK / "full-colour").mkdir(exist_ok=True)
    picture.save(WORK / "full-colour" / name)              # as grabbed, to compare with
    path = IMAGES / name
    picture.save(path, optimize=True)
    scale = 1.0
    while path.stat().st_size > MAX_BYTES:
        size = (round(picture.width * scale), round(picture.height * scale))
        smaller = picture if scale == 1.0 else picture.resize(size, Image.Resampling.LANCZOS)
        smaller.quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(path, optimize=True)
        scale -= 0.1
    print(f"{path.relative_to(ROOT)}: {image.width()}x{image.height()}, {path.stat().st_size // 1024} KB"
          + ("" if scale == 1.0 else f" (256 colours{'' if scale > 0.85 else f', scaled to {scale + 0.1:.1f}'})"))
    return path


def screen_rect(rect: QtCore.QRect, name: str, widget: QtWidgets.QWidget) -> Path:
    """What the screen shows in ``rect`` (global coordinates) on xcb; the widget rendering itself on offscreen."""
    QtWidgets.QApplication.processEvents()
    if QtGui.QGuiApplication.platformName() == "xcb":
        pixmap = QtGui.QGuiApplication.primaryScreen().grabWindow(0, rect.x(), rect.y(), rect.width(), rect.height())
    else:
        pixmap = widget.grab()
    return save_small(pixmap.toImage(), name)


def shoot(widget: QtWidgets.QWidget, name: str) -> Path:
    """The widget's window (frame included) as the screen shows it."""
    widget.raise_()
    return screen_rect(widget.frameGeometry(), name, widget)


def while_modal(app: QtWidgets.QApplication, open_it: Callable[[], object],
                handle: Callable[[QtWidgets.QWidget], None]) -> None:
    """Run ``open_it`` (a menu action that shows a modal dialog and waits); ``handle(dialog)`` is called once
    the dialog is up and must close it. A failure closes the dialog and is raised after it."""
    problems: list[BaseException] = []
    handled: list[bool] = []

    def poll() -> None:
        dialog = QtWidgets.QApplication.activeModalWidget()
        if dialog is None or not dialog.isVisible():
            QtCore.QTimer.singleShot(20, poll)
            return
        try:
            settle(app, 400)
            handle(dialog)
        except BaseException as exc:          # noqa: BLE001  (raised again below, once exec() returned)
            problems.append(exc)
            dialog.close()
        handled.append(True)

    QtCore.QTimer.singleShot(0, poll)
    open_it()
    if problems:
        raise problems[0]
    if not handled:
        raise SystemExit("error: the dialog did not come up")


def click(widget: QtWidgets.QWidget, pos: QtCore.QPoint | None = None, double: bool = False) -> None:
    """A left click (a double click: a click, then QTest's second press as a double click, as Qt 6 wants it)."""
    pos = pos if pos is not None else widget.rect().center()
    QTest.mouseClick(widget, LEFT, QtCore.Qt.KeyboardModifier.NoModifier, pos)
    if double:
        QTest.mouseDClick(widget, LEFT, QtCore.Qt.KeyboardModifier.NoModifier, pos)


def menu_action(win: QtWidgets.QMainWindow, text: str) -> QtGui.QAction:
    """The menu bar's action of that text (``&`` ignored)."""
    for menu in win.menuBar().findChildren(QtWidgets.QMenu) + win.findChildren(QtWidgets.QMenu):
        for action in menu.actions():
            if action.text().replace("&", "") == text:
                return action
    raise SystemExit(f"error: no menu item {text!r}")


# ---------------------------------------------------------------------- what the pictures need
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


def demo_project_with_a_run() -> Path:
    """A fresh copy of the demo project (the same edits in every run) with the tiny training run in its
    ``runs/`` folder, where a run started from the Training tab goes."""
    from metst_engine.runs import RunFolder

    source = ensure_demo_project(WORK / "demo-source", progress=lambda msg: print(f"demo project: {msg}",
                                                                                  file=sys.stderr))
    folder = WORK / "demo-project"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(source, folder)
    with Project.open(folder, annotator="alice", read_only=False) as project:
        manifest = project.cache_dir / "training" / "imported_ground_truth.csv"   # where the Training tab writes it
        manifest.parent.mkdir(parents=True, exist_ok=True)
        project.training_manifest(manifest, include_ground_truth=True, reviewed=False)
    run = tiny_training_run(manifest)
    target = RunFolder.create_new(folder / "runs", "metst", "Imported ground truth").path
    shutil.copytree(run, target, dirs_exist_ok=True)
    return folder


def empty_project_and_recordings() -> tuple[Path, Path]:
    """An empty project ``interviews`` and a folder of recordings, one subfolder per participant."""
    interviews, recordings = WORK / "interviews", WORK / "recordings"
    for folder in (interviews, recordings):
        shutil.rmtree(folder, ignore_errors=True)
    Project.create(interviews, annotator="alice").close()
    clip = WORK / "demo-source" / "videos" / "s01" / "s01_v01.mp4"
    for subject, session in (("p01", "intake"), ("p01", "followup"), ("p02", "intake"), ("p03", "intake")):
        (recordings / subject).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(clip, recordings / subject / f"{subject}_{session}.mp4")
    return interviews, recordings


def project_window(app: QtWidgets.QApplication, launcher: Launcher, folder: Path) -> MainWindow:
    found: list[MainWindow] = []

    def opened() -> bool:
        found[:] = [w for w in launcher.project_windows() if w.project.folder.resolve() == folder.resolve()]
        return bool(found)

    wait_until(app, opened, f"a window on {folder}")
    win = found[0]
    win.move(0, 0)
    win.resize(*WINDOW)
    win.activateWindow()
    settle(app, 500)
    return win


# ---------------------------------------------------------------------- the pictures
def first_start(app: QtWidgets.QApplication, launcher: Launcher, interviews: Path, recordings: Path) -> MainWindow:
    """The welcome window; the empty project opened from its recent list; a folder of recordings dropped on it."""
    welcome = launcher.show_welcome()
    welcome.move(0, 0)
    settle(app, 500)
    shoot(welcome, "welcome.png")
    recent = welcome.recent_list
    row = next(i for i in range(recent.count()) if recent.item(i).text() == str(interviews))
    click(recent.viewport(), recent.visualItemRect(recent.item(row)).center(), double=True)
    win = project_window(app, launcher, interviews)

    data = QtCore.QMimeData()
    data.setUrls([QtCore.QUrl.fromLocalFile(str(recordings))])
    where = QtCore.QPointF(win.rect().center())
    for kind in (QtCore.QEvent.Type.DragEnter, QtCore.QEvent.Type.Drop):   # the file manager's drag, then the drop
        cls = QtGui.QDragEnterEvent if kind == QtCore.QEvent.Type.DragEnter else QtGui.QDropEvent
        event = cls(where.toPoint() if cls is QtGui.QDragEnterEvent else where, QtCore.Qt.DropAction.CopyAction,
                    data, LEFT, QtCore.Qt.KeyboardModifier.NoModifier)
        QtWidgets.QApplication.sendEvent(win, event)
    dialog = win.project_actions.dialog
    wait_until(app, lambda: dialog is not None and dialog.isVisible(), "the add-videos dialog")
    subjects = [dialog.table.item(r, 0).text() for r in range(dialog.table.rowCount())]
    if subjects != ["p01", "p01", "p02", "p03"]:
        raise SystemExit(f"error: the add-videos dialog shows subjects {subjects}")
    settle(app, 400)
    shoot(dialog, "add-videos.png")
    cancel = dialog.findChild(QtWidgets.QDialogButtonBox).button(QtWidgets.QDialogButtonBox.StandardButton.Cancel)
    click(cancel)
    wait_until(app, lambda: not dialog.isVisible(), "the add-videos dialog to close")
    return win


def open_from_recent(app: QtWidgets.QApplication, launcher: Launcher, win: MainWindow, folder: Path) -> MainWindow:
    """File → Open recent → the folder, as the menu does it."""
    menu = win.findChild(QtWidgets.QMenu, "recentMenu")
    menu.aboutToShow.emit()
    action = next(a for a in menu.actions() if a.text() == str(folder))
    action.trigger()
    return project_window(app, launcher, folder)


def click_row(win: MainWindow, interval_id: int) -> None:
    """Click the interval's row in the table (the player seeks to its onset)."""
    table = win.table
    index = table.model().index(table.interval_model.row_of(interval_id), 0)
    table.scrollTo(index)
    click(table.viewport(), table.visualRect(index).center())


def review_a_few(app: QtWidgets.QApplication, win: MainWindow):
    """Open the busiest demo video, accept one prediction (A), reject one (R), click a third (at its onset)."""
    win.browser.select_video(win.project.video("s03_v01").id)
    wait_until(app, lambda: win.player is not None and win.player.shown_index >= 0, "the first frame")
    wait_until(app, lambda: QtWidgets.QApplication.activeWindow() is win, "the window to be active")
    pending = [r for r in win.table.interval_model.records if r.state == "pending"]
    for record, key, state in ((pending[0], Key.Key_A, "accepted"), (pending[1], Key.Key_R, "rejected")):
        click_row(win, record.id)
        QTest.keyClick(win.table, key)
        wait_until(app, lambda r=record, s=state: win.project.interval(r.id).state == s, f"the {state} interval")
    target = next(r for r in win.table.interval_model.records if r.state == "pending")
    click_row(win, target.id)
    wait_until(app, lambda: win.player.shown_index == target.onset and win.player.shown_exact, "the onset frame")
    return target


def mark_complete_with_pending(app: QtWidgets.QApplication, win: MainWindow) -> None:
    """Review → Mark video review complete while intervals are pending: the dialog, then Cancel."""
    def handle(dialog: QtWidgets.QWidget) -> None:
        if dialog.objectName() != "pendingDialog":
            raise SystemExit(f"error: expected the pending dialog, got {dialog.windowTitle()!r}")
        shoot(dialog, "complete-with-pending.png")
        click(dialog.findChild(QtWidgets.QPushButton, "cancelComplete"))

    while_modal(app, win.complete_action.trigger, handle)
    if win.session.video.complete or win.complete_action.isChecked():
        raise SystemExit("error: Cancel marked the video complete")


def rejected_peak_hint(app: QtWidgets.QApplication, win: MainWindow) -> None:
    """The mouse over a rejected peak's marker: the curves with the engine's reason in a tooltip."""
    timeline = win.timeline
    candidates = []                                    # (outside every interval, score, video, peak)
    for vid in win.browser.video_ids():
        win.browser.select_video(vid)
        spans = [(r.onset, r.offset) for r in win.table.interval_model.records]
        candidates += [(all(not a <= p.apex <= b for a, b in spans), p.score, vid, p)
                       for p in timeline.rejected_hints.peaks]
    if not candidates:
        raise SystemExit("error: no video shows a rejected peak")
    *_, vid, peak = max(candidates, key=lambda c: c[:2])   # a clear one: a peak no interval covers
    win.browser.select_video(vid)
    wait_until(app, lambda: win.player is not None and win.player.shown_index >= 0, "the video")
    if timeline.follow_box.isChecked():
        click(timeline.follow_box)                     # untick Follow playhead, then zoom in
    timeline.set_x_range(max(peak.apex - 70, 0), peak.apex + 70)
    settle(app, 500)
    vb = timeline.plots["spotting"].getViewBox()
    view = timeline.graphics
    for dx in (3, 0):                                  # two moves: pyqtgraph passes on at most one per frame
        scene = vb.mapViewToScene(QtCore.QPointF(peak.apex + dx, peak.score))
        QTest.mouseMove(view.viewport(), view.mapFromScene(scene))
        settle(app, 200)
    wait_until(app, lambda: timeline.rejected_hints.hover_text != "" and QtWidgets.QToolTip.isVisible(),
               "the rejected peak's tooltip")
    settle(app, 300)
    area = QtCore.QRect(timeline.mapToGlobal(QtCore.QPoint(0, 0)), timeline.size())
    for tip in QtWidgets.QApplication.topLevelWidgets():
        if tip.inherits("QTipLabel") and tip.isVisible():
            area = area.united(tip.frameGeometry())
    print(f"tooltip: {timeline.rejected_hints.hover_text}")
    screen_rect(area, "rejected-peak-hint.png", timeline)
    QTest.mouseMove(view.viewport(), QtCore.QPoint(5, 5))
    QtWidgets.QToolTip.hideText()


def small_window(app: QtWidgets.QApplication, win: MainWindow) -> None:
    """The smallest window (800 x 600), then back to the full size: the workspace shot after it shows
    that the proportions come back."""
    size = win.size()
    win.resize(800, 600)
    settle(app, 500)
    shoot(win, "small-window.png")
    win.resize(size)
    settle(app, 500)


def workspace_pictures(app: QtWidgets.QApplication, win: MainWindow) -> None:
    review_a_few(app, win)
    small_window(app, win)
    shoot(win, "review-workspace.png")

    QTest.keyClick(win, Key.Key_F1)
    wait_until(app, win.overlay.isVisible, "the keyboard overlay")
    settle(app)
    shoot(win, "keyboard-overlay.png")
    QTest.keyClick(win.overlay, Key.Key_Escape)
    wait_until(app, lambda: not win.overlay.isVisible(), "the overlay to close")

    mark_complete_with_pending(app, win)

    def export(dialog: QtWidgets.QWidget) -> None:
        dialog.set_format("EAF (ELAN)")
        dialog.path_edit.setText(str(Path("~/interviews/s03_v01.eaf")))   # what a user would type
        settle(app)
        shoot(dialog, "export-dialog.png")
        dialog.reject()

    while_modal(app, menu_action(win, "Export…").trigger, export)

    def agreement(dialog: QtWidgets.QWidget) -> None:
        dialog.a_box.setCurrentText("alice")
        dialog.b_box.setCurrentText("dataset")
        settle(app)
        shoot(dialog, "agreement-view.png")
        dialog.reject()

    while_modal(app, menu_action(win, "Annotator agreement…").trigger, agreement)
    rejected_peak_hint(app, win)


def training_pictures(app: QtWidgets.QApplication, win: MainWindow) -> None:
    """The Training tab; the run picked in Past runs shows its results, then its progress page."""
    bar = win.tabs.tabBar()
    click(bar, bar.tabRect(win.tabs.indexOf(win.training_page)).center())
    panel = win.training
    table = panel.history.table
    wait_until(app, lambda: table.rowCount() == 1, "the run in Past runs")
    click(table.viewport(), table.visualRect(table.model().index(0, 0)).center())
    wait_until(app, lambda: panel.outcome is not None and not panel.results.is_loading()
               and panel.results.report is not None, "the run's results")
    panel.tabs.setCurrentWidget(panel.results)
    settle(app, 800)
    strays = [w for w in QtWidgets.QApplication.topLevelWidgets() if w.isVisible() and w is not win]
    if strays:
        raise SystemExit(f"error: windows over the picture: {strays}")
    shoot(win, "training-panel.png")
    tabs = panel.tabs.tabBar()
    click(tabs, tabs.tabRect(panel.tabs.indexOf(panel.progress_page)).center())
    settle(app, 500)
    shoot(win, "training-progress.png")
    click(bar, bar.tabRect(0).center())


def main() -> int:
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    from metst_gui.shell.app_icon import app_icon

    app.setWindowIcon(app_icon())
    IMAGES.mkdir(parents=True, exist_ok=True)
    WORK.mkdir(parents=True, exist_ok=True)
    GUIDE.write_text(with_table(GUIDE.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"{GUIDE.relative_to(ROOT)}: keyboard table written")

    demo = demo_project_with_a_run()
    interviews, recordings = empty_project_and_recordings()
    settings = QtCore.QSettings(str(WORK / "gui.ini"), QtCore.QSettings.Format.IniFormat)
    settings.clear()                                       # default layout and keys in every picture
    launcher = Launcher(settings, annotator="alice", proxy=False)
    for folder in (demo, interviews):                      # the recent list: the empty project first
        launcher.recent.add(folder)

    win = first_start(app, launcher, interviews, recordings)
    win = open_from_recent(app, launcher, win, demo)
    workspace_pictures(app, win)
    training_pictures(app, win)
    win.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
