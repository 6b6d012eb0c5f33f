"""The banner above the player that says what to do next: add videos, or analyze the ones not analyzed yet."""

from __future__ import annotations

from collections.abc import Callable

from PySide6 import QtCore, QtWidgets


class NextStepBanner(QtWidgets.QFrame):
    """A sentence and up to two buttons; ``show_step`` fills it, ``hide`` removes it."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("nextStep")
        self.setStyleSheet("#nextStep { background: #fff6d6; border: 1px solid #e0c060; border-radius: 4px; }"
                           " #nextStep QLabel { font-size: 11pt; }")
        self.label = QtWidgets.QLabel()
        self.label.setWordWrap(True)
        self.label.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.primary = QtWidgets.QPushButton()
        self.primary.setObjectName("nextStepPrimary")
        self.secondary = QtWidgets.QPushButton()
        self.secondary.setObjectName("nextStepSecondary")
        layout = QtWidgets.QHBoxLayout(self)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.primary)
        layout.addWidget(self.secondary)
        self._slots: dict[QtWidgets.QPushButton, Callable[[], None] | None] = {}
        for button in (self.primary, self.secondary):
            button.clicked.connect(lambda _=False, b=button: self._clicked(b))
        self.hide()

    def show_step(self, text: str, primary: tuple[str, Callable[[], None]],
                  secondary: tuple[str, Callable[[], None]] | None = None) -> None:
        self.label.setText(text)
        for button, spec in ((self.primary, primary), (self.secondary, secondary)):
            button.setVisible(spec is not None)
            button.setText(spec[0] if spec else "")
            self._slots[button] = spec[1] if spec else None
        self.primary.setDefault(True)
        self.show()

    def _clicked(self, button: QtWidgets.QPushButton) -> None:
        slot = self._slots.get(button)
        if slot is not None:
            slot()
