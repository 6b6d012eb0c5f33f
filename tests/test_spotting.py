"""Spotters (model-free and checkpoint), the curves file, and analysis straight into a project."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from metst_engine.analysis import analyze_into_project, spot_video
from metst_engine.baseline import BaselineParams
from metst_engine.curves_file import Curves
from metst_engine.errors import Cancelled, InputError
from metst_engine.features import FeatureSet
from metst_engine.intervals import EMOTIONS, RejectedPeak
from metst_engine.model_catalog import SPOTTER_CATALOG
from metst_engine.postprocess import PostprocessParams, postprocess_explained, spot_peaks
from metst_engine.project import Project
from metst_engine.rois import load_roi_set
from metst_engine.spotting import BASELINE, BaselineSpotter, CheckpointSpotter, Spotter
from metst_engine.synth import SynthConfig, generate


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    dataset = generate(out / "videos", SynthConfig(subjects=1, videos_per_subject=1, seconds=4.0, seed=3,
                                                   me_per_minute=30.0))
    return dataset.videos[0], out / "cache"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    from metst_engine.models import CheckpointMeta, build_model, save_checkpoint

    path = tmp_path_factory.mktemp("ckpt") / "metst.safetensors"
    save_checkpoint(path, build_model("metst", seed=0),
                    CheckpointMeta(roi_set="metst", channel_names=load_roi_set("metst").channel_names, window=30,
                                   frame_skip=1, fps=30.0, class_names=list(EMOTIONS), k_prime=4, threshold_p=0.55))
    return path


def test_both_spotters_turn_a_synthetic_video_into_intervals_curves_and_a_threshold(synth, checkpoint):
    entry, cache = synth
    model_free = BaselineSpotter()
    model = CheckpointSpotter(checkpoint)
    assert isinstance(model_free, Spotter) and isinstance(model, Spotter)
    assert model_free.extract_params().window == SPOTTER_CATALOG["evidence"].window     # the catalog's window
    assert (model.extract_params(30.0).window, model.extract_params(30.0).rois) == (30, "metst")   # the checkpoint's
    for spotter in (model_free, model):
        found = spot_video(entry.path, spotter, cache_dir=cache)
        n = found.curves.n_frames
        assert n == round(4.0 * 30) and found.curves.spotting.shape == (n,)
        assert found.threshold == found.curves.threshold == found.params["threshold"]
        assert all(0 <= iv.onset <= iv.offset < n for iv in found.intervals)
        assert found.curves.predictor == spotter.predictor and found.curves.rejected == found.rejected
    assert model_free.predictor == BASELINE and found.curves.probability and found.curves.recognition.shape[0] == n
    assert found.params["checkpoint"] == str(checkpoint) and found.params["k_prime"] == 4


def test_curves_round_trip_and_a_damaged_file_is_one_error_naming_it(tmp_path):
    curves = Curves(n_frames=4, fps=25.0, flow=np.arange(8, dtype=np.float32).reshape(4, 2),
                    channel_names=["mouth_x", "mouth_y"], spotting=np.array([0, 1, np.nan, 2], np.float32),
                    threshold=0.5, probability=True, recognition=np.full((4, 2), 0.5, np.float32),
                    class_names=["positive", "neutral"], face_box=(1.0, 2.0, 3.0, 4.0), predictor="m.safetensors",
                    rejected=[RejectedPeak(1, 0.9, "closer than k' = 4 frames to a higher peak", 3),
                              RejectedPeak(2, 0.7, "recognised as neutral")])
    back = Curves.load(curves.save(tmp_path / "c.npz"))
    assert back.rejected == curves.rejected and back.class_names == curves.class_names
    assert (back.n_frames, back.fps, back.threshold, back.probability, back.face_box, back.predictor) == \
        (4, 25.0, pytest.approx(0.5), True, (1.0, 2.0, 3.0, 4.0), "m.safetensors")
    assert np.array_equal(back.flow, curves.flow) and np.array_equal(back.spotting, curves.spotting, equal_nan=True)

    raw = (tmp_path / "c.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(raw[: len(raw) // 2])
    (tmp_path / "text.npz").write_text("hello", encoding="utf-8")
    np.savez(tmp_path / "short.npz", n_frames=np.int64(4), fps=np.float64(25), spot_score=np.zeros(3))
    for name in ("cut.npz", "text.npz", "short.npz"):
        with pytest.raises(InputError, match="not a metst curves file") as err:
            Curves.load(tmp_path / name)
        assert name in str(err.value)


def _spike_features(at: int, fps: float = 30.0, k: int = 30, n_windows: int = 9) -> FeatureSet:
    """metst_plus features with small noise and a one-frame jump of every mouth ROI at frame ``at``."""
    roi_set = load_roi_set("metst_plus")
    names = roi_set.channel_names
    rng = np.random.default_rng(0)
    half = k // 2
    feats = rng.normal(0, 0.05, (n_windows, len(names), k)).astype(np.float32)
    feats[:, :, 0] = 0
    mouth = [i for i, n in enumerate(names) if roi_set.rois[i // 2].group == "mouth"]
    for w in range(n_windows):
        if w * half <= at < w * half + k:
            feats[w, mouth, at - w * half] += 5.0
    n_frames = (n_windows + 1) * half
    return FeatureSet(features=feats, channel_names=names, starts=np.arange(n_windows) * half,
                      face_ok=np.ones(n_windows, bool), crop_boxes=np.tile([0, 0, 100, 100], (n_windows, 1)),
                      n_frames=n_frames, fps=fps, skip=1, k=k, params={"roi_set": "metst_plus"})


def test_a_peak_above_the_line_too_short_for_a_micro_expression_is_reported_with_the_reason():
    feats = _spike_features(at=70)
    found = BaselineSpotter(BaselineParams(min_seconds=0.1)).spot(feats)
    assert found.curves.spotting[70] > found.threshold                  # above the line ...
    assert not any(iv.onset <= 70 <= iv.offset for iv in found.intervals)   # ... and no proposal
    assert len(found.rejected) == 1 and abs(found.rejected[0].apex - 70) <= 1      # the 2-frame smoothing
    assert "shorter than 3 frames" in found.rejected[0].reason and "jitter" in found.rejected[0].reason
    lenient = BaselineSpotter(BaselineParams(min_seconds=0.03)).spot(feats)
    assert any(iv.onset <= 70 <= iv.offset for iv in lenient.intervals) and lenient.rejected == []


def test_a_checkpoint_curve_reports_the_peaks_that_postprocessing_dropped():
    curve = np.zeros(60)
    curve[[20, 23, 45]] = [1.0, 0.8, 0.9]                                # 23 lies within k' of 20
    params = PostprocessParams(k_prime=4, smoothing=False)
    kept, rejected = spot_peaks(curve, params)
    assert [iv.apex for iv in kept] == [20, 45]
    assert [(r.apex, r.by) for r in rejected] == [(23, 20)] and "k' = 4" in rejected[0].reason
    recog = np.zeros((60, 5))
    recog[:, 0] = 1.0
    recog[40:50] = [0, 0, 0, 0, 1.0]                                     # neutral around frame 45
    synergy = PostprocessParams(k_prime=4, smoothing=False, strategy="result_synergy")
    kept, rejected = postprocess_explained(curve, recog, synergy)
    assert [iv.apex for iv in kept] == [20]
    assert [r.apex for r in rejected] == [23, 45] and "neutral" in rejected[1].reason


def test_analyze_into_project_puts_intervals_and_curves_in_the_store(synth, tmp_path):
    entry, cache = synth
    spotter = BaselineSpotter()
    expected = spot_video(entry.path, spotter, cache_dir=cache)
    with Project.create(tmp_path / "p", annotator="tester") as project:
        video = project.add_video(entry.path, entry.subject, entry.video)
        with pytest.raises(Cancelled):
            analyze_into_project(project, [video.id], spotter, cache_dir=cache, cancel=lambda: True)
        assert project.runs() == [] and project.curves(video.id) == []     # a cancelled analysis imports nothing
        seen = []
        result = analyze_into_project(project, [video.id], spotter, cache_dir=cache, progress=seen.append)
        run = project.runs()[-1]
        assert run.id == result.run_id and run.predictor == BASELINE and run.params["videos"] == [entry.video]
        assert run.params["window"] == SPOTTER_CATALOG["evidence"].window and run.source_file is None
        stored = project.intervals(video.id, sources=["predicted"])
        assert [(r.onset, r.offset, r.apex) for r in stored] == \
            [(iv.onset, iv.offset, iv.apex) for iv in expected.intervals] and stored
        curves = project.curves(video.id)
        assert len(curves) == 1 and curves[0].run_id == run.id
        loaded = Curves.load(curves[0].path)
        assert project.cache_dir.resolve() in curves[0].path.resolve().parents
        assert np.allclose(loaded.spotting, expected.curves.spotting, equal_nan=True)
        assert loaded.rejected == expected.rejected
    assert seen[0].total == 0 and seen[-1].fraction == 1.0
