"""The extraction runner: worker pool, chunk joining, kept chunks (resume), chunks handed out in order.

The contract is that none of it changes a value: every way of running (one process,
worker processes, resumed from kept chunks, walks that started from a wrong guess)
gives features bit-identical to the one-process walk, which itself must equal what the
code gave before the runner existed (``tests/data``, recorded with the one-process
extraction of commit e5b8cda).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from metst_engine.errors import Cancelled
from metst_engine.face import Box, FaceAlignment
from metst_engine.feature_runner import (
    ChunkStore,
    ExtractionPool,
    _Joiner,
    missing_ranges,
    plan_stretches,
    run_extraction,
    walk_edges,
)
from metst_engine.features import (
    ExtractParams,
    ProbeTracker,
    WalkState,
    WindowChunk,
    extract_features,
    pool_top,
    walk_windows,
)
from metst_engine.rois import load_roi_set
from metst_engine.synth import LocalWarp, apply_warps, expression_profile
from metst_engine.video import open_video

DEMO = Path(__file__).resolve().parent.parent / "resources" / "demo" / "demo_face.mp4"
GOLDEN = Path(__file__).resolve().parent / "data" / "demo_face_metst_plus_k30_public.npz"
K = 20


def same(a, b) -> bool:
    return (np.array_equal(a.features, b.features) and np.array_equal(a.face_ok, b.face_ok)
            and np.array_equal(a.crop_boxes, b.crop_boxes))


def write_folder(path: Path, frames) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(frames):
        cv2.imwrite(str(path / f"{i + 1}.png"), f)
    return path


@pytest.fixture(scope="module")
def gap_video(tmp_path_factory, astronaut_gray, landmark_model):
    """90 frames of a face with a brow raise and small head jumps; no face in frames 30-71."""
    from metst_engine.face import FaceTracker

    img = np.ascontiguousarray(astronaut_gray[20:340, 96:416])
    lm = FaceTracker(landmark_model).locate(img, 0).source_landmarks
    warp = LocalWarp(tuple(lm[17:22].mean(0)), (18, 7), (0, -1.5), 0.8)
    amp = expression_profile(90, 20, 24, 29)
    blank = np.full_like(img, 120)
    frames = [blank if 30 <= t < 72 else apply_warps(img, [(warp, amp[t])], (float(t % 4 == 0), 0.0))
              for t in range(90)]
    return write_folder(tmp_path_factory.mktemp("gap") / "v", frames)


@pytest.fixture(scope="module")
def two_faces(tmp_path_factory, astronaut_gray):
    """Two faces side by side; the left one (largest at first) shrinks from frame 40 on, so a
    walk that starts there without knowing the past follows the right one."""
    face = np.ascontiguousarray(astronaut_gray[20:340, 96:416])
    frames = []
    for t in range(80):
        canvas = np.full((300, 640), 150, np.uint8)
        left = cv2.resize(face, (260, 260) if t < 40 else (170, 170), interpolation=cv2.INTER_AREA)
        right = cv2.resize(face, (210, 210), interpolation=cv2.INTER_AREA)
        canvas[20:20 + left.shape[0], 20:20 + left.shape[1]] = left
        canvas[40:250, 400:610] = right
        frames.append(np.roll(canvas, t % 3, axis=1))
    return write_folder(tmp_path_factory.mktemp("two") / "v", frames)


def one_process(folder, params):
    with open_video(folder) as v:
        return extract_features(v, params, workers=1)


# ----------------------------------------------------------------------- values unchanged
def test_one_process_equals_the_code_before_the_runner():
    """demo_face, metst_plus, k 30, public alignment: bit-identical to the recorded pre-runner result."""
    with np.load(GOLDEN) as z:
        want = {k: z[k] for k in ("features", "face_ok", "crop_boxes")}
        recorded = str(z["recorded_with"])
    with open_video(DEMO) as v:
        got = extract_features(v, ExtractParams(rois="metst_plus", window=30))
    assert np.array_equal(got.face_ok, want["face_ok"]) and np.array_equal(got.crop_boxes, want["crop_boxes"])
    if f"opencv {cv2.__version__}," in recorded:
        assert np.array_equal(got.features, want["features"]), recorded
    else:   # another OpenCV build may round Farneback differently
        np.testing.assert_allclose(got.features, want["features"], atol=1e-3)


def test_pool_top_equals_the_plain_formulation():
    """pool_top's faster arithmetic gives the same float bits as mean over the top fraction."""
    def plain(flow, fraction):
        fx, fy = flow[..., 0].ravel(), flow[..., 1].ravel()
        drop = int(fx.size * (1.0 - fraction))
        if fx.size == 0:
            return 0.0, 0.0
        if drop == 0:
            return float(fx.mean()), float(fy.mean())
        idx = np.argpartition(fx * fx + fy * fy, drop)[drop:]
        return float(fx[idx].mean()), float(fy[idx].mean())

    rng = np.random.default_rng(0)
    for _ in range(400):
        h, w = rng.integers(0, 50, 2)
        big = (rng.standard_normal((h + 4, w + 4, 2)) * rng.uniform(0.01, 10)).astype(np.float32)
        y, x = rng.integers(0, 4, 2)
        flow = big[y:y + h, x:x + w]
        for frac in (1.0, 0.7, 0.5, 0.05):
            assert pool_top(flow, frac) == plain(flow, frac)


