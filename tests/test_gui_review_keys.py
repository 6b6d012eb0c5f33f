"""Review keys and edge dragging on the demo project (issue 19): PageUp / PageDown select, N takes the
interval under the playhead, edges are dragged frame by frame with the frame shown and the video
following, Delete / nudge keys, Cancel clears the time left, the table shows enough rows.

Real key and mouse events on the real widgets; what is asserted is what the store holds (re-read
through a fresh read-only ``Project.open``) and what the user sees.
"""

from __future__ import annotations

import pyqtgraph as pg
import test_gui_review as base
from PySide6 import QtCore, QtGui, QtWidgets
from test_gui_review import (
    WAIT_MS,
    click_row,
    drag_with_events,
    edge_point,
    open_busy_video,
    pending_rows,
    press,
    show_around,
    stored,
    stored_intervals,
)

from metst_gui.review.interval_table import MIN_ROWS_SHOWN

# the review workspace's fixtures (the demo project, a copy per test, the window)
demo_source, folder, settings, window = base.demo_source, base.folder, base.settings, base.window
Key = QtCore.Qt.Key
Mod = QtCore.Qt.KeyboardModifier
LEFT = QtCore.Qt.MouseButton.LeftButton
#: pyqtgraph ignores a mouse move that follows the last one within 1000 / mouseRateLimit ms
MOVE_GAP_MS = int(1000 / pg.getConfigOption("mouseRateLimit")) + 5


def lone_pending(window):
    """A pending interval no other interval starts at, with room before it."""
    records = window.table.interval_model.records
    onsets = [r.onset for r in records]
    return next(r for r in pending_rows(window) if onsets.count(r.onset) == 1 and r.onset > 0
                and r.offset - r.onset >= 3)


# ------------------------------------------------------------------ PageDown / PageUp / N select
def test_page_down_selects_the_interval_so_a_accepts_it(qtbot, window, folder):
    open_busy_video(window, qtbot)
    target = lone_pending(window)
    before = max((r.onset for r in window.table.interval_model.records if r.onset < target.onset), default=0)
    window.player.seek(before)
    assert window.session.selected is None
    press(qtbot, window, Key.Key_PageDown)
    assert window.player.index == target.onset
    assert window.session.selected == target.id and window.table.selected_id() == target.id
    assert window.timeline.selected_region is not None
    press(qtbot, window, Key.Key_A)
    assert stored(folder, target.id).state == "accepted"
    window.player.seek(target.offset + 1)
    press(qtbot, window, Key.Key_PageUp)                               # back to it: selected again
    assert window.player.index == target.onset and window.session.selected == target.id


def test_n_from_inside_a_pending_interval_selects_that_one(qtbot, window, folder):
    open_busy_video(window, qtbot)
    target = lone_pending(window)
    window.player.seek(target.onset - 1)
    press(qtbot, window, Key.Key_Right)
    press(qtbot, window, Key.Key_Right)                                # the playhead is inside, nothing selected
    assert target.onset < window.player.index <= target.offset and window.session.selected is None
    press(qtbot, window, Key.Key_N)
    assert window.session.selected == target.id and window.table.selected_id() == target.id
    press(qtbot, window, Key.Key_N)                                    # selected now: N moves on
    assert window.session.selected != target.id
    assert stored(folder, window.session.selected).state == "pending"


# ------------------------------------------------------------------ dragging an edge
def _select_in_view(qtbot, window):
    """The busy video open, a lone pending interval selected and shown with room around it; that interval."""
    open_busy_video(window, qtbot)
    target = lone_pending(window)
    click_row(qtbot, window.table, target.id)
    show_around(qtbot, window, target)
    return target


