"""What the timeline adds to the curves besides intervals: why a peak got no proposal, and provisional intervals.

:class:`RejectedPeakHints` draws a small hollow marker at each peak above the spotting threshold
that the engine left without a proposal (:class:`~metst_engine.intervals.RejectedPeak`) and,
when the mouse is near one, shows the engine's reason as a tooltip ("shorter than 3 frames:
jitter", "merged into the stronger brow spot at frame 120").

:class:`ProvisionalBands` paints the intervals a running Analyze has found so far in the first
part of the video: hatched grey, read-only, labelled "provisional"; they are not in the store
and disappear when the run ends (the real ones are then imported).
"""

from __future__ import annotations

from collections.abc import Sequence

import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from metst_engine.intervals import RejectedPeak
from metst_gui.review.interval_bands import IntervalBands, IntervalMark

#: Marker of a rejected peak: grey, hollow, small (proposals are filled coloured bands).
REJECTED_PEN = (90, 90, 90)
#: How close (screen pixels, along the frame axis) the mouse must come to a rejected peak.
HOVER_PX = 8
PROVISIONAL_COLOUR = (110, 110, 110)


def peak_explanation(peak: RejectedPeak) -> str:
    """The tooltip: where, how strong, and the engine's reason (with the frame it was merged into)."""
    reason = peak.reason
    if peak.by is not None and "frame" not in reason:
        reason = f"{reason} at frame {peak.by}"
    return f"No proposal at frame {peak.apex} (score {peak.score:.2f}): {reason}"


class RejectedPeakHints(QtCore.QObject):
    """Markers and hover explanations for the rejected peaks of one plot of a GraphicsLayoutWidget."""

    def __init__(self, graphics: pg.GraphicsLayoutWidget, plot: pg.PlotItem) -> None:
        super().__init__(graphics)
        self.graphics, self.plot = graphics, plot
        self.peaks: list[RejectedPeak] = []
        self.hover_text = ""                     #: the explanation shown now ("" when none)
        self.markers = pg.ScatterPlotItem(symbol="t", size=9, pen=pg.mkPen(REJECTED_PEN, width=1.2),
                                          brush=pg.mkBrush(255, 255, 255, 0))
        self.markers.setZValue(60)
        plot.addItem(self.markers, ignoreBounds=True)
        graphics.scene().sigMouseMoved.connect(self._mouse_moved)

    def set_peaks(self, peaks: Sequence[RejectedPeak]) -> None:
        self.peaks = list(peaks)
        self.markers.setData([p.apex for p in self.peaks], [p.score for p in self.peaks])
        self._show("")

    def peak_near(self, scene_pos: QtCore.QPointF) -> RejectedPeak | None:
        """The rejected peak within HOVER_PX of the mouse along the frame axis (over this plot), if any."""
        vb = self.plot.getViewBox()
        if not self.peaks or not vb.sceneBoundingRect().contains(scene_pos):
            return None
        x_of = [vb.mapViewToScene(QtCore.QPointF(p.apex, p.score)).x() for p in self.peaks]
        best = min(range(len(self.peaks)), key=lambda i: abs(x_of[i] - scene_pos.x()))
        return self.peaks[best] if abs(x_of[best] - scene_pos.x()) <= HOVER_PX else None

    def _mouse_moved(self, scene_pos: QtCore.QPointF) -> None:
        peak = self.peak_near(scene_pos)
        self._show("" if peak is None else peak_explanation(peak), scene_pos)

    def _show(self, text: str, scene_pos: QtCore.QPointF | None = None) -> None:
        if text == self.hover_text:
            return
        self.hover_text = text
        view = self.graphics
        view.viewport().setToolTip(text)
        if not text:
            QtWidgets.QToolTip.hideText()
        elif scene_pos is not None:
            where = view.viewport().mapToGlobal(view.mapFromScene(scene_pos))
            QtWidgets.QToolTip.showText(where, text, view.viewport())


class ProvisionalBands(IntervalBands):
    """Intervals of a running analysis: hatched grey across the plot, with a "provisional" tag."""

    def set_marks(self, marks: Sequence[IntervalMark]) -> None:
        super().set_marks([IntervalMark(m.onset, m.offset, "provisional", "pred") for m in marks])

    def paint(self, painter: QtGui.QPainter, *args) -> None:  # type: ignore[no-untyped-def]
        y0, y1 = self._y_range()
        brush = QtGui.QBrush(QtGui.QColor(*PROVISIONAL_COLOUR, 110), QtCore.Qt.BrushStyle.BDiagPattern)
        brush.setTransform(QtGui.QTransform(painter.worldTransform().inverted()[0]))   # hatch in screen pixels
        pen = pg.mkPen(*PROVISIONAL_COLOUR, 170, style=QtCore.Qt.PenStyle.DashLine)
        pen.setCosmetic(True)
        for mark in self.marks:
            rect = QtCore.QRectF(mark.onset - 0.5, y0, mark.offset - mark.onset + 1.0, y1 - y0)
            painter.fillRect(rect, brush)
            painter.setPen(pen)
            painter.drawLine(rect.topLeft(), rect.bottomLeft())
            painter.drawLine(rect.topRight(), rect.bottomRight())


class ProvisionalLayer:
    """One :class:`ProvisionalBands` per plot and a text tag on the first; ``set`` replaces them (None: none)."""

    def __init__(self, plots: Sequence[pg.PlotItem]) -> None:
        self.bands = [ProvisionalBands() for _ in plots]
        for plot, bands in zip(plots, self.bands):
            bands.setZValue(-5)
            plot.addItem(bands, ignoreBounds=True)
        self.tag = pg.TextItem("", color=(80, 80, 80), anchor=(0, 0))
        self.tag.setZValue(70)
        plots[0].addItem(self.tag, ignoreBounds=True)
        self.marks: list[IntervalMark] = []
        self.upto_frame = 0

    def set(self, marks: Sequence[IntervalMark] | None, upto_frame: int = 0, n_frames: int = 0) -> None:
        self.marks = list(marks or [])
        self.upto_frame = upto_frame if marks is not None else 0
        for bands in self.bands:
            bands.set_marks(self.marks)
        if marks is None:
            self.tag.setText("")
            return
        self.tag.setText(f"provisional: {len(self.marks)} interval(s) in frames 0-{upto_frame - 1} of "
                         f"{n_frames} (analysis running)")
        (x0, _), (_, y1) = self.bands[0].getViewBox().viewRange() if self.bands[0].getViewBox() else ((0, 0), (0, 1))
        self.tag.setPos(max(x0, 0), y1)