# ----------------------------------------------------------------------- planning
def test_walk_edges_follow_a_fixed_grid():
    assert walk_edges(0, 40, 16) == [0, 16, 32, 40]
    assert walk_edges(20, 40, 16) == [20, 32, 40]
    assert walk_edges(32, 48, 16) == [32, 48]
    with pytest.raises(ValueError):
        walk_edges(0, 10, 0)


def test_stretches_are_balanced_contiguous_and_skip_kept_chunks():
    assert plan_stretches([(0, 143)], 2, stretch_windows=72) == [(0, 72), (72, 143)]
    assert plan_stretches([(0, 143)], 2, stretch_windows=48) == [(0, 36), (36, 72), (72, 107), (107, 143)]
    many = plan_stretches([(0, 4319)], 2)
    assert len(many) % 2 == 0 and many[0][0] == 0 and many[-1][1] == 4319
    assert all(a[1] == b[0] for a, b in zip(many, many[1:]))
    assert max(b - a for a, b in many) - min(b - a for a, b in many) <= 1
    gaps = plan_stretches([(0, 10), (30, 40)], 2, stretch_windows=48)
    assert gaps == [(0, 10), (30, 40)]
    assert plan_stretches([], 2) == []
    chunk = WindowChunk.empty(16, 32, 2, 4, None, None)
    assert missing_ranges(40, {16: chunk}) == [(0, 16), (32, 40)]


# ----------------------------------------------------------------------- joining
def test_a_walk_from_a_wrong_guess_is_caught_and_redone(tmp_path, two_faces):
    """A walk starting at window 4 without the past follows the other face; its kept chunks are
    refused and the windows walked again from the true state: the one-process result."""
    params = ExtractParams(rois="metst", window=K)
    truth = one_process(two_faces, params)
    from metst_engine.face import DlibLandmarkModel

    store = ChunkStore(tmp_path / "parts")
    with open_video(two_faces) as v:
        n = truth.n_windows
        guessed = list(walk_windows(v, params, load_roi_set("metst"), ProbeTracker(DlibLandmarkModel()), WalkState(),
                                    walk_edges(4, n, 2)))
        for c in guessed:
            store.save(c)
        assert not np.array_equal(guessed[0].boxes, truth.crop_boxes[4:6])      # it did follow the other face
        seen = []
        resumed = run_extraction(v, params, store=store, progress=lambda d, t: seen.append(d))
    assert same(resumed, truth)
    assert seen[0] == n - 4                                                     # the kept chunks counted first


def test_kept_chunks_round_trip(tmp_path, gap_video, landmark_model):
    params = ExtractParams(rois="metst", window=K)
    store = ChunkStore(tmp_path / "parts")
    with open_video(gap_video) as v:
        chunks = list(walk_windows(v, params, load_roi_set("metst"), ProbeTracker(landmark_model), WalkState(),
                                   walk_edges(0, 8, 3)))
    for c in chunks:
        store.save(c)
    (tmp_path / "parts" / "w0000099-0000100.npz").write_bytes(b"not a chunk")
    back = store.load(8, 10, K)
    assert sorted(back) == [0, 3, 6] and not (tmp_path / "parts" / "w0000099-0000100.npz").exists()
    for c in chunks:
        b = back[c.w0]
        assert b.w1 == c.w1 and b.seed == c.seed and b.end_box == c.end_box and b.probe == c.probe
        for x, y in ((b.feats, c.feats), (b.face_ok, c.face_ok), (b.boxes, c.boxes), (b.computed, c.computed)):
            assert np.array_equal(x, y)
        for x, y in ((b.incoming, c.incoming), (b.first, c.first), (b.last, c.last)):
            assert (x is None) == (y is None)
            if x is not None:
                assert isinstance(x, FaceAlignment) and x.crop_box == y.crop_box
                assert np.array_equal(x.landmarks, y.landmarks) and x.frame_index == y.frame_index
    store.clear()
    assert store.load(8, 10, K) == {}


def test_joiner_checks_the_face_choices_against_the_true_state():
    a, b = Box(0, 0, 100, 100), Box(300, 0, 450, 150)      # b is larger and far from a
    chunk = WindowChunk.empty(0, 2, 2, 4, None, None)
    chunk.probe = (((a, b), b),)
    joiner = _Joiner.__new__(_Joiner)
    joiner.next, joiner.state = 0, WalkState(a, None)
    assert not joiner.fits(chunk)                          # following a, the tracker would not jump to b
    joiner.state = WalkState(None, None)
    assert joiner.fits(chunk)
    joiner.state = WalkState(Box(310, 0, 460, 150), None)
    assert joiner.fits(chunk)                              # near b: the same choice


