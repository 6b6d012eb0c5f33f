"""File -> New project: a name and a location; Create makes the project folder (the store) there."""

from __future__ import annotations

from pathlib import Path

from PySide6 import QtCore, QtWidgets

from metst_engine.errors import MetstError
from metst_engine.project import Project
from metst_gui.project import file_dialogs
from metst_gui.project.path_field import PathField


class NewProjectDialog(QtWidgets.QDialog):
    """Emits ``created(folder)`` once the project exists on disk; a problem is shown in the dialog."""

    created = QtCore.Signal(Path)

    def __init__(self, location: Path, annotator: str | None = None,
                 parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New project")
        self.setMinimumWidth(520)
        self.annotator = annotator
        self.name_edit = QtWidgets.QLineEdit()
        self.name_edit.setPlaceholderText("e.g. interviews-2024")
        row = PathField(lambda current: file_dialogs.choose_folder(self, "Where to keep the project", current),
                        str(location))
        self.location_edit = row.edit
        self.folder_label = QtWidgets.QLabel()
        self.folder_label.setWordWrap(True)
        self.problem_label = QtWidgets.QLabel()
        self.problem_label.setWordWrap(True)
        self.problem_label.setStyleSheet("color: #b00;")
        intro = QtWidgets.QLabel("A project is a folder holding your reviews (one database file); the videos "
                                 "stay where they are. Next you add the videos to review.")
        intro.setWordWrap(True)
        form = QtWidgets.QFormLayout()
        form.addRow("Name", self.name_edit)
        form.addRow("Location", row)
        form.addRow("Folder", self.folder_label)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Cancel)
        self.create_button = buttons.addButton("Create", QtWidgets.QDialogButtonBox.ButtonRole.AcceptRole)
        self.create_button.setDefault(True)
        buttons.accepted.connect(self.create)
        buttons.rejected.connect(self.reject)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.problem_label)
        layout.addWidget(buttons)
        self.name_edit.textChanged.connect(self._update)
        self.location_edit.textChanged.connect(self._update)
        self._update()

    def folder(self) -> Path | None:
        name = self.name_edit.text().strip()
        location = self.location_edit.text().strip()
        return Path(location).expanduser() / name if name and location else None

    def _update(self) -> None:
        folder = self.folder()
        self.folder_label.setText(str(folder) if folder else "—")
        self.create_button.setEnabled(folder is not None)
        self.problem_label.clear()

    def create(self) -> None:
        folder = self.folder()
        if folder is None:
            return
        try:
            Project.create(folder, annotator=self.annotator).close()
        except (MetstError, OSError) as exc:
            self.problem_label.setText(f"Not created: {exc}. Choose another location (one you can write to).")
            return
        self.accept()
        self.created.emit(folder)
