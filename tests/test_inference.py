"""Checkpoints on videos: skip from fps, window outputs stitched per frame, CLI predict --model."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from metst_engine.errors import CheckpointError, InputError
from metst_engine.extraction import extract_video
from metst_engine.features import ExtractParams
from metst_engine.inference import InferenceOptions, derive_skip, predict_features
from metst_engine.intervals import EMOTIONS
from metst_engine.models import CheckpointMeta, build_model, load_checkpoint, save_checkpoint
from metst_engine.resources_path import resource_path
from metst_engine.rois import load_roi_set

DEMO = Path(str(resource_path("demo", "demo_face.mp4")))


@pytest.mark.parametrize("video_fps, ckpt_fps, ckpt_skip, expected", [
    (30, 30, 1, 1), (60, 30, 1, 2), (200, 200, 7, 7), (120, 200, 7, 4), (29.97, 30, 1, 1)])
def test_skip_follows_the_checkpoint_step_rate(video_fps, ckpt_fps, ckpt_skip, expected):
    assert derive_skip(video_fps, ckpt_fps, ckpt_skip) == expected


def test_fps_mismatch_beyond_10_percent_is_refused_unless_forced():
    with pytest.raises(InputError, match="25 fps does not fit.*30 fps"):
        derive_skip(25, 30, 1, "clip.mp4")
    assert derive_skip(25, 30, 1, "clip.mp4", force=True) == 1


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "metst.safetensors"
    model = build_model("metst", seed=0)
    save_checkpoint(path, model, CheckpointMeta(roi_set="metst", channel_names=load_roi_set("metst").channel_names,
                                                window=30, frame_skip=1, fps=30.0, class_names=list(EMOTIONS),
                                                k_prime=4, threshold_p=0.55))
    return path


def test_predict_features_stitches_per_frame_and_respects_synergy(checkpoint, tmp_path):
    feats = extract_video(DEMO, ExtractParams(rois="metst", window=30), cache_dir=tmp_path)
    model, meta = load_checkpoint(checkpoint)
    pred = predict_features(model, meta, feats, InferenceOptions(strategy="spotting_mainly"))
    assert pred.spot.shape == (240,) and pred.recog.shape == (240, 5)
    assert np.all((pred.spot >= 0) & (pred.spot <= 1))
    assert np.allclose(pred.recog.sum(axis=1), 1, atol=1e-5)
    # frame 20 lies in window 0's first half only: its value is window 0's step 20
    spot_w = model(__import__("torch").from_numpy(feats.features[:1])).spot.detach().numpy()[0]
    assert pred.spot[20] == pytest.approx(spot_w[20], abs=1e-6)
    assert pred.intervals and all(iv.emotion in EMOTIONS for iv in pred.intervals)
    none = predict_features(model, meta, feats, InferenceOptions(strategy="none"))
    assert [iv.onset for iv in none.intervals] == [iv.onset for iv in pred.intervals]
    assert all(iv.emotion is None for iv in none.intervals)
    high = predict_features(model, meta, feats, InferenceOptions(floor=1.01))
    assert high.intervals == []                                        # probabilities never reach the floor


def test_checkpoint_for_other_features_gives_one_clear_error(checkpoint, tmp_path):
    feats = extract_video(DEMO, ExtractParams(rois="metst_plus", window=30), cache_dir=tmp_path)
    model, meta = load_checkpoint(checkpoint)
    with pytest.raises(CheckpointError) as err:
        predict_features(model, meta, feats, checkpoint=checkpoint)
    msg = str(err.value)
    assert str(checkpoint) in msg and "10" in msg and "36" in msg


def test_cli_predict_with_model(checkpoint, tmp_path):
    out, curves = tmp_path / "p.csv", tmp_path / "c.npz"
    r = subprocess.run([sys.executable, "-m", "metst_engine.cli", "predict", str(DEMO), "--model", str(checkpoint),
                        "-o", str(out), "--curves", str(curves), "--no-cache"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["skip"] == 1 and summary["k_prime"] == 4
    rows = list(csv.DictReader(open(out)))
    assert len(rows) == summary["intervals"]
    with np.load(curves, allow_pickle=False) as z:
        assert z["spot_prob"].shape == (240,) and z["recog_prob"].shape == (240, 5)
        assert list(z["class_names"]) == [*EMOTIONS, "neutral"] and z["flow"].shape == (240, 10)


def test_cli_refuses_a_pickle_pretending_to_be_a_checkpoint(tmp_path):
    bad = tmp_path / "evil.safetensors"
    bad.write_bytes(b"\x80\x04\x95" + b"\x00" * 64)
    r = subprocess.run([sys.executable, "-m", "metst_engine.cli", "predict", str(DEMO), "--model", str(bad),
                        "-o", str(tmp_path / "p.csv")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and r.stderr.startswith("error: ") and str(bad) in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