# ----------------------------------------------------------------------- end to end
def test_resume_after_cancel_gives_the_one_process_result(tmp_path, gap_video):
    params = ExtractParams(rois="metst", window=K)
    truth = one_process(gap_video, params)
    store = ChunkStore(tmp_path / "parts")
    with open_video(gap_video) as v:
        with pytest.raises(Cancelled):
            done = []
            run_extraction(v, params, store=store, chunk_windows=2, progress=lambda d, n: done.append(d),
                           cancel=lambda: len(done) >= 5)
        kept = store.load(truth.n_windows, 10, K)
        assert 0 < len(kept) < 4
        chunks = []
        again = run_extraction(v, params, store=store, chunk_windows=2, on_chunk=chunks.append)
    assert same(again, truth)
    # handed out in order, contiguous, with the final values (windows 4-5 borrowed window 3's face)
    assert [c.w0 for c in chunks] == sorted(c.w0 for c in chunks) and chunks[-1].w1 == truth.n_windows
    assert all(x.w1 == y.w0 for x, y in zip(chunks, chunks[1:]))
    for c in chunks:
        assert np.array_equal(c.features, truth.features[c.w0:c.w1])
        assert c.so_far.n_windows == c.w1 and c.so_far.n_frames <= truth.n_frames and c.n_frames == truth.n_frames


def test_worker_pool_is_bit_identical_and_kept_across_videos(gap_video, two_faces):
    """Two workers, small chunks, one pool for three videos (one of them needing a walk redone)."""
    metst = ExtractParams(rois="metst", window=K)
    plus = ExtractParams(rois="metst_plus", window=30)
    with ExtractionPool(2) as pool:
        with open_video(gap_video) as v:
            a = extract_features(v, metst, pool=pool, chunk_windows=1)
        with open_video(two_faces) as v:
            b = extract_features(v, metst, pool=pool, chunk_windows=1)
        with open_video(DEMO) as v:
            seen = []
            c = extract_features(v, plus, pool=pool, chunk_windows=2, progress=lambda d, n: seen.append((d, n)))
    assert same(a, one_process(gap_video, metst))
    assert a.face_ok.tolist() == [True, True, True, True, False, False, True, True]
    assert same(b, one_process(two_faces, metst))
    with np.load(GOLDEN) as z:
        assert np.array_equal(c.crop_boxes, z["crop_boxes"])
        if f"opencv {cv2.__version__}," in str(z["recorded_with"]):
            assert np.array_equal(c.features, z["features"])
    assert seen[-1] == (c.n_windows, c.n_windows)


def test_cancel_stops_the_pool_and_it_serves_the_next_video(gap_video):
    params = ExtractParams(rois="metst", window=K)
    with ExtractionPool(2) as pool, open_video(gap_video) as v:
        with pytest.raises(Cancelled):
            extract_features(v, params, pool=pool, chunk_windows=1, cancel=lambda: True)
        again = extract_features(v, params, pool=pool, chunk_windows=1)
    assert same(again, one_process(gap_video, params))


def test_spotting_reports_the_first_minutes_while_the_rest_is_computed(tmp_path):
    from metst_engine.analysis import spot_video
    from metst_engine.spotting import BaselineSpotter

    parts = []
    found = spot_video(DEMO, BaselineSpotter(rois="metst", window=30), cache_dir=tmp_path, on_partial=parts.append)
    assert parts and parts[-1].upto_frame == parts[-1].n_frames == found.curves.n_frames
    assert [p.upto_frame for p in parts] == sorted(p.upto_frame for p in parts)
    assert parts[-1].intervals == found.intervals


def test_time_left_follows_the_pace_of_this_run():
    from metst_engine.progress import TimeLeft, format_duration

    now = [100.0]
    left = TimeLeft(clock=lambda: now[0])
    assert left(40, 100) is None                 # 40 kept from an earlier run: no pace yet
    now[0] += 30.0
    assert left(50, 100) == pytest.approx(150.0)  # 10 windows in 30 s, 50 to go
    assert left(50, 100) == pytest.approx(150.0)
    assert [format_duration(s) for s in (42, 190, 3900)] == ["42 s", "3 min 10 s", "1 h 05 min"]


def test_spotting_with_a_checkpoint_reports_partial_intervals(tmp_path):
    from metst_engine.analysis import spot_video
    from metst_engine.intervals import EMOTIONS
    from metst_engine.models import CheckpointMeta, build_model, save_checkpoint
    from metst_engine.spotting import CheckpointSpotter

    ckpt = tmp_path / "metst.safetensors"
    save_checkpoint(ckpt, build_model("metst", seed=0),
                    CheckpointMeta(roi_set="metst", channel_names=load_roi_set("metst").channel_names, window=30,
                                   frame_skip=1, fps=30.0, class_names=list(EMOTIONS), k_prime=4, threshold_p=0.55))
    parts = []
    found = spot_video(DEMO, CheckpointSpotter(ckpt), cache_dir=tmp_path / "cache", on_partial=parts.append)
    assert parts and parts[-1].upto_frame == found.curves.n_frames and parts[-1].intervals == found.intervals
