"""The main window's layout under real resizes, drags and restarts (pytest-qt, a one-subject demo project).

Each test opens the real MainWindow with its own QSettings file; a "restart" is a new window
on the same file after ``close()`` (which saves the layout). Sizes are read from the widgets
after Qt has laid them out, never set by the test.
"""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import pytest
from project_support import demo_project
from PySide6 import QtCore, QtWidgets

from metst_engine.project import Project

WAIT_MS = 30_000
TOLERANCE_PX = 8
Key, Mod, Button = QtCore.Qt.Key, QtCore.Qt.KeyboardModifier, QtCore.Qt.MouseButton


@pytest.fixture(scope="module")
def demo_source(tmp_path_factory) -> Path:
    with demo_project(tmp_path_factory, subjects=1, seconds=4.0) as folder:
        yield folder


@pytest.fixture
def folder(demo_source, tmp_path) -> Path:
    return Path(shutil.copytree(demo_source, tmp_path / "project"))


@pytest.fixture
def ini(tmp_path) -> Path:
    return tmp_path / "gui.ini"


def make_window(qtbot, folder: Path, ini: Path, size: tuple[int, int] | None = (1600, 1000)):
    """The real window on the project, its video decoded; resized to ``size`` (None: as restored)."""
    from metst_gui.shell.main_window import MainWindow

    settings = QtCore.QSettings(str(ini), QtCore.QSettings.Format.IniFormat)
    win = MainWindow(Project.open(folder, annotator="alice", read_only=False), settings, proxy=False,
                     owns_project=True)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    win.activateWindow()
    qtbot.waitUntil(lambda: win.player is not None and win.player.shown_index >= 0, timeout=WAIT_MS)
    if size is not None:
        resize(qtbot, win, *size)
    return win


def resize(qtbot, win, width: int, height: int) -> None:
    win.resize(width, height)
    qtbot.wait(50)                       # resize and layout-request events delivered


def parts(win) -> dict[str, QtWidgets.QWidget]:
    """What the user sees of the review workspace."""
    return {"browser": win.browser_dock, "table": win.table_dock, "player": win.player, "curves": win.timeline,
            "menu": win.menuBar(), "tabs": win.tabs.tabBar(), "status": win.statusBar()}


def rects(win) -> dict[str, QtCore.QRect]:
    """Each visible part's rectangle in window coordinates."""
    return {name: QtCore.QRect(w.mapTo(win, QtCore.QPoint(0, 0)), w.size())
            for name, w in parts(win).items() if w.isVisible()}


def sizes(win) -> dict[str, tuple[int, int]]:
    return {name: (r.width(), r.height()) for name, r in rects(win).items()}


