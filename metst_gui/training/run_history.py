"""The training panel's "Past runs" list: every run of the project, newest first, with how it ended.

A view only: the runs and their status come from ``metst_engine.runs.find_runs``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from metst_engine.runs import RunSummary
from metst_gui.training.results_view import format_metric

COLUMNS = ("Status", "Started", "Model", "Labels", "Folds", "F1", "UF1", "STRS")
#: The main metrics shown per run: column -> pooled metrics key.
METRIC_COLUMNS = {"F1": "f1", "UF1": "uf1", "STRS": "strs"}
STATUS_COLORS = {"running": "#1565c0", "finished": "#2e7d32", "cancelled": "#8d6e00", "failed": "#b00020",
                 "stopped": "#8d6e00"}
PATH_ROLE = QtCore.Qt.ItemDataRole.UserRole


class RunHistoryView(QtWidgets.QGroupBox):
    """One row per run; selecting a row emits ``run_selected(run folder)``."""

    run_selected = QtCore.Signal(str)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__("Past runs", parent)
        self.table = QtWidgets.QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COLUMNS.index("Labels"), QtWidgets.QHeaderView.ResizeMode.Stretch)
        self.table.setTextElideMode(QtCore.Qt.TextElideMode.ElideRight)
        self.table.itemSelectionChanged.connect(self._selected)
        self.empty = QtWidgets.QLabel("No training run yet: the runs of this project are listed here.")
        self.empty.setWordWrap(True)
        lay = QtWidgets.QVBoxLayout(self)
        lay.addWidget(self.empty)
        lay.addWidget(self.table)
        self.runs: list[RunSummary] = []

    def show_runs(self, runs: list[RunSummary], label_of: Callable[[str | None], str]) -> None:
        """List ``runs`` (keeps the selected run selected, without emitting)."""
        current = self.selected_run()
        self.runs = list(runs)
        self.table.blockSignals(True)
        self.table.setRowCount(len(runs))
        for row, run in enumerate(runs):
            texts = [run.status, run.started.strftime("%d %b %H:%M") if run.started else "–", run.model or "–",
                     label_of(run.dataset), f"{run.folds_done}/{run.folds}" if run.folds else "–",
                     *(format_metric(run.metrics.get(k)) for k in METRIC_COLUMNS.values())]
            for col, text in enumerate(texts):
                item = QtWidgets.QTableWidgetItem(text)
                item.setData(PATH_ROLE, str(run.run_dir))
                item.setToolTip(f"{text}\n{run.run_dir}\n{run.message}".strip())
                if col == 0:
                    item.setForeground(QtGui.QColor(STATUS_COLORS.get(run.status, "#000")))
                if col >= 4:
                    item.setTextAlignment(QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, col, item)
            if current is not None and Path(current) == run.run_dir:
                self.table.selectRow(row)
        self.table.blockSignals(False)
        self.empty.setVisible(not runs)
        self.table.setVisible(bool(runs))

    def selected_run(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        return None if not rows else self.table.item(rows[0].row(), 0).data(PATH_ROLE)

    def row_of(self, run_dir: str | Path) -> int:
        return next((i for i, r in enumerate(self.runs) if r.run_dir == Path(run_dir)), -1)

    def _selected(self) -> None:
        run = self.selected_run()
        if run is not None:
            self.run_selected.emit(run)


__all__ = ["RunHistoryView"]
