"""Synchronised curves: spotting, recognition and per-ROI flow on linked frame axes, with a playhead.

Plain data in (arrays of length n_frames in source frame numbering, interval tuples), a
``seekRequested(frame)`` signal out, so the review workspace wires it to the player and the
store without this module knowing either.

Full-rate data are handed to pyqtgraph unchanged; long videos stay smooth through its
view-dependent peak downsampling and clip-to-view, which pick what to draw for the pixels
on screen at paint time (the data are never resampled for display).

The playhead must move every displayed frame without redrawing 36 curves (measured: ~40 ms
per move at 100k points when everything under the line is repainted). So curves, axes and
interval regions keep a device-coordinate pixmap cache (the Qt pixmap cache is raised to
hold them), and the y ranges are fitted to the data when the data change instead of on
every paint (pyqtgraph's y auto-range re-evaluates each paint and invalidates the caches):
a move then repaints two thin strips from cached pixmaps (``bench/gui_bench.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from metst_engine.curves import FLOW_COMPONENTS, roi_flow_components
from metst_gui.review.edge_editor import EdgeEditor
from metst_gui.review.interval_bands import (
    GT_COLOUR,
    STATE_COLOURS,
    IntervalBands,
    IntervalMark,
)
from metst_gui.review.timeline_hints import ProvisionalLayer, RejectedPeakHints

__all__ = ["IntervalMark", "Timeline"]


_CACHE = QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache
_PIXMAP_CACHE_KB = 256 * 1024          # 36 cached curves of a 1600 px wide plot need ~70 MB


def _cached(item: QtWidgets.QGraphicsItem) -> QtWidgets.QGraphicsItem:
    """Paint ``item`` from a pixmap until it changes (a playhead move then costs a blit)."""
    target = item.curve if isinstance(item, pg.PlotDataItem) else item
    target.setCacheMode(_CACHE)
    return item


def _curve_colour(i: int, n: int) -> QtGui.QColor:
    """Distinct hues dark enough to read on white (pyqtgraph's defaults include pale yellow)."""
    return pg.intColor(i, hues=max(n, 2), minValue=190, maxValue=190)


class SeekViewBox(pg.ViewBox):
    """A ViewBox where a left click or drag asks to seek, the wheel zooms the frame axis only,
    and the middle / right buttons keep pyqtgraph's pan / zoom."""

    seekRequested = QtCore.Signal(float)
    pickRequested = QtCore.Signal(float)

    def __init__(self) -> None:
        super().__init__()
        self.setMouseEnabled(x=True, y=False)

    def mouseClickEvent(self, ev) -> None:  # type: ignore[no-untyped-def]
        if ev.button() == QtCore.Qt.MouseButton.LeftButton:
            ev.accept()
            self.seekRequested.emit(self.mapSceneToView(ev.scenePos()).x())
            return
        if ev.button() == QtCore.Qt.MouseButton.RightButton:     # the menu acts on the interval under the cursor
            self.pickRequested.emit(self.mapSceneToView(ev.scenePos()).x())
        super().mouseClickEvent(ev)

    def mouseDragEvent(self, ev, axis=None) -> None:  # type: ignore[no-untyped-def]
        if ev.button() == QtCore.Qt.MouseButton.LeftButton:
            ev.accept()
            self.seekRequested.emit(self.mapSceneToView(ev.scenePos()).x())
        else:
            super().mouseDragEvent(ev, axis)


class FrameTimeAxis(pg.AxisItem):
    """Bottom axis in source frames, or labelled in seconds (x stays in frames either way)."""

    def __init__(self) -> None:
        super().__init__(orientation="bottom")
        self.fps: float | None = None

    def show_seconds(self, fps: float | None) -> None:
        self.fps = fps
        shown = self.label.isVisible()
        self.setLabel("time (s)" if fps else "frame")
        self.showLabel(shown)                      # only the bottom plot shows its label
        self.picture = None
        self.update()

    def tickStrings(self, values, scale, spacing):  # type: ignore[no-untyped-def]
        if not self.fps:
            return [f"{round(v)}" for v in values]
        digits = 0 if spacing / self.fps >= 1 else 1 if spacing / self.fps >= 0.1 else 2
        return [f"{v / self.fps:.{digits}f}" for v in values]


class Timeline(QtWidgets.QWidget):
    """Stacked plots with linked x axes (source frames), a playhead, intervals and an ROI checklist.

    Signals: ``seekRequested(frame)`` on a left click or drag on any plot, ``pickRequested(frame)``
    on a right click (before its menu). Slots / methods:
    ``set_length``, ``set_spotting``, ``set_recognition``, ``set_flow``, ``set_flow_mode``,
    ``set_visible_rois``, ``set_intervals``, ``set_playhead``, ``set_follow_playhead``,
    ``set_time_axis``, ``set_selected_interval`` (draggable edges, :class:`~metst_gui.review.edge_editor.EdgeEditor`:
    ``edgeMoving(which, frame)`` during a drag, ``regionEdited(onset, offset)`` when it ends with new bounds).
    """

    seekRequested = QtCore.Signal(int)
    pickRequested = QtCore.Signal(int)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.n_frames = 0
        self.fps = 30.0
        self.playhead = 0
        self.follow_playhead = True
        self.flow_mode = "magnitude"
        self._flow: np.ndarray | None = None
        self._flow_channels: list[str] = []
        self._roi_groups: dict[str, str] = {}
        self._roi_colours: dict[str, QtGui.QColor] = {}
        self.flow_curves: dict[str, pg.PlotDataItem] = {}
        self.recognition_curves: dict[str, pg.PlotDataItem] = {}
        self.spotting_curve: pg.PlotDataItem | None = None
        self.threshold_item: pg.GraphicsObject | None = None
        self._marks: list[IntervalMark] = []
        self.bands: dict[str, IntervalBands] = {}
        self.edges = EdgeEditor(self)
        self.edgeMoving = self.edges.edgeMoving
        self.regionEdited = self.edges.regionEdited

        if QtGui.QPixmapCache.cacheLimit() < _PIXMAP_CACHE_KB:
            QtGui.QPixmapCache.setCacheLimit(_PIXMAP_CACHE_KB)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground("w")
        self.plots: dict[str, pg.PlotItem] = {}
        self.playheads: dict[str, pg.InfiniteLine] = {}
        for name, label in (("spotting", "spotting"), ("recognition", "recognition p"), ("flow", "ROI flow (crop px)")):
            self.plots[name] = self._make_plot(name, label)
        master = self.plots["flow"]
        for plot in self.plots.values():
            if plot is not master:
                plot.setXLink(master)
        self.plots["spotting"].setYRange(0, 1, padding=0.02)
        self.plots["recognition"].setYRange(0, 1, padding=0.02)
        self.recognition_legend = self.plots["recognition"].addLegend(
            offset=(5, 5), brush=pg.mkBrush(255, 255, 255, 200), labelTextColor=(30, 30, 30))
        self._relayout()

        self.roi_tree = QtWidgets.QTreeWidget()
        self.roi_tree.setHeaderHidden(True)
        self.roi_tree.itemChanged.connect(self._roi_item_changed)
        self.mode_box = QtWidgets.QComboBox()
        for comp in FLOW_COMPONENTS:
            self.mode_box.addItem(comp, comp)
        self.mode_box.setCurrentText(self.flow_mode)
        self.mode_box.currentTextChanged.connect(self.set_flow_mode)
        self.follow_box = QtWidgets.QCheckBox("Follow playhead")
        self.follow_box.setChecked(True)
        self.follow_box.toggled.connect(self.set_follow_playhead)
        self.seconds_box = QtWidgets.QCheckBox("Time axis (s)")
        self.seconds_box.toggled.connect(self.set_time_axis)
        side = QtWidgets.QWidget()
        side_layout = QtWidgets.QVBoxLayout(side)
        side_layout.setContentsMargins(2, 2, 2, 2)
        form = QtWidgets.QFormLayout()
        form.addRow("Flow", self.mode_box)
        side_layout.addLayout(form)
        side_layout.addWidget(self.roi_tree, 1)
        side_layout.addWidget(self.follow_box)
        side_layout.addWidget(self.seconds_box)
        side_layout.addWidget(self._state_legend())
        side.setMaximumWidth(220)
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(side)

    # -- construction ---------------------------------------------------------------------
    def _make_plot(self, name: str, label: str) -> pg.PlotItem:
        box = SeekViewBox()
        box.seekRequested.connect(self._seek_at)
        box.pickRequested.connect(lambda x: self.n_frames and self.pickRequested.emit(self._frame_at(x)))
        plot = pg.PlotItem(viewBox=box, axisItems={"bottom": FrameTimeAxis()})
        plot.setLabel("bottom", "frame")
        plot.setLabel("left", label)
        plot.getAxis("left").setWidth(56)          # same width everywhere, so the x axes line up
        plot.getAxis("left").enableAutoSIPrefix(False)
        plot.setClipToView(True)
        plot.enableAutoRange(y=False)              # fitted on data changes (see the module docstring)
        for side in ("left", "bottom"):
            _cached(plot.getAxis(side))
        plot.setDownsampling(auto=True, mode="peak")
        plot.showGrid(x=True, y=True, alpha=0.15)
        line = pg.InfiniteLine(pos=0, angle=90, movable=False, pen=pg.mkPen((220, 0, 0), width=2))
        line.setZValue(100)
        plot.addItem(line, ignoreBounds=True)
        self.playheads[name] = line
        self.bands[name] = _cached(IntervalBands())
        plot.addItem(self.bands[name], ignoreBounds=True)
        return plot

    def _state_legend(self) -> QtWidgets.QLabel:
        parts = [f'<span style="color:rgb{c}">&#9632;</span> {s}' for s, c in STATE_COLOURS.items()]
        parts.append(f'<span style="color:rgb{GT_COLOUR}">&#9632;</span> ground truth (lower half)')
        label = QtWidgets.QLabel("<br>".join(parts))
        label.setToolTip("Predicted intervals fill the upper half of each plot, ground truth the lower half")
        return label

    def _has_data(self, name: str) -> bool:
        if name == "spotting":
            return self.spotting_curve is not None
        if name == "recognition":
            return bool(self.recognition_curves)
        return bool(self.flow_curves)

    def _relayout(self) -> None:
        """Stack the plots that have data (flow always), x axis labels on the bottom one only."""
        self.graphics.ci.clear()
        shown = [n for n in ("spotting", "recognition", "flow") if n == "flow" or self._has_data(n)]
        for row, name in enumerate(shown):
            plot = self.plots[name]
            self.graphics.ci.addItem(plot, row=row, col=0)
            axis = plot.getAxis("bottom")
            last = name == shown[-1]
            axis.setStyle(showValues=last)          # grid lines everywhere, numbers and label once
            axis.showLabel(last)
            axis.setHeight(None if last else 6)
        for row, name in enumerate(shown):
            self.graphics.ci.layout.setRowStretchFactor(row, 2 if name == "flow" else 1)

    # -- data -----------------------------------------------------------------------------
    def set_length(self, n_frames: int, fps: float) -> None:
        """The video's frame count and rate (x range and the seconds axis)."""
        self.n_frames, self.fps = int(n_frames), float(fps)
        for plot in self.plots.values():
            plot.getViewBox().setLimits(xMin=-0.5, xMax=max(n_frames - 0.5, 1))
        self.plots["flow"].setXRange(0, max(n_frames - 1, 1), padding=0.01)
        if self.seconds_box.isChecked():
            self.set_time_axis(True)

    def set_spotting(self, probability: np.ndarray | None, threshold: float | np.ndarray | None = None) -> None:
        """The per-frame spotting score and its threshold (a number: a horizontal line)."""
        plot = self.plots["spotting"]
        for item in (self.spotting_curve, self.threshold_item):
            if item is not None:
                plot.removeItem(item)
        self.spotting_curve = self.threshold_item = None
        if probability is not None:
            p = np.asarray(probability, dtype=np.float32)
            self.spotting_curve = _cached(plot.plot(np.arange(len(p)), p, pen=pg.mkPen((20, 20, 20), width=1.5),
                                                    connect="finite"))
            pen = pg.mkPen((220, 120, 0), width=1.5, style=QtCore.Qt.PenStyle.DashLine)
            if threshold is not None and np.ndim(threshold) == 0:
                self.threshold_item = pg.InfiniteLine(pos=float(threshold), angle=0, pen=pen)
                plot.addItem(self.threshold_item)
            elif threshold is not None:
                th = np.asarray(threshold, dtype=np.float32)
                self.threshold_item = _cached(plot.plot(np.arange(len(th)), th, pen=pen, connect="finite"))
            top = float(np.nanmax(p)) if np.isfinite(p).any() else 1.0
            if threshold is not None:
                top = max(top, float(np.nanmax(threshold)))
            plot.setYRange(0, max(top, 1e-6), padding=0.05)
        self._relayout()

    def set_recognition(self, probabilities: np.ndarray | None, class_names: Sequence[str] = ()) -> None:
        """Per-frame class probabilities (n_frames, n_classes), one curve per class."""
        plot = self.plots["recognition"]
        for curve in self.recognition_curves.values():
            plot.removeItem(curve)
        self.recognition_curves = {}
        if probabilities is not None:
            probs = np.asarray(probabilities, dtype=np.float32)
            x = np.arange(probs.shape[0])
            for i, name in enumerate(class_names):
                pen = pg.mkPen(_curve_colour(i, len(class_names)), width=1)
                self.recognition_curves[name] = _cached(plot.plot(x, probs[:, i], pen=pen, name=name,
                                                                  connect="finite"))
        self._relayout()

    def set_flow(self, flow: np.ndarray | None, channel_names: Sequence[str] = (),
                 roi_groups: Mapping[str, str] | None = None) -> None:
        """Stitched per-frame flow (n_frames, C) with ``<roi>_x/_y`` channels; ``roi_groups`` maps
        ROI name -> face region for the checklist (default: the name's first part)."""
        self._flow = None if flow is None else np.asarray(flow, dtype=np.float32)
        self._flow_channels = list(channel_names)
        rois = [c[:-2] for c in self._flow_channels if c.endswith("_x")]
        self._roi_groups = {r: (roi_groups or {}).get(r) or r.split("_")[0] for r in rois}
        self._roi_colours = {r: _curve_colour(i, len(rois)) for i, r in enumerate(rois)}
        self._build_roi_tree(rois)
        self._draw_flow(visible=set(rois))

    def set_flow_mode(self, mode: str) -> None:
        """'x', 'y' or 'magnitude' of each ROI's flow vector."""
        if mode not in FLOW_COMPONENTS:
            raise ValueError(f"flow mode must be one of {FLOW_COMPONENTS}, got {mode!r}")
        self.flow_mode = mode
        if self.mode_box.currentText() != mode:
            self.mode_box.setCurrentText(mode)
        self._draw_flow(visible=set(self.visible_rois()))

    def _draw_flow(self, visible: set[str]) -> None:
        plot = self.plots["flow"]
        for curve in self.flow_curves.values():
            plot.removeItem(curve)
        self.flow_curves = {}
        if self._flow is not None:
            curves = roi_flow_components(self._flow, self._flow_channels, self.flow_mode)
            x = np.arange(self._flow.shape[0])
            for roi, values in curves.items():
                # width 1: Qt's fast cosmetic-line path (wider pens stroke ~15x slower at 36 curves)
                curve = _cached(plot.plot(x, values, pen=pg.mkPen(self._roi_colours[roi], width=1), connect="finite"))
                curve.setVisible(roi in visible)
                self.flow_curves[roi] = curve
        plot.setLabel("left", f"ROI flow {self.flow_mode} (crop px)")
        self._fit_flow_y()
        self._relayout()

    def _build_roi_tree(self, rois: list[str]) -> None:
        self.roi_tree.blockSignals(True)
        self.roi_tree.clear()
        groups: dict[str, QtWidgets.QTreeWidgetItem] = {}
        for roi in rois:
            group = self._roi_groups[roi]
            if group not in groups:
                parent = QtWidgets.QTreeWidgetItem(self.roi_tree, [group])
                parent.setFlags(parent.flags() | QtCore.Qt.ItemFlag.ItemIsUserCheckable
                                | QtCore.Qt.ItemFlag.ItemIsAutoTristate)
                parent.setCheckState(0, QtCore.Qt.CheckState.Checked)
                groups[group] = parent
            item = QtWidgets.QTreeWidgetItem(groups[group], [roi])
            item.setFlags(item.flags() | QtCore.Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(0, QtCore.Qt.CheckState.Checked)
            item.setData(0, QtCore.Qt.ItemDataRole.UserRole, roi)
            swatch = QtGui.QPixmap(10, 10)
            swatch.fill(self._roi_colours[roi])
            item.setIcon(0, QtGui.QIcon(swatch))
        self.roi_tree.expandAll()
        self.roi_tree.blockSignals(False)

    def _roi_items(self) -> list[QtWidgets.QTreeWidgetItem]:
        top = [self.roi_tree.topLevelItem(i) for i in range(self.roi_tree.topLevelItemCount())]
        return [g.child(j) for g in top for j in range(g.childCount())]

    def visible_rois(self) -> list[str]:
        """The ROIs ticked in the checklist."""
        return [it.data(0, QtCore.Qt.ItemDataRole.UserRole) for it in self._roi_items()
                if it.checkState(0) == QtCore.Qt.CheckState.Checked]

    def set_visible_rois(self, names: Sequence[str]) -> None:
        """Tick exactly these ROIs (the curves follow)."""
        wanted = set(names)
        for item in self._roi_items():
            roi = item.data(0, QtCore.Qt.ItemDataRole.UserRole)
            item.setCheckState(0, QtCore.Qt.CheckState.Checked if roi in wanted else QtCore.Qt.CheckState.Unchecked)

    def _roi_item_changed(self, item: QtWidgets.QTreeWidgetItem, column: int) -> None:
        roi = item.data(0, QtCore.Qt.ItemDataRole.UserRole)
        if roi in self.flow_curves:
            self.flow_curves[roi].setVisible(item.checkState(0) == QtCore.Qt.CheckState.Checked)
            self._fit_flow_y()

    def _fit_flow_y(self) -> None:
        """Fit the flow plot's y range to the ticked curves over the whole video."""
        lows, highs = [], []
        for curve in self.flow_curves.values():
            if curve.isVisible() and curve.yData is not None and np.isfinite(curve.yData).any():
                lows.append(float(np.nanmin(curve.yData)))
                highs.append(float(np.nanmax(curve.yData)))
        if lows:
            low, high = min(lows), max(highs)
            self.plots["flow"].setYRange(low, high if high > low else low + 1, padding=0.05)

    def set_intervals(self, marks: Sequence[IntervalMark | tuple[int, int, str, str]]) -> None:
        """Coloured regions on every plot: predictions by state (upper half), ground truth (lower half)."""
        self._marks = [IntervalMark(*m) for m in marks]
        for bands in self.bands.values():
            bands.set_marks(self._marks)

    @property
    def intervals(self) -> list[IntervalMark]:
        return list(self._marks)

    def set_selected_interval(self, span: tuple[int, int] | None) -> None:
        """Outline the selected interval (inclusive frames) with edges the user can drag, on the
        spotting plot (the flow plot when there is no spotting curve); None removes it."""
        self.edges.n_frames = self.n_frames
        self.edges.show(span, self.editing_plot())

    @property
    def selected_region(self) -> pg.LinearRegionItem | None:
        return self.edges.region

    def editing_plot(self) -> pg.PlotItem:
        """The plot that carries the selected interval's draggable edges."""
        return self.plots["spotting" if self._has_data("spotting") else "flow"]

    def add_context_action(self, action: QtGui.QAction) -> None:
        """Offer ``action`` in every plot's right-click menu (after pyqtgraph's own entries)."""
        for plot in self.plots.values():
            menu = plot.getViewBox().menu
            menu.addSeparator()
            menu.addAction(action)

    # -- rejected peaks and provisional intervals (metst_gui.review.timeline_hints) ---------
    def set_rejected_peaks(self, peaks: Sequence) -> None:
        """Peaks above the spotting line that got no proposal (``RejectedPeak``): a small marker
        each, and the engine's reason as a tooltip when the mouse comes near."""
        if getattr(self, "rejected_hints", None) is None:
            self.rejected_hints = RejectedPeakHints(self.graphics, self.plots["spotting"])
        self.rejected_hints.set_peaks(peaks)

    def set_provisional(self, marks: Sequence[IntervalMark] | None, upto_frame: int = 0) -> None:
        """Read-only intervals of a running analysis in frames [0, upto_frame); None clears them."""
        if getattr(self, "provisional", None) is None:
            self.provisional = ProvisionalLayer([self.plots[n] for n in ("flow", "spotting", "recognition")])
        self.provisional.set(marks, upto_frame, self.n_frames)

    # -- playhead and view ----------------------------------------------------------------
    def set_playhead(self, frame: int) -> None:
        """Move the playhead line on every plot; with follow on, page the view to keep it visible."""
        self.playhead = int(frame)
        for line in self.playheads.values():
            line.setValue(frame)
        if self.follow_playhead:
            self._keep_in_view(frame)

    def _keep_in_view(self, frame: int) -> None:
        (x0, x1), = [self.plots["flow"].getViewBox().viewRange()[0]]
        width = x1 - x0
        if x0 <= frame <= x1 - 0.02 * width:
            return
        start = frame - 0.1 * width
        self.plots["flow"].setXRange(start, start + width, padding=0)

    def set_follow_playhead(self, on: bool) -> None:
        self.follow_playhead = bool(on)
        if self.follow_box.isChecked() != self.follow_playhead:
            self.follow_box.setChecked(self.follow_playhead)
        if on:
            self._keep_in_view(self.playhead)

    def set_time_axis(self, seconds: bool) -> None:
        """Label the frame axes in seconds (at the video's fps) instead of frame numbers."""
        if self.seconds_box.isChecked() != bool(seconds):
            self.seconds_box.setChecked(bool(seconds))
        for plot in self.plots.values():
            axis = plot.getAxis("bottom")
            assert isinstance(axis, FrameTimeAxis)
            axis.show_seconds(self.fps if seconds else None)

    def set_x_range(self, first: int, last: int) -> None:
        """Show frames first..last on every plot (they are linked)."""
        self.plots["flow"].setXRange(first, last, padding=0)

    def _frame_at(self, x: float) -> int:
        return int(min(max(round(x), 0), self.n_frames - 1))

    def _seek_at(self, x: float) -> None:
        if self.n_frames:
            self.seekRequested.emit(self._frame_at(x))
