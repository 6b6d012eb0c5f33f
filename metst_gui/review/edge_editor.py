"""The selected interval's draggable edges on the curves: whole-frame snapping, a fine mode and a live label.

At the default zoom one frame is about 1.4 px wide, so the edges snap to frame boundaries
(an edge sits half a frame outside its frame), Shift held while dragging moves an edge at a
tenth of the mouse's speed, and a label next to the edge names the frame while it moves.
``edgeMoving(which, frame)`` reports each new frame during a drag (which: "onset" or
"offset"; the window seeks the player there), ``regionEdited(onset, offset)`` the bounds once
the drag ends (one undoable edit).
"""

from __future__ import annotations

import types

import pyqtgraph as pg
from PySide6 import QtCore

#: Shift while dragging: the edge moves this fraction of the mouse's movement.
FINE_FACTOR = 0.1
_SHIFT = QtCore.Qt.KeyboardModifier.ShiftModifier


def snap_edge(x: float) -> float:
    """The nearest frame boundary (k + 0.5) to ``x``: where an interval edge may sit."""
    return round(x - 0.5) + 0.5


def _drag_edge(line: pg.InfiniteLine, ev) -> None:  # type: ignore[no-untyped-def]
    """An edge's drag: relative to where the drag (or the last Shift change) began, scaled down
    by FINE_FACTOR while Shift is held, snapped to frame boundaries."""
    if not (line.movable and ev.button() == QtCore.Qt.MouseButton.LeftButton):
        pg.InfiniteLine.mouseDragEvent(line, ev)
        return
    ev.accept()
    x = line.mapToParent(ev.pos()).x()
    fine = bool(ev.modifiers() & _SHIFT)
    if ev.isStart():
        line.moving = True
        line.startPosition = line.pos()
        line.fine_anchor = (line.value(), line.mapToParent(ev.buttonDownPos()).x(), fine)
    if not line.moving:
        return
    start, cursor, was_fine = line.fine_anchor
    if fine != was_fine:                               # Shift pressed or released mid-drag: carry on from here
        start, cursor = line.value(), x
        line.fine_anchor = (start, cursor, fine)
    line.setValue(snap_edge(start + (x - cursor) * (FINE_FACTOR if fine else 1.0)))
    line.sigDragged.emit(line)
    if ev.isFinish():
        line.moving = False
        line.sigPositionChangeFinished.emit(line)


class EdgeEditor(QtCore.QObject):
    """Owns the selected interval's LinearRegionItem on one plot at a time."""

    edgeMoving = QtCore.Signal(str, int)
    regionEdited = QtCore.Signal(int, int)

    def __init__(self, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.region: pg.LinearRegionItem | None = None
        self.span: tuple[int, int] | None = None
        self.n_frames = 0
        self.label = pg.TextItem(color=(20, 20, 20), fill=pg.mkBrush(255, 255, 230, 235),
                                 border=pg.mkPen((120, 120, 120)))
        self.label.setZValue(200)
        self._moving: tuple[str, int] | None = None

    def show(self, span: tuple[int, int] | None, plot: pg.PlotItem) -> None:
        """Outline ``span`` (inclusive frames) on ``plot`` with draggable edges; None removes it."""
        wanted = None if span is None else (int(span[0]), int(span[1]))
        if wanted is not None and wanted == self.span and self.region is not None:
            return                                  # e.g. scrubbing inside the selected interval
        self._remove()
        self.span = wanted
        if wanted is None:
            return
        onset, offset = wanted
        region = pg.LinearRegionItem(values=(onset - 0.5, offset + 0.5), brush=pg.mkBrush(30, 30, 30, 25),
                                     hoverBrush=pg.mkBrush(30, 30, 30, 45),
                                     pen=pg.mkPen((20, 20, 20), width=3), hoverPen=pg.mkPen((220, 0, 0), width=3))
        region.setZValue(50)
        if self.n_frames:
            region.setBounds((-0.5, self.n_frames - 0.5))
        for line in region.lines:
            line.mouseDragEvent = types.MethodType(_drag_edge, line)
        region.sigRegionChanged.connect(self._changing)
        region.sigRegionChangeFinished.connect(self._finished)
        plot.addItem(region, ignoreBounds=True)
        self.region = region

    def _remove(self) -> None:
        if self.region is not None:
            box = self.region.getViewBox()
            if box is not None:
                box.removeItem(self.region)
            self.region = None
        self._hide_label()

    def bounds(self) -> tuple[int, int]:
        """(onset, offset) the region shows now (whole frames, inside the video)."""
        assert self.region is not None
        lo, hi = self.region.getRegion()
        last = max(self.n_frames - 1, 0)
        onset = int(min(max(round(lo + 0.5), 0), last))
        return onset, int(min(max(round(hi - 0.5), onset), last))

    def _changing(self, region: pg.LinearRegionItem) -> None:
        """Snap a dragged body to whole frames; report the moving edge's frame when it changes."""
        for line in region.lines:
            if not line.moving and line.value() != snap_edge(line.value()):
                line.setValue(snap_edge(line.value()))   # re-enters once, already snapped
        onset, offset = self.bounds()
        lo_line = min(region.lines, key=lambda line: line.value())
        moving = [line for line in region.lines if line.moving]
        which = "onset" if not moving or moving[0] is lo_line else "offset"
        frame = onset if which == "onset" else offset
        if self._moving != (which, frame):
            self._moving = (which, frame)
            self.label.setText(f"{which} {frame}")
            self._place_label(region, which)
            self.edgeMoving.emit(which, frame)

    def set_label_text(self, text: str) -> None:
        """What the label next to the moving edge says (the window adds the frame's time)."""
        self.label.setText(text)

    def _place_label(self, region: pg.LinearRegionItem, which: str) -> None:
        box = region.getViewBox()
        if box is None:
            return
        if self.label.scene() is None:
            box.addItem(self.label, ignoreBounds=True)
        lo, hi = region.getRegion()
        y_top = box.viewRange()[1][1]
        self.label.setAnchor((1.0, 0.0) if which == "onset" else (0.0, 0.0))
        self.label.setPos(lo if which == "onset" else hi, y_top)
        self.label.show()

    def _hide_label(self) -> None:
        self._moving = None
        box = self.label.getViewBox()
        if box is not None:
            box.removeItem(self.label)

    def _finished(self, region: pg.LinearRegionItem) -> None:
        self._hide_label()
        bounds = self.bounds()
        if bounds != self.span:
            self.span = bounds
            self.regionEdited.emit(*bounds)