def assert_close(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for name, (ww, wh) in want.items():
        gw, gh = got[name]
        assert abs(gw - ww) <= TOLERANCE_PX and abs(gh - wh) <= TOLERANCE_PX, (name, got[name], want[name])


def visible_rows(table) -> int:
    """How many whole rows the table's viewport has room for."""
    return table.viewport().height() // table.verticalHeader().defaultSectionSize()


def drag(qtbot, widget, start: QtCore.QPoint, end: QtCore.QPoint) -> None:
    """A left-button drag with real mouse events (hover first: the main window picks separators on move;
    it moves them on a zero-time timer, so the event loop runs between moves as it does for a hand)."""
    qtbot.mouseMove(widget, start)
    qtbot.mousePress(widget, Button.LeftButton, pos=start)
    for k in range(1, 6):
        qtbot.mouseMove(widget, start + (end - start) * (k / 5))
        qtbot.wait(10)
    qtbot.mouseRelease(widget, Button.LeftButton, pos=end)
    qtbot.wait(50)


def dock_separator(win) -> QtCore.QPoint:
    """A point on the separator right of the left dock column (window coordinates)."""
    browser = win.browser_dock.geometry()
    central = win.centralWidget().geometry()
    return QtCore.QPoint((browser.right() + central.left()) // 2 + 1, browser.center().y())


def reset_from_the_view_menu(qtbot, win) -> None:
    """Alt+V opens View, L picks "Reset &layout" (what a keyboard user does)."""
    qtbot.keyClick(win, Key.Key_V, Mod.AltModifier)
    qtbot.waitUntil(lambda: QtWidgets.QApplication.activePopupWidget() is not None, timeout=WAIT_MS)
    qtbot.keyClick(QtWidgets.QApplication.activePopupWidget(), Key.Key_L)
    qtbot.wait(50)


# ------------------------------------------------------------------ shrink, grow, restart
def test_shrinking_and_growing_the_window_gives_the_space_back_also_after_a_restart(qtbot, folder, ini):
    win = make_window(qtbot, folder, ini)
    default = sizes(win)
    assert visible_rows(win.table) >= 8
    resize(qtbot, win, 800, 600)
    small = sizes(win)
    assert small["browser"][0] < default["browser"][0] and small["player"][1] < default["player"][1]
    resize(qtbot, win, 1600, 1000)
    assert_close(sizes(win), default)
    assert visible_rows(win.table) >= 8
    resize(qtbot, win, 800, 600)
    win.close()                                                         # saved at 800x600

    again = make_window(qtbot, folder, ini, size=None)                 # restart: restored as it was
    assert (again.width(), again.height()) == (800, 600)
    assert_close(sizes(again), small)
    resize(qtbot, again, 1600, 1000)
    assert_close(sizes(again), default)
    assert visible_rows(again.table) >= 8
    again.close()


def test_at_the_minimum_size_every_part_is_usable_and_nothing_overlaps(qtbot, folder, ini):
    from metst_gui.shell.layout import MIN_WINDOW

    win = make_window(qtbot, folder, ini)
    resize(qtbot, win, 560, 400)                                       # refused below the minimum
    assert win.size() == MIN_WINDOW
    shown = rects(win)
    assert set(shown) == set(parts(win))
    for (a, ra), (b, rb) in itertools.combinations(shown.items(), 2):
        assert not ra.intersects(rb), f"{a} {ra} overlaps {b} {rb}"
    for name, rect in shown.items():
        assert win.rect().contains(rect), f"{name} {rect} is cut by the window's edge"
        hint = parts(win)[name].minimumSizeHint()
        assert rect.width() >= hint.width() and rect.height() >= hint.height(), f"{name} squeezed below its minimum"
    view = win.player.view
    assert view.width() >= 160 and view.height() >= 120
    assert visible_rows(win.table) >= 3
    win.tabs.setCurrentWidget(win.training_page)                        # the training form scrolls instead
    qtbot.wait(50)
    panel = win.training
    assert panel.width() >= panel.minimumSizeHint().width() and panel.height() >= panel.minimumSizeHint().height()
    page = win.training_page                                            # what does not fit can be scrolled to
    overflow = panel.height() - page.viewport().height()
    assert page.verticalScrollBar().maximum() >= overflow, "part of the training form cannot be reached"
    win.close()


def test_dragged_proportions_are_kept_through_shrinking_and_a_restart(qtbot, folder, ini):
    win = make_window(qtbot, folder, ini)
    start = dock_separator(win)
    drag(qtbot, win, start, start + QtCore.QPoint(-160, 0))             # a narrower left column
    handle = win.splitter.handle(1)
    centre = handle.rect().center()
    drag(qtbot, handle, centre, centre + QtCore.QPoint(0, 120))       # a taller player
    dragged = sizes(win)
    assert dragged["browser"][0] < 400 and dragged["player"][1] > 620
    resize(qtbot, win, 800, 600)
    resize(qtbot, win, 1600, 1000)
    assert_close(sizes(win), dragged)
    win.close()
    again = make_window(qtbot, folder, ini)
    assert_close(sizes(again), dragged)
    again.close()


# ------------------------------------------------------------------ reset and validation
def test_view_reset_layout_restores_the_default_and_forgets_the_saved_one(qtbot, folder, ini):
    win = make_window(qtbot, folder, ini)
    default = sizes(win)
    start = dock_separator(win)
    drag(qtbot, win, start, start + QtCore.QPoint(200, 0))
    win.table_dock.toggleViewAction().trigger()
    win.close()
    messed = make_window(qtbot, folder, ini)
    assert not messed.table_dock.isVisible() and messed.browser_dock.width() > default["browser"][0] + 100
    reset_from_the_view_menu(qtbot, messed)
    assert_close(sizes(messed), default)
    area = QtCore.Qt.DockWidgetArea.LeftDockWidgetArea
    assert messed.dockWidgetArea(messed.browser_dock) == messed.dockWidgetArea(messed.table_dock) == area
    assert not QtCore.QSettings(str(ini), QtCore.QSettings.Format.IniFormat).contains("window/state")
    assert "Layout reset" in messed.statusBar().currentMessage()
    messed.close()
    assert_close(sizes(make_window(qtbot, folder, ini)), default)


def garbage(settings: QtCore.QSettings) -> None:
    settings.setValue("window/geometry", QtCore.QByteArray(b"\x01not a geometry"))
    settings.setValue("window/state", QtCore.QByteArray(b"\xff" * 40))
    settings.setValue("window/proportions", "{not json")
    settings.setValue("window/saved_size", "1600x1000")
    settings.setValue("window/tab", "seven")


def foreign_types(settings: QtCore.QSettings) -> None:
    settings.setValue("window/geometry", "hello")
    settings.setValue("window/state", 42)
    settings.setValue("window/proportions", '{"docks": {"projectDock": [0.3, 0.3]}, "player": "x"}')
    settings.setValue("window/saved_size", [1, 2])


def tiny(settings: QtCore.QSettings) -> None:
    """What an older metst left after a session at 560 x 400: squeezed docks, in pixels."""
    settings.setValue("window/proportions", '{"docks": {"projectDock": [0.01, 0.9], "intervalsDock": [0.3, 0.02]},'
                                            ' "player": 0.999}')
    settings.setValue("window/saved_size", "560x400")


@pytest.mark.parametrize("spoil", [garbage, foreign_types, tiny])
def test_a_corrupt_foreign_or_tiny_saved_layout_falls_back_to_the_default(qtbot, folder, tmp_path, spoil):
    clean = make_window(qtbot, folder, tmp_path / "clean.ini")
    default = sizes(clean)
    clean.close()
    ini = tmp_path / "spoiled.ini"
    settings = QtCore.QSettings(str(ini), QtCore.QSettings.Format.IniFormat)
    spoil(settings)
    settings.sync()
    win = make_window(qtbot, folder, ini)
    assert_close(sizes(win), default)
    assert win.tabs.currentIndex() == 0
    win.close()


def test_a_state_saved_by_the_old_bottom_table_layout_is_not_reapplied(qtbot, folder, ini):
    win = make_window(qtbot, folder, ini)
    default = sizes(win)
    win.addDockWidget(QtCore.Qt.DockWidgetArea.BottomDockWidgetArea, win.table_dock)
    settings = win.settings
    win.close()
    settings.setValue("window/state", win.saveState(0))                  # version 0: before this layout
    settings.sync()
    again = make_window(qtbot, folder, ini)
    assert again.dockWidgetArea(again.table_dock) == QtCore.Qt.DockWidgetArea.LeftDockWidgetArea
    assert_close(sizes(again), default)
    again.close()


# ------------------------------------------------------------------ the player: face first
def test_the_player_gets_the_largest_share_and_opens_zoomed_to_the_face(qtbot, folder, ini):
    win = make_window(qtbot, folder, ini)
    shown = sizes(win)
    assert shown["player"][1] / win.height() >= 0.45
    assert max(shown, key=lambda n: shown[n][0] * shown[n][1]) == "player"
    player = win.player
    assert player.face_box is not None and player.zoom_button.isChecked()
    x0, _, x1, _ = player.face_box
    assert player.view.visible_source_rect().width() == pytest.approx(x1 - x0)
    qtbot.keyClick(win.table, Key.Key_Z)                                 # the full frame, one key away
    assert not player.zoom_button.isChecked()
    assert player.view.visible_source_rect().width() == player.video.size[0]
    win.close()
    again = make_window(qtbot, folder, ini)                            # the choice is remembered
    assert again.player.face_box is not None and not again.player.zoom_button.isChecked()
    qtbot.keyClick(again.table, Key.Key_Z)
    assert again.player.zoom_button.isChecked()
    assert again.player.view.visible_source_rect().width() == pytest.approx(x1 - x0)
    again.close()
