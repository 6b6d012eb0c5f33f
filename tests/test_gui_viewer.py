"""The viewer shows exactly frame i, steps with the keyboard, and seeks when a curve is clicked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtCore

from metst_engine.extraction import extract_video
from metst_engine.features import ExtractParams
from metst_engine.resources_path import resource_path
from metst_engine.video import open_video

DEMO = Path(str(resource_path("demo", "demo_face.mp4")))


@pytest.fixture(scope="module")
def demo_features(tmp_path_factory):
    return extract_video(DEMO, ExtractParams(rois="metst", window=30), cache_dir=tmp_path_factory.mktemp("cache"))


@pytest.fixture
def window(qtbot, demo_features):
    from metst_gui.app import ViewerWindow

    video = open_video(DEMO)
    win = ViewerWindow(video, demo_features)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    yield win
    video.close()


def shown_pixels(win) -> np.ndarray:
    img = win.view._image
    ptr = img.constBits()
    return np.array(ptr, dtype=np.uint8).reshape(img.height(), img.bytesPerLine())[:, : img.width() * 3].reshape(
        img.height(), img.width(), 3)


def test_keys_step_and_jump_and_show_the_exact_frame(qtbot, window):
    with open_video(DEMO) as ref:
        qtbot.keyClick(window, QtCore.Qt.Key.Key_Right)
        qtbot.keyClick(window, QtCore.Qt.Key.Key_Right)
        assert window.index == 2
        assert np.array_equal(shown_pixels(window), ref.frame(2)[:, :, ::-1])
        qtbot.keyClick(window, QtCore.Qt.Key.Key_Right, QtCore.Qt.KeyboardModifier.ShiftModifier)
        assert window.index == 32                       # one second at 30 fps
        qtbot.keyClick(window, QtCore.Qt.Key.Key_Left)
        assert window.index == 31
        assert np.array_equal(shown_pixels(window), ref.frame(31)[:, :, ::-1])
        assert "frame 31" in window.frame_label.text()
        window.seek(10_000)
        assert window.index == ref.n_frames - 1          # clamped to the last frame


def test_clicking_the_curves_seeks_there(qtbot, window, artifacts_dir):
    vb = window.plot.plotItem.vb
    vb.setXRange(0, 239, padding=0)
    qtbot.wait(50)
    scene_pt = vb.mapViewToScene(QtCore.QPointF(64, 1.0))
    view_pt = window.plot.mapFromScene(scene_pt)
    qtbot.mouseClick(window.plot.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=view_pt)
    assert abs(window.index - 64) <= 1
    assert abs(window.playhead.value() - window.index) < 1e-9
    assert len(window.plot.plotItem.listDataItems()) == 5          # one curve per ROI of the metst set
    window.grab().save(str(artifacts_dir / "viewer_demo.png"))
