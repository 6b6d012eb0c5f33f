"""The curves file as the workspace and `metst-gui VIDEO --curves` read it (``Curves.load``): both kinds of
`metst predict --curves` files, written by hand as an older metst or another tool would, and other files refused."""

from __future__ import annotations

import numpy as np
import pytest

from metst_engine.curves_file import Curves
from metst_engine.errors import InputError


def test_reads_model_free_and_model_curves(tmp_path):
    flow = np.arange(20, dtype=np.float32).reshape(5, 4)
    names = np.array(["brow_r_x", "brow_r_y", "mouth_x", "mouth_y"])
    np.savez(tmp_path / "baseline.npz", flow=flow, channel_names=names, n_frames=np.int64(5), fps=np.float64(30),
             spot_score=np.linspace(0, 1, 5, dtype=np.float32), spot_threshold=np.float32(0.4),
             predictor=np.array("baseline"))
    data = Curves.load(tmp_path / "baseline.npz")
    assert (data.n_frames, data.fps, data.threshold) == (5, 30.0, pytest.approx(0.4))
    assert data.channel_names == list(names) and np.array_equal(data.flow, flow)
    assert data.recognition is None and data.class_names == []
    np.savez(tmp_path / "model.npz", flow=flow, channel_names=names, n_frames=np.int64(5), fps=np.float64(25),
             spot_prob=np.full(5, 0.7, np.float32), spot_threshold=np.float32(0.5),
             recog_prob=np.full((5, 4), 0.25, np.float32),
             class_names=np.array(["negative", "positive", "surprise", "neutral"]))
    data = Curves.load(tmp_path / "model.npz")
    assert np.allclose(data.spotting, 0.7) and data.recognition.shape == (5, 4)
    assert data.class_names == ["negative", "positive", "surprise", "neutral"]


def test_a_file_that_is_not_curves_is_an_input_error(tmp_path):
    np.savez(tmp_path / "other.npz", something=np.zeros(3))
    with pytest.raises(InputError, match="not a metst curves file"):
        Curves.load(tmp_path / "other.npz")
    with pytest.raises(InputError, match="not found"):
        Curves.load(tmp_path / "missing.npz")
