"""The interval table: one row per interval of the current video (Qt model/view over IntervalRecords).

Onset, apex and offset show the frame and its time from the video's own timestamps; the
state cell carries the colour the plots use (and says "(label edited)" when only the emotion was
changed: the interval keeps its state, the exports tell it apart). Selecting a row emits ``intervalSelected(id)``
so the plots and the player follow; ``select_interval`` does the reverse without echo.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from metst_engine.project import IntervalRecord
from metst_gui.review.interval_bands import GT_COLOUR, STATE_COLOURS

#: The table never gets shorter than this many rows (its minimum size hint), so a reviewer sees the context.
MIN_ROWS_SHOWN = 8
COLUMNS: tuple[str, ...] = ("Onset", "Apex", "Offset", "Emotion", "Score", "State", "Source", "Annotator")
_Role = QtCore.Qt.ItemDataRole


def frame_and_time(frame: int | None, timestamps: np.ndarray) -> str:
    """'123  (4.100 s)'; empty for no frame."""
    if frame is None:
        return ""
    if 0 <= frame < len(timestamps):
        return f"{frame}  ({timestamps[frame]:.3f} s)"
    return str(frame)


class IntervalTableModel(QtCore.QAbstractTableModel):
    """Read-only rows; edits go through the review commands, which then call ``set_intervals``."""

    def __init__(self, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.records: list[IntervalRecord] = []
        self.timestamps = np.zeros(0)

    def set_intervals(self, records: Sequence[IntervalRecord], timestamps: np.ndarray) -> None:
        self.beginResetModel()
        self.records = list(records)
        self.timestamps = np.asarray(timestamps, dtype=np.float64)
        self.endResetModel()

    def row_of(self, interval_id: int) -> int:
        return next((i for i, r in enumerate(self.records) if r.id == interval_id), -1)

    def rowCount(self, parent: QtCore.QModelIndex = QtCore.QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.records)

    def columnCount(self, parent: QtCore.QModelIndex = QtCore.QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: QtCore.Qt.Orientation, role: int = _Role.DisplayRole) -> Any:
        if role == _Role.DisplayRole:
            if orientation == QtCore.Qt.Orientation.Horizontal:
                return COLUMNS[section]
            return str(section + 1)
        return None

    def data(self, index: QtCore.QModelIndex, role: int = _Role.DisplayRole) -> Any:
        if not index.isValid():
            return None
        r = self.records[index.row()]
        column = COLUMNS[index.column()]
        if role == _Role.DisplayRole:
            return self._text(r, column)
        if role == _Role.BackgroundRole and column == "State":
            colour = GT_COLOUR if r.source == "imported" else STATE_COLOURS.get(r.state, (128, 128, 128))
            return QtGui.QColor(*colour, 90)
        if role == _Role.TextAlignmentRole and column in ("Onset", "Apex", "Offset", "Score"):
            return int(QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter)
        if role == _Role.ToolTipRole and r.note:
            return r.note
        if role == _Role.UserRole:
            return r.id
        return None

    def _text(self, r: IntervalRecord, column: str) -> str:
        if column in ("Onset", "Apex", "Offset"):
            return frame_and_time(getattr(r, column.lower()), self.timestamps)
        if column == "Emotion":
            return r.emotion or ""
        if column == "Score":
            return "" if r.score is None else f"{r.score:.3f}"
        if column == "State":
            return f"{r.state} (label edited)" if r.label_edited else r.state
        if column == "Source":
            return r.source
        return r.annotator or ""


class IntervalTable(QtWidgets.QTableView):
    """Whole-row single selection; ``intervalSelected(id)`` (-1: none) on a user's choice."""

    intervalSelected = QtCore.Signal(int)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.interval_model = IntervalTableModel(self)
        self.setModel(self.interval_model)
        self.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setAlternatingRowColors(True)
        self.verticalHeader().setDefaultSectionSize(max(22, self.fontMetrics().height() + 8))
        self.horizontalHeader().setStretchLastSection(True)
        self.setTabKeyNavigation(False)
        self._quiet = False
        self.selectionModel().selectionChanged.connect(self._selection_changed)

    def _rows_height(self, rows: int) -> int:
        """Pixels for the header, ``rows`` rows, a horizontal scroll bar and the frame."""
        return (self.horizontalHeader().sizeHint().height() + rows * self.verticalHeader().defaultSectionSize()
                + self.horizontalScrollBar().sizeHint().height() + 2 * self.frameWidth())

    def minimumSizeHint(self) -> QtCore.QSize:
        hint = super().minimumSizeHint()
        return QtCore.QSize(hint.width(), max(hint.height(), self._rows_height(MIN_ROWS_SHOWN)))

    def sizeHint(self) -> QtCore.QSize:
        hint = super().sizeHint()
        return QtCore.QSize(hint.width(), max(hint.height(), self._rows_height(MIN_ROWS_SHOWN + 2)))

    def set_context_actions(self, actions: Sequence[QtGui.QAction]) -> None:
        """The right-click menu (a right click first selects the row under it)."""
        self.setContextMenuPolicy(QtCore.Qt.ContextMenuPolicy.ActionsContextMenu)
        self.addActions(list(actions))

    def set_intervals(self, records: Sequence[IntervalRecord], timestamps: np.ndarray,
                      keep_selection: int | None = None) -> None:
        """Show these rows; re-select ``keep_selection`` (an interval id) if it is still there."""
        self._quiet = True
        try:
            self.interval_model.set_intervals(records, timestamps)
            self.resizeColumnsToContents()
            if keep_selection is not None:
                self.select_interval(keep_selection)
        finally:
            self._quiet = False

    def selected_id(self) -> int | None:
        rows = self.selectionModel().selectedRows()
        return self.interval_model.records[rows[0].row()].id if rows else None

    def select_interval(self, interval_id: int | None) -> None:
        """Select (and show) the row of this interval, without emitting ``intervalSelected``."""
        quiet, self._quiet = self._quiet, True
        try:
            row = -1 if interval_id is None else self.interval_model.row_of(interval_id)
            if row < 0:
                self.clearSelection()
                return
            self.selectRow(row)
            self.scrollTo(self.interval_model.index(row, 0))
        finally:
            self._quiet = quiet

    def _selection_changed(self, *_: object) -> None:
        if not self._quiet:
            selected = self.selected_id()
            self.intervalSelected.emit(-1 if selected is None else selected)
