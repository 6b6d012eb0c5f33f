"""Agreement between two annotators (Cohen's kappa per frame, event F1 at IoU 0.5), computed by the store."""

from __future__ import annotations

import math

from PySide6 import QtCore, QtWidgets

from metst_engine.errors import MetstError
from metst_engine.project import Agreement, Project


def annotators_of(project: Project) -> list[str]:
    """Everyone who decided on an interval (imported datasets included), sorted."""
    return sorted({r.annotator for r in project.intervals() if r.annotator})


def _number(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.3f}"


class AgreementView(QtWidgets.QDialog):
    def __init__(self, project: Project, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Annotator agreement")
        self.project = project
        names = annotators_of(project)
        self.a_box, self.b_box = QtWidgets.QComboBox(), QtWidgets.QComboBox()
        self.a_box.addItems(names)
        self.b_box.addItems(names)
        if len(names) > 1:
            self.b_box.setCurrentIndex(1)
        self.scope_box = QtWidgets.QComboBox()
        self.scope_box.addItem("All videos", None)
        for v in project.videos():
            self.scope_box.addItem(v.name, v.id)
        self.result = QtWidgets.QLabel("Choose two annotators.")
        self.result.setTextFormat(QtCore.Qt.TextFormat.RichText)
        form = QtWidgets.QFormLayout()
        form.addRow("Annotator A", self.a_box)
        form.addRow("Annotator B", self.b_box)
        form.addRow("Videos", self.scope_box)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.result)
        layout.addWidget(buttons)
        for box in (self.a_box, self.b_box, self.scope_box):
            box.currentIndexChanged.connect(self.compute)
        self.agreement: Agreement | None = None
        self.compute()

    def compute(self) -> Agreement | None:
        a, b = self.a_box.currentText(), self.b_box.currentText()
        if not a or not b or a == b:
            self.result.setText("Choose two different annotators.")
            self.agreement = None
            return None
        try:
            ag = self.project.agreement(a, b, self.scope_box.currentData())
        except MetstError as exc:
            self.result.setText(f"Cannot compute: {exc}")
            self.agreement = None
            return None
        self.agreement = ag
        self.result.setText(
            f"<table cellpadding=3><tr><td>Cohen's kappa (per frame)</td><td><b>{_number(ag.kappa)}</b></td></tr>"
            f"<tr><td>Event F1 (IoU ≥ 0.5)</td><td><b>{_number(ag.event_f1)}</b></td></tr>"
            f"<tr><td>Matched events</td><td>{ag.matched} of {ag.events_a} ({a}) / {ag.events_b} ({b})</td></tr>"
            f"<tr><td>Compared</td><td>{ag.frames} frames in {ag.videos} video(s)</td></tr></table>")
        return ag
