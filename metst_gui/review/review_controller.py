"""Keeps the main window's views on the review session's selection, and reacts to saved edits.

The selected interval is shown in the table, as draggable edges on the curves and by seeking
the player; a click on the curves selects the interval under it; "next pending" opens the
video that holds it; while an edge is dragged the frame (and its time) shows beside it and in
the status bar and the player follows (at most every SEEK_THROTTLE_MS); after every edit the table, curves, browser and "complete" check are re-read
from the store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6 import QtCore

from metst_engine.errors import MetstError
from metst_engine.project import Edit
from metst_engine.project.review import interval_at
from metst_gui.review.complete_dialog import GO_TO_FIRST, REJECT_ALL, PendingDialog
from metst_gui.review.interval_table import frame_and_time

if TYPE_CHECKING:
    from metst_gui.shell.main_window import MainWindow


#: While an edge is dragged the player seeks at most this often (the last frame always).
SEEK_THROTTLE_MS = 40


class ReviewController(QtCore.QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        session = window.session
        session.changed.connect(self.after_edit)
        session.selectionChanged.connect(self.select_interval)
        session.refused.connect(lambda _msg: QtCore.QTimer.singleShot(0, self.redraw_selection))
        self._seek_timer = QtCore.QTimer(self)
        self._seek_timer.setSingleShot(True)
        self._seek_timer.setInterval(SEEK_THROTTLE_MS)
        self._seek_timer.timeout.connect(self._seek_pending)
        self._pending_seek: int | None = None

    def seek_from_plot(self, frame: int) -> None:
        """Seek there; a click inside an interval also selects it (the shortest one containing the frame)."""
        w = self.window
        if w.player is not None:
            w.player.seek(frame)
        hit = interval_at(w.table.interval_model.records, frame)
        if hit is not None:
            self.select_interval(hit.id, seek=False)

    def edge_moving(self, which: str, frame: int) -> None:
        """An edge of the selected interval is being dragged to ``frame``: say where, and seek there."""
        w = self.window
        text = f"{which}: frame {frame_and_time(frame, w.table.interval_model.timestamps)}"
        w.timeline.edges.set_label_text(text)
        w.say(f"Dragging the {text} (release to save; hold Shift for fine steps)")
        self._pending_seek = frame
        if not self._seek_timer.isActive():
            self._seek_pending()
            self._seek_timer.start()

    def _seek_pending(self) -> None:
        w = self.window
        if self._pending_seek is not None and w.player is not None:
            w.player.seek(self._pending_seek)
        self._pending_seek = None

    def interval_reached(self, onset: int, offset: int) -> None:
        """The player went to an interval (PageUp / PageDown): select it, so the review keys act on it."""
        spans = [r for r in self.window.table.interval_model.records
                 if (r.onset, r.offset) == (onset, offset) and r.state != "rejected"]
        if spans:
            chosen = min(spans, key=lambda r: r.state != "pending")     # a pending one first
            self.select_interval(chosen.id, seek=False)

    def pick_from_plot(self, frame: int) -> None:
        """A right click on the curves: select the interval under it (if any) for the menu's actions."""
        hit = interval_at(self.window.table.interval_model.records, frame)
        if hit is not None:
            self.select_interval(hit.id, seek=False)

    def table_selected(self, interval_id: int) -> None:
        self.select_interval(interval_id if interval_id >= 0 else None)

    def select_interval(self, interval_id: int | None, seek: bool = True) -> None:
        w = self.window
        w.session.select(interval_id)
        w.table.select_interval(interval_id)
        self.show_selection_on_plots()
        if seek and interval_id is not None and w.player is not None:
            record = next((r for r in w.table.interval_model.records if r.id == interval_id), None)
            if record is not None:
                w.player.seek(record.onset)

    def show_selection_on_plots(self) -> None:
        w = self.window
        record = next((r for r in w.table.interval_model.records if r.id == w.session.selected), None)
        w.timeline.set_selected_interval(None if record is None else (record.onset, record.offset))

    def redraw_selection(self) -> None:
        """Put the draggable edges back where the store has them (after a refused edit)."""
        self.window.timeline.set_selected_interval(None)
        self.show_selection_on_plots()

    def next_pending(self) -> None:
        w = self.window
        shown = None if w.session.video is None else w.session.video.id
        target = w.session.next_pending()
        if target is not None and target.video_id != shown:
            w.browser.select_video(target.video_id)     # opens it (and its undo stack)
            self.select_interval(target.id)

    def after_edit(self, edit: Edit) -> None:
        w = self.window
        w.refresh_intervals()
        w.browser.refresh(w.project)
        if w.session.video is not None:
            w.complete_action.setChecked(w.session.video.complete)
        if edit.action in ("complete", "reopen") or any(c.table == "videos" for c in edit.changes):
            w.refresh_label_sources()
        w.say(f"{edit.action}: saved")

    def toggle_complete(self, checked: bool) -> None:
        """Mark complete (or reopen); with intervals pending, ask: go to the first, reject all and complete, or not."""
        w = self.window
        refusal = w.session.set_complete(bool(checked))
        if refusal is not None:
            choice = PendingDialog(refusal, w).ask()
            w.activateWindow()                 # the review keys go to the window again
            if choice == GO_TO_FIRST:
                self.select_interval(refusal.interval_ids[0])
                w.say(f"{refusal.count} pending: accept or reject each (N: next pending)")
            elif choice == REJECT_ALL:
                w.session.reject_all_and_complete()
        if w.session.video is not None:
            w.complete_action.setChecked(w.session.video.complete)

    # -- where the reviewer left off -----------------------------------------------------------
    def resume(self) -> bool:
        """Open the video and frame where this annotator left off; False when nothing was saved."""
        w = self.window
        position = w.session.model.resume()
        if position is None or position.video_id not in w.browser.video_ids():
            return False
        w.browser.select_video(position.video_id)          # opens it
        if w.player is not None:
            w.player.seek(position.frame)
        return True

    def remember(self) -> None:
        """Save the current video and playhead as where to resume (on video change and on close)."""
        w = self.window
        if w.session.video is not None and not w.project.read_only:
            try:
                w.session.model.remember(w._playhead())
            except MetstError as exc:          # e.g. the disk is full: reviewing goes on, resuming will not
                w.say(f"cannot save where you are: {exc}")
