""""Mark video review complete" while intervals are pending: say how many, offer to go there or reject them all.

The rule (a video with pending intervals cannot be marked complete) is the engine's
(:class:`~metst_engine.project.review.PendingIntervals`); this dialog only asks what to do about it.
"""

from __future__ import annotations

from PySide6 import QtWidgets

from metst_engine.project.review import PendingIntervals

#: What the reviewer chose: jump to the first pending interval, reject them all and complete, or nothing.
GO_TO_FIRST, REJECT_ALL, CANCEL = "go", "reject", "cancel"


class PendingDialog(QtWidgets.QMessageBox):
    """Buttons (object names): "Go to the first pending" (``goToPending``), "Reject all N and complete"
    (``rejectAllPending``), Cancel (``cancelComplete``). :attr:`choice` says which was clicked."""

    def __init__(self, refusal: PendingIntervals, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        n = refusal.count
        self.setObjectName("pendingDialog")
        self.setIcon(QtWidgets.QMessageBox.Icon.Question)
        self.setWindowTitle("Mark video review complete")
        self.setText(f"{n} interval{'s are' if n != 1 else ' is'} still pending in {refusal.video.name}.")
        self.setInformativeText("Review them first, or reject all of them and mark the video complete "
                                "(one step: Undo brings them back).")
        self.choice = CANCEL
        self._buttons = {}
        for choice, text, name, role in (
                (GO_TO_FIRST, "Go to the first pending", "goToPending", QtWidgets.QMessageBox.ButtonRole.AcceptRole),
                (REJECT_ALL, f"Reject all {n} and complete", "rejectAllPending",
                 QtWidgets.QMessageBox.ButtonRole.DestructiveRole),
                (CANCEL, "Cancel", "cancelComplete", QtWidgets.QMessageBox.ButtonRole.RejectRole)):
            button = self.addButton(text, role)
            button.setObjectName(name)
            self._buttons[button] = choice
        self.setDefaultButton(self.button_named("goToPending"))
        self.setEscapeButton(self.button_named("cancelComplete"))
        self.buttonClicked.connect(lambda b: setattr(self, "choice", self._buttons.get(b, CANCEL)))

    def button_named(self, name: str) -> QtWidgets.QPushButton:
        return self.findChild(QtWidgets.QPushButton, name)

    def ask(self) -> str:
        """Show it (modal) and return the choice."""
        self.exec()
        self.deleteLater()
        return self.choice
