"""The review keys, dispatched to the engine's review model; signals tell the window what changed.

:class:`~metst_engine.project.review.Review` holds the rules (what accept, emotion, the
edges, add and next pending do) and each video's undo history; this adapter asks the main
window for the playhead, turns a refused action into a status-bar message and puts each
step on the video's Qt undo stack (:class:`~metst_gui.review.review_commands.ReviewStacks`).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6 import QtCore

from metst_engine.intervals import EMOTIONS
from metst_engine.project import (
    IntervalRecord,
    PendingIntervals,
    Project,
    Review,
    ReviewError,
    Step,
    VideoRecord,
)
from metst_gui.review.review_commands import ReviewStacks


class ReviewSession(QtCore.QObject):
    """Signals: ``changed(Edit)`` after any edit / undo / redo; ``message(str)`` for the status bar;
    ``refused(str)`` (also sent as a message) when the model refuses an action, undo or redo;
    ``selectionChanged(id)`` (-1: none) when an action moves the selection."""

    changed = QtCore.Signal(object)
    message = QtCore.Signal(str)
    refused = QtCore.Signal(str)
    selectionChanged = QtCore.Signal(int)

    def __init__(self, project: Project, playhead: Callable[[], int], parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.project = project
        self.playhead = playhead
        self.model = Review(project)
        self.stacks = ReviewStacks(self.model, self)
        self.stacks.edited.connect(self.changed)
        self.stacks.failed.connect(self.refused)
        self.refused.connect(self.message)

    @property
    def video(self) -> VideoRecord | None:
        return self.model.video

    @property
    def selected(self) -> int | None:
        return self.model.selected

    def set_video(self, video_id: int) -> VideoRecord:
        record = self.model.open(video_id)
        self.stacks.activate(video_id)
        return record

    def intervals(self) -> list[IntervalRecord]:
        return self.model.intervals()

    def select(self, interval_id: int | None) -> None:
        self.model.select(interval_id)

    def _do(self, action: Callable[[], Step], passing: tuple[type[ReviewError], ...] = ()) -> Step | None:
        """Run a model action; push its step on the current video's stack, or say why it was refused
        (refusals of the ``passing`` kinds are raised instead, for the caller to handle)."""
        try:
            step = action()
        except passing:
            raise
        except ReviewError as exc:
            self.refused.emit(str(exc))
            return None
        assert self.model.video is not None
        self.stacks.push(self.model.video.id, step)
        return step

    # -- review actions --------------------------------------------------------------------
    def accept(self) -> None:
        self._do(self.model.accept)

    def reject(self) -> None:
        self._do(self.model.reject)

    def set_emotion(self, number: int) -> None:
        """Emotion keys 1-4: the four classes in the engine's order."""
        self._do(lambda: self.model.set_emotion(EMOTIONS[number - 1]))

    def set_bound(self, which: str) -> None:
        """``which``: onset, apex or offset, set to the playhead frame."""
        self._do(lambda: self.model.set_bound(which, self.playhead()))

    def move_edges(self, onset: int, offset: int) -> None:
        """The selected interval's edges were dragged to (onset, offset)."""
        self._do(lambda: self.model.move_edges(onset, offset))

    def nudge(self, which: str, frames: int) -> None:
        """Move ``which`` (onset, apex, offset) of the selected interval by ``frames`` (the , . < > keys)."""
        self._do(lambda: self.model.nudge(which, frames))

    def delete(self) -> None:
        """Delete the selected interval (Delete / Backspace, or the table's and curves' context menus); undoable."""
        self._do(self.model.delete)

    def add(self) -> None:
        """A manual interval from the playhead; the new interval is selected."""
        if self._do(lambda: self.model.add(self.playhead())) is not None and self.model.selected is not None:
            self.selectionChanged.emit(self.model.selected)

    def set_complete(self, complete: bool) -> PendingIntervals | None:
        """Mark the video complete (or reopen it); with intervals pending nothing changes and the
        model's refusal (their count and ids) is returned, so the caller can ask what to do."""
        try:
            self._do(lambda: self.model.set_complete(complete), passing=(PendingIntervals,))
        except PendingIntervals as exc:
            return exc
        return None

    def reject_all_and_complete(self) -> None:
        """Reject every pending interval and mark the video complete, as one undo step."""
        if self.model.video is None:
            return
        if self.project.read_only:
            self.refused.emit(f"Reject all pending: {self.project.read_only_reason}")
            return
        with self.stacks.macro(self.model.video.id, "Reject all pending and mark complete"):
            if self._do(self.model.reject_all_pending) is not None:
                self.set_complete(True)

    def next_pending(self) -> IntervalRecord | None:
        """Select the next pending interval; when it is in another video (this one has none left)
        the model has moved there and the caller shows that video, then selects it."""
        if self.model.video is None:
            return None
        shown = self.model.video.id
        target = self.model.next_pending(self.playhead())
        if target is None:
            self.message.emit("Nothing pending in the project")
        elif target.video_id == shown:
            self.selectionChanged.emit(target.id)
        return target