def test_dragging_an_onset_shows_the_frame_seeks_the_video_and_saves_one_edit(qtbot, window, folder):
    target = _select_in_view(qtbot, window)
    timeline, viewport = window.timeline, window.timeline.graphics.viewport()
    wanted = target.onset - 6
    start, end = edge_point(timeline, target.onset - 0.5), edge_point(timeline, wanted - 0.4)
    qtbot.mousePress(viewport, LEFT, pos=start)
    for k in range(1, 11):
        qtbot.wait(MOVE_GAP_MS)                      # pyqtgraph drops moves closer together than its rate limit
        qtbot.mouseMove(viewport, start + (end - start) * (k / 10))
    assert f"onset: frame {wanted} " in window.statusBar().currentMessage()   # during the drag
    assert timeline.edges.label.isVisible() and f"frame {wanted}" in timeline.edges.label.textItem.toPlainText()
    qtbot.waitUntil(lambda: window.player.index == wanted, timeout=WAIT_MS)   # the video follows the edge
    assert stored(folder, target.id).onset == target.onset              # nothing saved before the release
    qtbot.mouseRelease(viewport, LEFT, pos=end)
    after = stored(folder, target.id)
    assert (after.onset, after.offset, after.state) == (wanted, target.offset, "corrected")
    assert window.session.stacks.group.activeStack().count() == 1     # one undoable edit
    assert not timeline.edges.label.isVisible() or timeline.edges.label.scene() is None
    press(qtbot, window, Key.Key_Z, Mod.ControlModifier)
    assert stored(folder, target.id).onset == target.onset


def test_shift_drags_an_edge_ten_times_finer(qtbot, window, folder):
    target = _select_in_view(qtbot, window)
    timeline = window.timeline
    drag_with_events(qtbot, timeline.graphics.viewport(), edge_point(timeline, target.offset + 0.5),
                     edge_point(timeline, target.offset + 30.5), Mod.ShiftModifier)
    assert stored(folder, target.id).offset == target.offset + 3      # 30 frames of mouse, 3 frames of edge


# ------------------------------------------------------------------ nudge and delete keys
def test_comma_and_period_nudge_the_edges_one_frame(qtbot, window, folder):
    open_busy_video(window, qtbot)
    target = lone_pending(window)
    click_row(qtbot, window.table, target.id)
    press(qtbot, window, Key.Key_Comma)
    assert stored(folder, target.id).onset == target.onset - 1
    press(qtbot, window, Key.Key_Period)
    press(qtbot, window, Key.Key_Period)
    assert stored(folder, target.id).onset == target.onset + 1
    press(qtbot, window, Key.Key_Greater)
    press(qtbot, window, Key.Key_Greater)
    press(qtbot, window, Key.Key_Less)
    assert stored(folder, target.id).offset == target.offset + 1
    assert window.timeline.selected_region is not None                # the edges follow
    lo, hi = window.timeline.selected_region.getRegion()
    assert (lo, hi) == (target.onset + 0.5, target.offset + 1.5)


def _added(qtbot, window, folder, frame: int):
    before = {r.id for r in stored_intervals(folder, "s03_v01")}
    window.player.seek(frame)
    press(qtbot, window, Key.Key_M)
    (added,) = [r for r in stored_intervals(folder, "s03_v01") if r.id not in before]
    assert window.session.selected == added.id
    return added


def test_delete_and_backspace_delete_the_selected_interval_and_undo_restores_it(qtbot, window, folder):
    open_busy_video(window, qtbot)
    added = _added(qtbot, window, folder, 100)
    press(qtbot, window, Key.Key_Delete)
    assert added.id not in {r.id for r in stored_intervals(folder, "s03_v01")}
    assert window.session.selected is None and window.timeline.selected_region is None
    assert added.id not in {r.id for r in window.table.interval_model.records}
    press(qtbot, window, Key.Key_Z, Mod.ControlModifier)
    assert added.id in {r.id for r in stored_intervals(folder, "s03_v01")}
    click_row(qtbot, window.table, added.id)
    press(qtbot, window, Key.Key_Backspace)
    assert added.id not in {r.id for r in stored_intervals(folder, "s03_v01")}
    press(qtbot, window, Key.Key_Delete)                               # nothing selected: said, not done
    assert "select an interval first" in window.statusBar().currentMessage()


def _click_menu_entry(qtbot, menu: QtWidgets.QMenu, text: str) -> None:
    action = next(a for a in menu.actions() if a.text().replace("&", "") == text)
    qtbot.mouseClick(menu, LEFT, pos=menu.actionGeometry(action).center())


