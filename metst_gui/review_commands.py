"""Review actions as undo commands: the store does the edit, the command holds the returned ``Edit``.

The edit is written to the project when the action happens (before the command is pushed,
so a refused edit never reaches the stack); undo is ``Project.undo(edit)``, redo
``Project.redo(edit)``, each durable on return. One stack per video lives in a QUndoGroup.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6 import QtCore, QtGui

from metst_engine.errors import MetstError
from metst_engine.project import Edit, Project


class StoreEditCommand(QtGui.QUndoCommand):
    """An edit already applied to the store; undo / redo replay it there."""

    def __init__(self, project: Project, edit: Edit, text: str, on_change: Callable[[Edit], None],
                 on_error: Callable[[str], None]) -> None:
        super().__init__(text)
        self.project = project
        self.edit = edit
        self._on_change = on_change
        self._on_error = on_error
        self._applied = True           # the first redo (from push) finds the edit already made

    def redo(self) -> None:
        if self._applied:
            self._on_change(self.edit)
            return
        self._replay(self.project.redo, "redo")

    def undo(self) -> None:
        self._replay(self.project.undo, "undo")

    def _replay(self, apply: Callable[[Edit], Edit], what: str) -> None:
        try:
            apply(self.edit)
        except MetstError as exc:      # e.g. the interval changed elsewhere since: keep the store as it is
            self.setObsolete(True)
            self._on_error(f"{what} of '{self.text()}' not applied: {exc}")
            return
        self._applied = what == "redo"
        self._on_change(self.edit)


class ReviewStacks(QtCore.QObject):
    """One QUndoStack per video in a QUndoGroup; ``perform`` runs a store edit and pushes it.

    Signals: ``edited(Edit)`` after every edit, undo and redo; ``failed(str)`` when the
    store refuses one (nothing is pushed or changed then).
    """

    edited = QtCore.Signal(object)
    failed = QtCore.Signal(str)

    def __init__(self, project: Project, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.project = project
        self.group = QtGui.QUndoGroup(self)
        self._stacks: dict[int, QtGui.QUndoStack] = {}

    def stack(self, video_id: int) -> QtGui.QUndoStack:
        if video_id not in self._stacks:
            self._stacks[video_id] = QtGui.QUndoStack(self.group)
        return self._stacks[video_id]

    def activate(self, video_id: int) -> None:
        self.group.setActiveStack(self.stack(video_id))

    def perform(self, video_id: int, text: str, action: Callable[[], Edit]) -> Edit | None:
        """Apply ``action`` to the store now; on success push it on the video's stack and return its Edit."""
        try:
            edit = action()
        except MetstError as exc:
            self.failed.emit(f"{text}: {exc}")
            return None
        self.stack(video_id).push(StoreEditCommand(self.project, edit, text, self.edited.emit, self.failed.emit))
        return edit
