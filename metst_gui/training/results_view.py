"""Results of a training run: overall and per-subject metrics, the confusion matrix, a second run
beside the first, and CSV export.

Views only: the numbers come from ``metst_engine.run_report`` (MEGC from the run's files,
the reference-compatible counting recomputed by the engine in a worker thread).
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

from metst_engine.errors import MetstError
from metst_engine.tables import write_report_csv
from metst_engine.run_report import METRIC_KEYS, RunReport, report_for_mode

MODE_LABELS = {"megc": "MEGC (one-to-one matching)", "reference": "Reference (public ME-TST code's counting)"}
METRIC_LABELS = {"tp": "TP", "fp": "FP", "fn": "FN", "precision": "Spotting precision", "recall": "Spotting recall",
                 "f1": "Spotting F1", "uf1": "Recognition UF1", "uar": "Recognition UAR",
                 "recog_f1": "Recognition F1", "strs": "STRS"}
SHORT_LABELS = {"tp": "TP", "fp": "FP", "fn": "FN", "precision": "P", "recall": "R", "f1": "F1", "uf1": "UF1",
                "uar": "UAR", "recog_f1": "Recog. F1", "strs": "STRS"}
VALUE_ROLE = QtCore.Qt.ItemDataRole.UserRole


def format_metric(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, (bool, int)):
        return str(value)
    if isinstance(value, float):
        return "–" if math.isnan(value) else f"{value:.3f}"
    return str(value)


def _item(value: Any, align_right: bool = True) -> QtWidgets.QTableWidgetItem:
    item = QtWidgets.QTableWidgetItem(format_metric(value))
    item.setData(VALUE_ROLE, value)
    item.setFlags(item.flags() & ~QtCore.Qt.ItemFlag.ItemIsEditable)
    if align_right:
        item.setTextAlignment(QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter)
    return item


def _table(parent: QtWidgets.QWidget | None = None) -> QtWidgets.QTableWidget:
    t = QtWidgets.QTableWidget(parent)
    t.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
    t.setAlternatingRowColors(True)
    t.verticalHeader().setDefaultSectionSize(22)
    return t


class ReportLoader(QtCore.QThread):
    """Reads (and for the reference mode scores) one run in a worker thread."""

    loaded = QtCore.Signal(object)
    failed = QtCore.Signal(str)

    def __init__(self, run_dir: Path, mode: str, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.run_dir, self.mode = run_dir, mode

    def run(self) -> None:
        try:
            self.loaded.emit(report_for_mode(self.run_dir, self.mode))
        except (MetstError, ValueError, OSError) as exc:
            self.failed.emit(f"{self.run_dir.name}: {exc}")


class ResultsView(QtWidgets.QWidget):
    """Overall table (one column per run, plus the difference), per-subject table, confusion heatmap."""

    report_shown = QtCore.Signal()              # after every (re)load of the shown runs

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.run_dir: Path | None = None
        self.compare_dir: Path | None = None
        self.report: RunReport | None = None
        self.comparison: RunReport | None = None
        self.mode = "megc"
        self._loaders: list[ReportLoader] = []
        self._closed = False                    # after shutdown(): no new report threads
        self._generation = 0
        self._pending = 0

        self.mode_combo = QtWidgets.QComboBox()
        for key, label in MODE_LABELS.items():
            self.mode_combo.addItem(label, key)
        self.mode_combo.currentIndexChanged.connect(lambda _: self.set_mode(self.mode_combo.currentData()))
        self.compare_button = QtWidgets.QPushButton("Compare with run…")
        self.compare_button.clicked.connect(self._choose_comparison)
        self.clear_compare_button = QtWidgets.QPushButton("Clear comparison")
        self.clear_compare_button.clicked.connect(lambda: self.compare_with(None))
        self.export_button = QtWidgets.QPushButton("Export CSV…")
        self.export_button.clicked.connect(self._choose_export)
        self.status = QtWidgets.QLabel()
        self.status.setWordWrap(True)

        self.summary_table = _table()
        self.subject_table = _table()
        self.confusion_table = _table()
        self.confusion_table_b = _table()           # the compared run's, shown while comparing
        self.confusion_label = QtWidgets.QLabel()
        self.confusion_label_b = QtWidgets.QLabel()
        for t in (self.confusion_table, self.confusion_table_b):
            t.setAlternatingRowColors(False)

        top = QtWidgets.QHBoxLayout()
        top.addWidget(QtWidgets.QLabel("Counting:"))
        top.addWidget(self.mode_combo, 1)
        top.addWidget(self.compare_button)
        top.addWidget(self.clear_compare_button)
        top.addWidget(self.export_button)
        grid = QtWidgets.QGridLayout()
        grid.addWidget(QtWidgets.QLabel("<b>Overall</b>"), 0, 0)
        grid.addWidget(QtWidgets.QLabel("<b>Recognition confusion</b> (rows: ground truth, columns: predicted)"), 0, 1)
        grid.addWidget(self.summary_table, 1, 0)
        confusion_box = QtWidgets.QVBoxLayout()
        confusion_box.setContentsMargins(0, 0, 0, 0)
        for w in (self.confusion_label, self.confusion_table, self.confusion_label_b, self.confusion_table_b):
            confusion_box.addWidget(w)
        confusion_box.addStretch(1)
        grid.addLayout(confusion_box, 1, 1)
        grid.addWidget(QtWidgets.QLabel("<b>Per held-out subject</b>"), 2, 0, 1, 2)
        grid.addWidget(self.subject_table, 3, 0, 1, 2)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)
        rows_height = self.summary_table.verticalHeader().defaultSectionSize() * (len(METRIC_KEYS) + 1) + 8
        self.summary_table.setFixedHeight(rows_height)
        for t in (self.confusion_table, self.confusion_table_b):
            t.setFixedHeight(rows_height // 2 - 14)
        grid.setRowStretch(3, 1)
        lay = QtWidgets.QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.status)
        lay.addLayout(grid, 1)
        self._refresh_buttons()

    # ------------------------------------------------------------------ API
    def show_run(self, run_dir: str | Path | None) -> None:
        """Show ``run_dir`` (reloaded from its files, e.g. after the run finished)."""
        self.run_dir = None if run_dir is None else Path(run_dir)
        self.reload()

    def compare_with(self, run_dir: str | Path | None) -> None:
        """Show a second run beside the first (None: stop comparing)."""
        self.compare_dir = None if run_dir is None else Path(run_dir)
        self.reload()

    def set_mode(self, mode: str) -> None:
        if mode not in MODE_LABELS:
            raise ValueError(f"unknown mode {mode!r}")
        self.mode = mode
        index = self.mode_combo.findData(mode)
        if self.mode_combo.currentIndex() != index:
            self.mode_combo.setCurrentIndex(index)      # re-enters through the combo's signal
            return
        self.reload()

    def is_loading(self) -> bool:
        return self._pending > 0

    def reload(self) -> None:
        self._generation += 1
        self.report = self.comparison = None
        self.status.clear()
        self._pending = 0
        for role, path in (("report", self.run_dir), ("comparison", self.compare_dir)):
            if path is None or self._closed:
                continue
            loader = ReportLoader(path, self.mode, self)
            generation = self._generation
            loader.loaded.connect(lambda rep, r=role, g=generation: self._loaded(g, r, rep))
            loader.failed.connect(lambda msg, g=generation: self._failed(g, msg))
            loader.finished.connect(lambda ld=loader: self._forget(ld))
            self._loaders.append(loader)
            self._pending += 1
            loader.start()
        if not self._pending:
            self._render()

    def wait_for_loaders(self, ms: int = 30000) -> None:
        """Block until the worker threads are done (closing, tests)."""
        for loader in list(self._loaders):
            loader.wait(ms)

    def shutdown(self) -> None:
        """Closing: wait for the report threads and start none again (a run shown by an event queued before
        the close would otherwise start one that the destroyed window takes down with it)."""
        self._closed = True
        self.wait_for_loaders()

    # ------------------------------------------------------------------ loading
    def _forget(self, loader: ReportLoader) -> None:
        if loader in self._loaders:
            self._loaders.remove(loader)
        loader.deleteLater()

    def _loaded(self, generation: int, role: str, report: RunReport) -> None:
        if generation != self._generation:
            return
        setattr(self, role, report)
        self._pending -= 1
        if not self._pending:
            self._render()

    def _failed(self, generation: int, message: str) -> None:
        if generation != self._generation:
            return
        self.status.setText(f"<span style='color:#b00'>{html.escape(message)}</span>")
        self._pending -= 1
        if not self._pending:
            self._render()

    # ------------------------------------------------------------------ rendering
    def _render(self) -> None:
        self._render_summary()
        self._render_subjects()
        self._render_confusion()
        self._refresh_buttons()
        if self.report is not None and not self.report.finished and not self.status.text():
            self.status.setText(f"{len(self.report.done_folds)} of {len(self.report.subjects)} folds finished; "
                                "overall metrics appear when the run ends.")
        self.report_shown.emit()

    def _runs(self) -> list[RunReport]:
        return [r for r in (self.report, self.comparison) if r is not None]

    def _render_summary(self) -> None:
        t = self.summary_table
        runs = self._runs()
        headers = [f"{'AB'[i]}: {r.run_dir.name}" for i, r in enumerate(runs)]
        if len(runs) == 2:
            headers.append("B − A")
        t.clear()
        t.setColumnCount(len(headers))
        t.setHorizontalHeaderLabels(headers)
        t.setRowCount(len(METRIC_KEYS))
        t.setVerticalHeaderLabels([METRIC_LABELS[k] for k in METRIC_KEYS])
        for row, key in enumerate(METRIC_KEYS):
            values = [(r.pooled or {}).get(key) for r in runs]
            for col, v in enumerate(values):
                t.setItem(row, col, _item(v))
            if len(runs) == 2 and None not in values:
                diff = _item(values[1] - values[0])
                if values[1] != values[0]:
                    diff.setForeground(QtGui.QColor("#1a7f37" if values[1] > values[0] else "#b00020"))
                t.setItem(row, 2, diff)
        t.horizontalHeader().setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.Stretch)

    def _render_subjects(self) -> None:
        t = self.subject_table
        t.clear()
        rep, other = self.report, self.comparison
        subjects = rep.subjects if rep else []
        compared = ("f1", "strs") if other is not None else ()
        t.setColumnCount(len(METRIC_KEYS) + len(compared))
        t.setHorizontalHeaderLabels([SHORT_LABELS[k] for k in METRIC_KEYS] + [f"B: {SHORT_LABELS[k]}" for k in compared])
        t.setRowCount(len(subjects))
        t.setVerticalHeaderLabels(subjects)
        for row, s in enumerate(subjects):
            metrics = rep.per_subject.get(s) if rep else None
            for col, key in enumerate(METRIC_KEYS):
                t.setItem(row, col, _item(None if metrics is None else metrics.get(key)))
            for i, key in enumerate(compared):
                b = other.per_subject.get(s) if other else None
                t.setItem(row, len(METRIC_KEYS) + i, _item(None if b is None else b.get(key)))
        t.horizontalHeader().setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.Stretch)

    def _render_confusion(self) -> None:
        runs = self._runs()
        for i, (table, label) in enumerate(((self.confusion_table, self.confusion_label),
                                            (self.confusion_table_b, self.confusion_label_b))):
            rep = runs[i] if i < len(runs) else None
            table.setVisible(rep is not None)
            label.setVisible(rep is not None)
            if rep is not None:
                label.setText(f"{'AB'[i]}: {rep.run_dir.name}" + ("" if rep.confusion else " — when the run has finished"))
            self._fill_confusion(table, rep.confusion if rep else None)

    @staticmethod
    def _fill_confusion(t: QtWidgets.QTableWidget, conf: dict[str, Any] | None) -> None:
        """Counts as text, and as a white-to-blue background scaled by the largest count."""
        t.clear()
        if not conf:
            t.setRowCount(0)
            t.setColumnCount(0)
            return
        matrix = conf["matrix"]
        t.setRowCount(len(conf["rows"]))
        t.setColumnCount(len(conf["columns"]))
        t.setVerticalHeaderLabels(list(conf["rows"]))
        t.setHorizontalHeaderLabels(list(conf["columns"]))
        top = max((v for row in matrix for v in row), default=0)
        for i, row in enumerate(matrix):
            for j, v in enumerate(row):
                item = _item(int(v))
                item.setTextAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
                share = v / top if top else 0.0
                item.setBackground(QtGui.QColor.fromRgbF(1 - 0.75 * share, 1 - 0.55 * share, 1 - 0.1 * share))
                item.setForeground(QtGui.QColor("white" if share > 0.6 else "black"))
                t.setItem(i, j, item)
        t.horizontalHeader().setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.Stretch)

    def _refresh_buttons(self) -> None:
        self.export_button.setEnabled(self.report is not None)
        self.compare_button.setEnabled(self.run_dir is not None)
        self.clear_compare_button.setEnabled(self.compare_dir is not None)

    # ------------------------------------------------------------------ export
    def report_rows(self) -> tuple[list[str], list[list[Any]]]:
        """(header, rows) of the shown report: per-subject and overall rows per run, then each
        run's confusion matrix (after an empty row)."""
        header = ["run", "mode", "subject", *METRIC_KEYS]
        rows: list[list[Any]] = []
        for rep in self._runs():
            for s in rep.subjects:
                m = rep.per_subject.get(s, {})
                rows.append([str(rep.run_dir), rep.mode, s, *[m.get(k) for k in METRIC_KEYS]])
            rows.append([str(rep.run_dir), rep.mode, "overall", *[(rep.pooled or {}).get(k) for k in METRIC_KEYS]])
        for rep in self._runs():
            if rep.confusion:
                rows.append([])
                rows.append(["run", "mode", "ground truth \\ predicted", *rep.confusion["columns"]])
                for gt, counts in zip(rep.confusion["rows"], rep.confusion["matrix"]):
                    rows.append([str(rep.run_dir), rep.mode, gt, *counts])
        return header, rows

    def export_csv(self, path: str | Path) -> Path:
        header, rows = self.report_rows()
        return write_report_csv(path, header, rows)

    def _choose_export(self) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Export report", str(self.run_dir or ""), "CSV (*.csv)")
        if path:
            try:
                self.export_csv(path)
            except OSError as exc:
                self.status.setText(f"<span style='color:#b00'>export failed: {html.escape(str(exc))}</span>")

    def _choose_comparison(self) -> None:
        path = QtWidgets.QFileDialog.getExistingDirectory(self, "Run folder to compare with",
                                                          str(self.run_dir.parent if self.run_dir else ""))
        if path:
            self.compare_with(path)

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:  # noqa: N802 (Qt name)
        self.shutdown()
        super().closeEvent(event)


__all__ = ["MODE_LABELS", "ReportLoader", "ResultsView", "format_metric"]
