"""Export dialog: the store's CSV / XLSX (all videos or the current one) and ELAN .eaf (one video)."""

from __future__ import annotations

from pathlib import Path

from PySide6 import QtWidgets

from metst_engine.errors import MetstError
from metst_engine.project import Project, VideoRecord
from metst_gui.project.path_field import PathField

FORMATS: dict[str, str] = {"CSV": ".csv", "XLSX": ".xlsx", "EAF (ELAN)": ".eaf"}


class ExportDialog(QtWidgets.QDialog):
    def __init__(self, project: Project, video: VideoRecord | None, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export intervals")
        self.setMinimumWidth(560)
        self.project = project
        self.video = video
        self.format_box = QtWidgets.QComboBox()
        self.format_box.addItems(list(FORMATS))
        self.scope_box = QtWidgets.QComboBox()
        self.scope_box.addItem("All videos", None)
        for v in project.videos():
            self.scope_box.addItem(v.name, v.id)
        if video is not None:
            self.scope_box.setCurrentIndex(self.scope_box.findData(video.id))
        self.tiers_box = QtWidgets.QComboBox()
        self.tiers_box.addItem("one tier per annotator", "annotator")
        self.tiers_box.addItem("one tier per review state", "state")
        path_row = PathField(self._choose_file)
        self.path_edit = path_row.edit
        self.result_label = QtWidgets.QLabel()
        self.result_label.setWordWrap(True)
        form = QtWidgets.QFormLayout()
        form.addRow("Format", self.format_box)
        form.addRow("Videos", self.scope_box)
        form.addRow("ELAN tiers", self.tiers_box)
        form.addRow("File", path_row)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close)
        self.export_button = buttons.addButton("Export", QtWidgets.QDialogButtonBox.ButtonRole.ActionRole)
        self.export_button.clicked.connect(self.export)
        buttons.rejected.connect(self.reject)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.result_label)
        layout.addWidget(buttons)
        self.format_box.currentTextChanged.connect(self._format_changed)
        self._format_changed(self.format_box.currentText())

    def set_format(self, name: str) -> None:
        self.format_box.setCurrentText(name)

    def _format_changed(self, name: str) -> None:
        eaf = FORMATS[name] == ".eaf"
        self.tiers_box.setEnabled(eaf)
        all_item = self.scope_box.model().item(0)
        all_item.setEnabled(not eaf)                 # ELAN files belong to one video
        if eaf and self.scope_box.currentData() is None and self.scope_box.count() > 1:
            self.scope_box.setCurrentIndex(1)
        scope = self.scope_box.currentText() if self.scope_box.currentData() is not None else self.project.folder.name
        self.path_edit.setText(str(self.project.folder / f"{scope}{FORMATS[name]}"))

    def _choose_file(self, current: str) -> str:
        suffix = FORMATS[self.format_box.currentText()]
        return QtWidgets.QFileDialog.getSaveFileName(self, "Export to", current, f"*{suffix}")[0]

    def export(self) -> Path | None:
        """Write the file; the label says where, or what went wrong."""
        path = Path(self.path_edit.text().strip())
        suffix = FORMATS[self.format_box.currentText()]
        video = self.scope_box.currentData()
        try:
            if suffix == ".csv":
                out = self.project.export_csv(path, video)
            elif suffix == ".xlsx":
                out = self.project.export_xlsx(path, video)
            else:
                if video is None:
                    raise MetstError("an ELAN file is for one video: choose it")
                out = self.project.export_eaf(path, video, tiers=self.tiers_box.currentData())
        except (MetstError, OSError) as exc:
            self.result_label.setText(f"Not exported: {exc}")
            return None
        self.result_label.setText(f"Written: {out}")
        return out
