"""Intervals painted on a plot: the mark (frames, review state, ground truth or prediction), its colours,
and one item that paints every interval of a plot (shared by the timeline and its hint layers)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import pyqtgraph as pg
from PySide6 import QtCore, QtGui


class IntervalMark(NamedTuple):
    """One interval drawn on the curves: inclusive source frames, a review state, 'gt' or 'pred'."""

    onset: int
    offset: int
    state: str = "pending"
    kind: str = "pred"


STATE_COLOURS: dict[str, tuple[int, int, int]] = {
    "pending": (255, 165, 0),
    "accepted": (46, 160, 67),
    "rejected": (200, 50, 50),
    "corrected": (40, 110, 230),
}
GT_COLOUR = (140, 90, 200)
_REGION_ALPHA = 60
def mark_colour(mark: IntervalMark) -> tuple[int, int, int]:
    """Ground truth in one colour, predictions by review state (unknown states grey)."""
    return GT_COLOUR if mark.kind == "gt" else STATE_COLOURS.get(mark.state, (128, 128, 128))


def mark_span(mark: IntervalMark) -> tuple[float, float]:
    """Vertical extent as fractions of the plot: ground truth the lower half, predictions the upper."""
    return (0.0, 0.5) if mark.kind == "gt" else (0.5, 1.0)


class IntervalBands(pg.GraphicsObject):
    """Every interval of one plot painted by one item (hundreds of region items would cost
    milliseconds per repaint in scene bookkeeping alone)."""

    def __init__(self) -> None:
        super().__init__()
        self.marks: list[IntervalMark] = []
        self.setZValue(-10)

    def set_marks(self, marks: Sequence[IntervalMark]) -> None:
        self.prepareGeometryChange()
        self.marks = list(marks)
        self.update()

    def _y_range(self) -> tuple[float, float]:
        vb = self.getViewBox()
        if vb is None:
            return 0.0, 1.0
        y0, y1 = vb.viewRange()[1]
        return float(y0), float(y1)

    def viewRangeChanged(self) -> None:
        self.prepareGeometryChange()     # the bands span a fraction of the visible y range

    def boundingRect(self) -> QtCore.QRectF:
        if not self.marks:
            return QtCore.QRectF()
        y0, y1 = self._y_range()
        x0 = min(m.onset for m in self.marks) - 0.5
        x1 = max(m.offset for m in self.marks) + 0.5
        return QtCore.QRectF(x0, y0, x1 - x0, y1 - y0)

    def paint(self, painter: QtGui.QPainter, *args) -> None:  # type: ignore[no-untyped-def]
        y0, y1 = self._y_range()
        for mark in self.marks:
            colour = mark_colour(mark)
            lo, hi = mark_span(mark)
            rect = QtCore.QRectF(mark.onset - 0.5, y0 + lo * (y1 - y0), mark.offset - mark.onset + 1.0,
                                 (hi - lo) * (y1 - y0))
            painter.fillRect(rect, QtGui.QColor(*colour, _REGION_ALPHA))
            pen = pg.mkPen(*colour, 150)
            pen.setCosmetic(True)
            painter.setPen(pen)
            painter.drawLine(rect.topLeft(), rect.bottomLeft())
            painter.drawLine(rect.topRight(), rect.bottomRight())
