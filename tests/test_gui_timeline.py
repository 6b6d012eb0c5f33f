"""The timeline: clicking or dragging on any plot seeks there, the playhead follows, the ROI
checklist toggles curves, flow modes, interval regions by state, full-rate data."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6 import QtCore, QtGui, QtWidgets
from PySide6.QtTest import QTest

from metst_engine.rois import load_roi_set

N = 3000


@pytest.fixture
def timeline(qtbot):
    from metst_gui.review.timeline import IntervalMark, Timeline

    rois = load_roi_set("metst_plus")
    rng = np.random.default_rng(0)
    flow = rng.normal(0, 0.3, (N, rois.n_channels)).astype(np.float32)
    flow[:25] = np.nan                                   # uncovered frames stay gaps
    spot = np.clip(rng.random(N) * 0.3, 0, 1).astype(np.float32)
    spot[1200:1215] = 0.9
    recog = rng.dirichlet(np.ones(4), N).astype(np.float32)
    tl = Timeline()
    tl.set_length(N, 30.0)
    tl.set_spotting(spot, 0.5)
    tl.set_recognition(recog, ["negative", "positive", "surprise", "neutral"])
    tl.set_flow(flow, rois.channel_names, {r.name: r.group for r in rois.rois})
    tl.set_intervals([IntervalMark(1200, 1214, "pending", "pred"), IntervalMark(400, 420, "accepted", "pred"),
                      IntervalMark(2000, 2010, "rejected", "pred"), IntervalMark(2500, 2520, "corrected", "pred"),
                      IntervalMark(1198, 1216, "accepted", "gt")])
    qtbot.addWidget(tl)
    tl.resize(1000, 600)
    tl.show()
    qtbot.waitExposed(tl)
    tl.set_follow_playhead(False)
    tl.set_x_range(0, N - 1)
    qtbot.wait(50)
    return tl


def viewport_pos(tl, plot_name: str, frame: float) -> QtCore.QPoint:
    """Where frame ``frame`` (mid-height) is drawn in the graphics view's viewport."""
    vb = tl.plots[plot_name].getViewBox()
    (_, _), (y0, y1) = vb.viewRange()
    scene = vb.mapViewToScene(QtCore.QPointF(frame, (y0 + y1) / 2))
    return tl.graphics.mapFromScene(scene)


def frames_per_pixel(tl) -> float:
    vb = tl.plots["flow"].getViewBox()
    (x0, x1), _ = vb.viewRange()
    return (x1 - x0) / vb.width()


@pytest.mark.parametrize("plot_name", ["spotting", "recognition", "flow"])
def test_clicking_any_plot_seeks_to_that_frame(qtbot, timeline, plot_name):
    with qtbot.waitSignal(timeline.seekRequested, timeout=2000) as sig:
        QTest.mouseClick(timeline.graphics.viewport(), QtCore.Qt.MouseButton.LeftButton,
                         QtCore.Qt.KeyboardModifier.NoModifier, viewport_pos(timeline, plot_name, 1234))
    assert abs(sig.args[0] - 1234) <= frames_per_pixel(timeline) + 1


def test_dragging_seeks_along_the_way(qtbot, timeline):
    seen: list[int] = []
    timeline.seekRequested.connect(seen.append)
    viewport = timeline.graphics.viewport()
    start, end = viewport_pos(timeline, "flow", 500), viewport_pos(timeline, "flow", 900)
    left = QtCore.Qt.MouseButton.LeftButton

    def send(kind: QtCore.QEvent.Type, pos: QtCore.QPoint, buttons: QtCore.Qt.MouseButton) -> None:
        event = QtGui.QMouseEvent(kind, QtCore.QPointF(pos), QtCore.QPointF(viewport.mapToGlobal(pos)), left,
                                  buttons, QtCore.Qt.KeyboardModifier.NoModifier)
        QtWidgets.QApplication.sendEvent(viewport, event)

    send(QtCore.QEvent.Type.MouseButtonPress, start, left)
    for k in range(1, 11):
        qtbot.wait(15)                                   # pyqtgraph handles at most 100 moves per second
        send(QtCore.QEvent.Type.MouseMove, start + (end - start) * (k / 10), left)
    send(QtCore.QEvent.Type.MouseButtonRelease, end, QtCore.Qt.MouseButton.NoButton)
    assert len(seen) >= 5
    assert seen == sorted(seen)                          # follows the pointer to the right
    assert abs(seen[-1] - 900) <= frames_per_pixel(timeline) + 1
    (x0, x1), _ = timeline.plots["flow"].getViewBox().viewRange()
    assert (x0, x1) == pytest.approx((0, N - 1), abs=1)   # a left drag seeks, it does not pan


def test_playhead_moves_on_every_plot_and_follows_when_asked(timeline):
    timeline.set_playhead(700)
    assert all(line.value() == 700 for line in timeline.playheads.values())
    timeline.set_x_range(0, 499)
    timeline.set_playhead(1500)                          # follow off: the view stays
    assert timeline.plots["flow"].getViewBox().viewRange()[0] == pytest.approx([0, 499], abs=0.5)
    timeline.set_follow_playhead(True)                   # on: the view pages to the playhead
    for frame in (1500, 1800, 2990, 100):
        timeline.set_playhead(frame)
        for plot in timeline.plots.values():             # linked x axes
            x0, x1 = plot.getViewBox().viewRange()[0]
            assert x0 <= frame <= x1 and x1 - x0 == pytest.approx(499, abs=1)