def test_the_table_and_the_curves_offer_delete_on_a_right_click(qtbot, window, folder):
    open_busy_video(window, qtbot)
    first = _added(qtbot, window, folder, 100)
    second = _added(qtbot, window, folder, 200)
    table = window.table
    row_rect = table.visualRect(table.interval_model.index(table.interval_model.row_of(first.id), 0))
    chosen = []

    def pick_from_popup() -> None:
        menu = QtWidgets.QApplication.activePopupWidget()
        chosen.append(menu is not None)
        if menu is not None:
            _click_menu_entry(qtbot, menu, "Delete interval")

    QtCore.QTimer.singleShot(300, pick_from_popup)
    qtbot.mouseClick(table.viewport(), QtCore.Qt.MouseButton.RightButton, pos=row_rect.center())
    assert window.session.selected == first.id                        # the right click selects the row
    event = QtGui.QContextMenuEvent(QtGui.QContextMenuEvent.Reason.Mouse, row_rect.center(),
                                    table.viewport().mapToGlobal(row_rect.center()))
    QtWidgets.QApplication.sendEvent(table.viewport(), event)         # what a real right click sends next
    qtbot.waitUntil(lambda: bool(chosen), timeout=WAIT_MS)
    assert chosen == [True]
    assert first.id not in {r.id for r in stored_intervals(folder, "s03_v01")}

    window.session.select(None)
    show_around(qtbot, window, second)
    viewport = window.timeline.graphics.viewport()
    qtbot.mouseClick(viewport, QtCore.Qt.MouseButton.RightButton, pos=edge_point(window.timeline, second.onset + 2))
    assert window.session.selected == second.id                       # the right click picks the interval
    menu = window.timeline.editing_plot().getViewBox().menu
    qtbot.waitUntil(menu.isVisible, timeout=WAIT_MS)
    _click_menu_entry(qtbot, menu, "Delete interval")
    assert second.id not in {r.id for r in stored_intervals(folder, "s03_v01")}


# ------------------------------------------------------------------ Cancel, table size
def test_cancel_clears_the_time_left_of_analyze(qtbot, window):
    vid = open_busy_video(window, qtbot)
    window.analyzer.use_cache = False
    assert window.analyze([vid])
    progress = window.analyzer.progress
    qtbot.waitUntil(lambda: "left" in progress.format() or window.analyzer.worker is None, timeout=120_000)
    assert "left" in progress.format(), "Analyze never said how long it has left"
    qtbot.mouseClick(window.analyzer.cancel_button, LEFT)
    assert "left" not in progress.text() and "Cancelling" in progress.text()
    qtbot.waitUntil(lambda: window.analyzer.worker is None, timeout=WAIT_MS)
    assert not progress.isVisible() and "left" not in progress.format()
    assert "cancelled" in window.statusBar().currentMessage()


def test_the_interval_table_shows_enough_rows(qtbot, window):
    open_busy_video(window, qtbot)
    table = window.table
    assert len(table.interval_model.records) >= MIN_ROWS_SHOWN
    row = table.verticalHeader().defaultSectionSize()
    assert row >= table.fontMetrics().height() + 4
    assert table.viewport().height() >= MIN_ROWS_SHOWN * row


def test_a_cancelled_training_run_shows_no_time_left(qtbot):
    from metst_engine.runs import ProgressState
    from metst_gui.training.progress_view import ProgressView

    view = ProgressView()
    qtbot.addWidget(view)
    state = ProgressState(["s01", "s02"])
    for event in ({"event": "run_start"}, {"event": "fold_start", "fold": "s01"},
                  {"event": "epoch", "fold": "s01", "epoch": 1, "epochs": 10, "seconds": 2.0, "losses": {"loss": 1.0}},
                  {"event": "epoch", "fold": "s01", "epoch": 2, "epochs": 10, "seconds": 2.0, "losses": {"loss": 0.9}}):
        state.apply(event)
    view.show_state(state, True, None)
    assert "left" in view.fold_label.text() and "left" in view.epoch_label.text()
    view.stop_estimates()                                              # what the panel's Cancel does
    view.show_state(state, True, None)                                 # events still arrive while it stops
    assert "left" not in view.fold_label.text() and "left" not in view.epoch_label.text()
    view.show_state(state, False, None)                                # the run ended (cancelled)
    assert "left" not in view.fold_label.text() and "left" not in view.epoch_label.text()
    view.clear()                                                       # the next run estimates again
    view.show_state(state, True, None)
    assert "left" in view.fold_label.text()
