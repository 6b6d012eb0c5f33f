"""Qt's undo stacks over the review model's histories: each command delegates to the model.

The edit is made by :class:`~metst_engine.project.review.Review` when the action happens
(before the command is pushed, so a refused edit never reaches the stack); a command's
undo / redo call ``Review.undo`` / ``Review.redo`` for its video, which keep the video's
:class:`~metst_engine.project.review.History` and the store in step. One QUndoStack per
video lives in a QUndoGroup, so the Edit menu's Undo / Redo follow the current video.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from PySide6 import QtCore, QtGui

from metst_engine.project import Edit, Review, ReviewError, Step


class ReviewCommand(QtGui.QUndoCommand):
    """A step the model has already made; undo / redo ask the model to replay its video's history."""

    def __init__(self, review: Review, video_id: int, step: Step, on_change: Callable[[Edit], None],
                 on_error: Callable[[str], None]) -> None:
        super().__init__(step.text)
        self.review = review
        self.video_id = video_id
        self.edit = step.edit
        self._on_change = on_change
        self._on_error = on_error
        self._pushed = False           # the first redo (from push) finds the step already made

    def redo(self) -> None:
        if not self._pushed:
            self._pushed = True
            self._on_change(self.edit)
            return
        self._replay(self.review.redo)

    def undo(self) -> None:
        self._replay(self.review.undo)

    def _replay(self, apply: Callable[[int], Step]) -> None:
        try:
            apply(self.video_id)
        except ReviewError as exc:     # the model dropped the step; the stack drops the command
            self.setObsolete(True)
            self._on_error(str(exc))
            return
        self._on_change(self.edit)


class ReviewStacks(QtCore.QObject):
    """One QUndoStack per video in a QUndoGroup, mirroring the model's per-video histories.

    Signals: ``edited(Edit)`` after every step, undo and redo; ``failed(str)`` when an undo
    or redo is refused (the command is dropped, as the model dropped the step).
    """

    edited = QtCore.Signal(object)
    failed = QtCore.Signal(str)

    def __init__(self, review: Review, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.review = review
        self.group = QtGui.QUndoGroup(self)
        self._stacks: dict[int, QtGui.QUndoStack] = {}

    def stack(self, video_id: int) -> QtGui.QUndoStack:
        if video_id not in self._stacks:
            self._stacks[video_id] = QtGui.QUndoStack(self.group)
        return self._stacks[video_id]

    def activate(self, video_id: int) -> None:
        self.group.setActiveStack(self.stack(video_id))

    @contextmanager
    def macro(self, video_id: int, text: str) -> Iterator[None]:
        """The steps pushed inside are one entry of the video's stack (undone and redone together)."""
        stack = self.stack(video_id)
        stack.beginMacro(text)
        try:
            yield
        finally:
            stack.endMacro()

    def push(self, video_id: int, step: Step) -> None:
        """Put a step the model has just made on the video's stack (its redo only reports the change)."""
        self.stack(video_id).push(ReviewCommand(self.review, video_id, step, self.edited.emit, self.failed.emit))
