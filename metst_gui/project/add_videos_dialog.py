"""Add videos: the files found, each with the subject inferred from its folder and its video id, editable."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from metst_engine.project.videos import VideoToAdd

COLUMNS = ("Subject", "Video id", "File")


class AddVideosDialog(QtWidgets.QDialog):
    """Shows the videos to add; ``chosen()`` gives them back with the subjects and ids as edited."""

    def __init__(self, videos: list[VideoToAdd], parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add videos")
        self.resize(760, 380)
        self.videos = list(videos)
        intro = QtWidgets.QLabel(f"{len(videos)} video(s) to add. The subject is taken from the folder holding each "
                                 "video; double-click a subject or id to change it (select several rows and use "
                                 "<i>Set subject</i> to give them one subject).")
        intro.setWordWrap(True)
        self.table = QtWidgets.QTableWidget(len(videos), len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        for row, v in enumerate(videos):
            self.table.setItem(row, 0, QtWidgets.QTableWidgetItem(v.subject))
            self.table.setItem(row, 1, QtWidgets.QTableWidgetItem(v.video_id))
            item = QtWidgets.QTableWidgetItem(str(v.path))
            item.setFlags(item.flags() & ~QtCore.Qt.ItemFlag.ItemIsEditable)
            self.table.setItem(row, 2, item)
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setStretchLastSection(True)
        self.subject_edit = QtWidgets.QLineEdit()
        self.subject_edit.setPlaceholderText("subject for the selected rows")
        set_subject = QtWidgets.QPushButton("Set subject")
        set_subject.clicked.connect(self._set_subject)
        self.subject_edit.returnPressed.connect(self._set_subject)
        row_box = QtWidgets.QHBoxLayout()
        row_box.addWidget(self.subject_edit, 1)
        row_box.addWidget(set_subject)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Cancel)
        self.add_button = buttons.addButton("Add", QtWidgets.QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.table, 1)
        layout.addLayout(row_box)
        layout.addWidget(buttons)

    def chosen(self) -> list[VideoToAdd]:
        return [VideoToAdd(v.path, self.table.item(row, 0).text().strip(), self.table.item(row, 1).text().strip())
                for row, v in enumerate(self.videos)]

    def _set_subject(self) -> None:
        subject = self.subject_edit.text().strip()
        if not subject:
            return
        rows = {i.row() for i in self.table.selectedIndexes()} or set(range(self.table.rowCount()))
        for row in rows:
            self.table.item(row, 0).setText(subject)
