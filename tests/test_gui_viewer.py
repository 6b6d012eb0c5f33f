"""The viewer shows exactly frame i, steps with the keyboard, and seeks when a curve is clicked."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtCore

from metst_engine.extraction import extract_video
from metst_engine.features import ExtractParams
from metst_engine.resources_path import resource_path
from metst_engine.video import open_video

DEMO = Path(str(resource_path("demo", "demo_face.mp4")))
WAIT_MS = 20_000


@pytest.fixture(scope="module")
def demo_features(tmp_path_factory):
    return extract_video(DEMO, ExtractParams(rois="metst", window=30), cache_dir=tmp_path_factory.mktemp("cache"))


@pytest.fixture
def window(qtbot, demo_features):
    from metst_gui.player.viewer import ViewerWindow
    from metst_gui.review.timeline import IntervalMark

    # spotted intervals (pending) and the demo's ground truth from the JSON written beside the video
    marks = [IntervalMark(a, b, "pending", "pred") for a, b in [(62, 67), (152, 159)]]
    events = json.loads(DEMO.with_suffix(".json").read_text(encoding="utf-8"))["events"]
    marks += [IntervalMark(int(ev["onset"]), int(ev["offset"]), "accepted", "gt") for ev in events]
    assert len(marks) > 2
    video = open_video(DEMO)
    win = ViewerWindow(video, demo_features, intervals=marks)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.close()
    video.close()


def wait_exact(qtbot, player, index: int) -> None:
    qtbot.waitUntil(lambda: player.shown_index == index and player.shown_exact, timeout=WAIT_MS)


def test_keys_step_and_jump_and_show_the_exact_frame(qtbot, window):
    player = window.player
    with open_video(DEMO) as ref:
        qtbot.keyClick(window, QtCore.Qt.Key.Key_Right)
        qtbot.keyClick(window, QtCore.Qt.Key.Key_Right)
        assert player.index == 2
        wait_exact(qtbot, player, 2)
        assert np.array_equal(player.shown_bgr(), ref.frame(2))
        qtbot.keyClick(window, QtCore.Qt.Key.Key_Right, QtCore.Qt.KeyboardModifier.ShiftModifier)
        assert player.index == 32                       # one second at 30 fps
        qtbot.keyClick(window, QtCore.Qt.Key.Key_Left)
        assert player.index == 31
        wait_exact(qtbot, player, 31)
        assert np.array_equal(player.shown_bgr(), ref.frame(31))
        assert "frame 31" in player.position_label.text()
        assert window.timeline.playhead == 31           # the curves' playhead follows
        qtbot.keyClick(window, QtCore.Qt.Key.Key_PageDown)
        assert player.index == 60                       # next interval (ground truth 60-69)
        player.seek(10_000)
        assert player.index == ref.n_frames - 1         # clamped to the last frame


def test_clicking_the_curves_seeks_there(qtbot, window, artifacts_dir):
    timeline = window.timeline
    timeline.set_x_range(0, 239)
    qtbot.wait(50)
    vb = timeline.plots["flow"].getViewBox()
    view_pt = timeline.graphics.mapFromScene(vb.mapViewToScene(QtCore.QPointF(64, 1.0)))
    qtbot.mouseClick(timeline.graphics.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=view_pt)
    player = window.player
    assert abs(player.index - 64) <= 1
    assert timeline.playhead == player.index
    assert len(timeline.flow_curves) == 5               # one curve per ROI of the metst set
    assert timeline.spotting_curve is not None          # the model-free spotter's score
    wait_exact(qtbot, player, player.index)
    window.grab().save(str(artifacts_dir / "viewer_demo.png"))