def test_the_roi_checklist_toggles_curves_by_roi_and_by_face_region(timeline):
    groups = {timeline.roi_tree.topLevelItem(i).text(0): timeline.roi_tree.topLevelItem(i)
              for i in range(timeline.roi_tree.topLevelItemCount())}
    assert set(groups) == {"brows", "eyes", "nose", "mouth"}
    assert len(timeline.flow_curves) == 18 and all(c.isVisible() for c in timeline.flow_curves.values())
    mouth = groups["mouth"]
    mouth.child(0).setCheckState(0, QtCore.Qt.CheckState.Unchecked)
    first = mouth.child(0).text(0)
    assert not timeline.flow_curves[first].isVisible()
    assert mouth.checkState(0) == QtCore.Qt.CheckState.PartiallyChecked
    groups["brows"].setCheckState(0, QtCore.Qt.CheckState.Unchecked)      # a whole region
    brows = [n for n in timeline.flow_curves if n.startswith("brow")]
    assert len(brows) == 8 and not any(timeline.flow_curves[n].isVisible() for n in brows)
    assert timeline.flow_curves["lower_lid_l"].isVisible()
    timeline.set_visible_rois(["lower_lid_l", "nose_wing_r"])
    assert {n for n, c in timeline.flow_curves.items() if c.isVisible()} == {"lower_lid_l", "nose_wing_r"}
    timeline.set_flow_mode("x")                          # a mode change keeps the ticked set
    assert {n for n, c in timeline.flow_curves.items() if c.isVisible()} == {"lower_lid_l", "nose_wing_r"}


def test_flow_modes_plot_the_component_at_full_rate(timeline):
    flow = timeline._flow
    names = timeline._flow_channels
    ix, iy = names.index("mouth_x"), names.index("mouth_y")
    for mode, expected in (("x", flow[:, ix]), ("y", flow[:, iy]), ("magnitude", np.hypot(flow[:, ix], flow[:, iy]))):
        timeline.set_flow_mode(mode)
        curve = timeline.flow_curves["mouth"]
        x, y = curve.xData, curve.yData
        assert len(x) == N and np.array_equal(x, np.arange(N))          # never resampled
        np.testing.assert_array_equal(y, expected)
    for plot in timeline.plots.values():
        assert plot.ctrl.clipToViewCheck.isChecked()
        assert plot.ctrl.downsampleCheck.isChecked() and plot.ctrl.autoDownsampleCheck.isChecked()
        assert plot.ctrl.peakRadio.isChecked()
    with pytest.raises(ValueError):
        timeline.set_flow_mode("angle")


def test_intervals_are_coloured_by_state_and_kind(timeline, qtbot):
    from metst_gui.review.interval_bands import (
        GT_COLOUR,
        STATE_COLOURS,
        IntervalMark,
        mark_colour,
        mark_span,
    )

    assert all(len(b.marks) == 5 for b in timeline.bands.values())          # on every plot
    assert mark_colour(IntervalMark(1, 2, "pending", "pred")) == STATE_COLOURS["pending"]
    assert mark_colour(IntervalMark(1, 2, "rejected", "pred")) == STATE_COLOURS["rejected"]
    assert mark_colour(IntervalMark(1, 2, "accepted", "gt")) == GT_COLOUR
    assert mark_span(IntervalMark(1, 2, "accepted", "gt")) == (0.0, 0.5)
    assert mark_span(IntervalMark(1, 2, "corrected", "pred")) == (0.5, 1.0)
    # The pixels: upper half of the flow plot orange inside the pending interval, white outside.
    timeline.set_intervals([IntervalMark(1200, 1400, "pending", "pred")])
    timeline.set_visible_rois([])
    timeline.set_x_range(1000, 1600)
    qtbot.wait(50)
    image = timeline.graphics.grab().toImage()
    vb = timeline.plots["flow"].getViewBox()
    (_, _), (y0, y1) = vb.viewRange()

    def colour_at(frame: float, fraction: float) -> tuple[int, int, int]:
        pt = timeline.graphics.mapFromScene(vb.mapViewToScene(QtCore.QPointF(frame, y0 + fraction * (y1 - y0))))
        c = image.pixelColor(pt * image.devicePixelRatio())
        return c.red(), c.green(), c.blue()

    inside, outside, lower = colour_at(1300, 0.8), colour_at(1500, 0.8), colour_at(1300, 0.2)
    assert inside[0] > inside[2] + 40                    # orange tint (red well above blue)
    assert outside[0] - outside[2] < 10 and lower[0] - lower[2] < 10   # untinted
    timeline.set_intervals([])
    assert all(b.marks == [] for b in timeline.bands.values())


def test_screenshot_of_the_timeline(timeline, qtbot, artifacts_dir):
    from metst_gui.review.timeline import IntervalMark

    timeline.set_intervals([IntervalMark(1200, 1214, "pending", "pred"), IntervalMark(1198, 1216, "accepted", "gt"),
                            IntervalMark(1300, 1320, "accepted", "pred"), IntervalMark(1400, 1410, "rejected", "pred")])
    timeline.set_x_range(1100, 1500)
    timeline.set_playhead(1207)
    timeline.set_time_axis(True)
    qtbot.wait(50)
    assert timeline.plots["flow"].getAxis("bottom").tickStrings([1200.0], 1, 30) == ["40"]
    timeline.grab().save(str(artifacts_dir / "timeline.png"))
