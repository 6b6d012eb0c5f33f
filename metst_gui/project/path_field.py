"""A path typed in a line edit with a Browse… button beside it (a form row of the project dialogs)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6 import QtWidgets


class PathField(QtWidgets.QWidget):
    """``edit`` holds the path; Browse… asks ``choose(current text)`` and puts its answer in ``edit``
    (None or "" when the user cancelled: the text stays)."""

    def __init__(self, choose: Callable[[str], Path | str | None], text: str = "",
                 parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self._choose = choose
        self.edit = QtWidgets.QLineEdit(text)
        self.browse_button = QtWidgets.QPushButton("Browse…")
        self.browse_button.clicked.connect(self.browse)
        row = QtWidgets.QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.edit, 1)
        row.addWidget(self.browse_button)

    def browse(self) -> None:
        chosen = self._choose(self.edit.text())
        if chosen:
            self.edit.setText(str(chosen))
