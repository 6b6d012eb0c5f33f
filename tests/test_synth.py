"""Synthetic ME data (metst_engine.synth): known events in, a valid manifest and learnable motion out.

One tiny set (2 subjects x 1 video x 6 s) is generated per session and shared; the
determinism test regenerates it. Timings: the whole file runs in well under a minute.
"""

from __future__ import annotations

import json
import subprocess
import sys
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from metst_engine.datasets import load_manifest
from metst_engine.synth import (
    AU_NAMES,
    BLINK,
    EMOTION_AUS,
    SynthConfig,
    apply_warps,
    au_warps,
    blink_field,
    generate,
    make_subject,
    plan_events,
)
from metst_engine.video import open_video

TINY = SynthConfig(subjects=2, videos_per_subject=1, seconds=6.0, seed=5)


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    return out, generate(out, TINY)


def _all_frames(path: Path) -> np.ndarray:
    import av

    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="bgr24") for f in c.decode(video=0)])


# ---------------------------------------------------------------- files and manifest
def test_writes_videos_manifest_and_params(tiny_set):
    out, ds = tiny_set
    assert (out / "manifest.csv").is_file() and (out / "synth.json").is_file()
    assert [v.video for v in ds.videos] == ["s01_v01", "s02_v01"]
    for v in ds.videos:
        assert Path(v.path) == out / v.subject / f"{v.video}.mp4"
    rec = json.loads((out / "synth.json").read_text())
    assert rec["config"]["seed"] == 5 and rec["config"]["subjects"] == 2
    assert [s["variant"]["flip"] for s in rec["subjects"]] == [False, True]


def test_manifest_is_valid_and_events_are_well_formed(tiny_set):
    out, _ = tiny_set
    ds = load_manifest(out / "manifest.csv")
    rec = json.loads((out / "synth.json").read_text())
    n, fps, gap = TINY.n_frames, TINY.fps, int(np.ceil(TINY.min_gap_s * TINY.fps))
    assert len(ds.videos) == 2
    for v, rv in zip(ds.videos, rec["videos"]):
        assert v.fps == fps and v.micro(), "every video holds at least one ME"
        for iv in v.intervals:
            assert 0 <= iv.onset < iv.apex < iv.offset <= n - 1
            assert iv.emotion in EMOTION_AUS and iv.raw_emotion.split()[0] in EMOTION_AUS[iv.emotion]
            if iv.type == "micro":
                assert 0.2 <= (iv.offset - iv.onset) / fps and (iv.offset - iv.onset + 1) / fps <= 0.5
            else:
                assert iv.type == "macro" and (iv.offset - iv.onset) / fps >= 0.8
        events = rv["events"]                    # blinks included: no two events overlap
        for a, b in pairwise(events):
            assert b["onset"] - a["offset"] >= gap
        labelled = [(e["onset"], e["apex"], e["offset"]) for e in events if e["kind"] != "blink"]
        assert labelled == [(iv.onset, iv.apex, iv.offset) for iv in v.intervals]


def test_videos_decode_to_the_planned_frame_count(tiny_set):
    _, ds = tiny_set
    for v in ds.videos:
        with open_video(v.path) as src:
            assert src.n_frames == TINY.n_frames and src.size == (TINY.size, TINY.size)
            assert abs(src.fps - TINY.fps) < 1e-6


def test_video_without_events_has_one_row_with_empty_onset(tmp_path):
    cfg = SynthConfig(subjects=1, videos_per_subject=1, seconds=1.0, seed=1, me_per_minute=0, blinks=False,
                      macros=False, size=128)
    ds = generate(tmp_path, cfg)
    assert ds.videos[0].intervals == []
    rows = (tmp_path / "manifest.csv").read_text().splitlines()
    assert len(rows) == 2 and rows[1].split(",")[4] == ""
    assert load_manifest(tmp_path / "manifest.csv").videos[0].intervals == []


# ---------------------------------------------------------------- determinism
def test_same_seed_same_data_other_seed_other_data(tiny_set, tmp_path):
    out, _ = tiny_set
    again = tmp_path / "again"
    generate(again, TINY)
    assert (again / "manifest.csv").read_text() == (out / "manifest.csv").read_text()
    for sub in ("s01/s01_v01.mp4", "s02/s02_v01.mp4"):
        assert np.array_equal(_all_frames(again / sub), _all_frames(out / sub))
    other = tmp_path / "other"
    generate(other, SynthConfig(subjects=1, videos_per_subject=1, seconds=6.0, seed=6))
    def s01_rows(folder: Path) -> list[str]:
        return [r for r in (folder / "manifest.csv").read_text().splitlines() if r.startswith("s01,")]
    assert s01_rows(other) and s01_rows(other) != s01_rows(out)
    a, b = _all_frames(other / "s01/s01_v01.mp4"), _all_frames(out / "s01/s01_v01.mp4")
    assert not np.array_equal(a[0], b[0]) and not np.array_equal(a[-1], b[-1])


# ---------------------------------------------------------------- timeline
def test_plan_follows_the_rates_and_never_overlaps():
    cfg = SynthConfig()
    fps, n = 30.0, 30 * 600
    events = plan_events(n, fps, np.random.default_rng(0), cfg)
    kinds = {k: sum(e.kind == k for e in events) for k in ("micro", "macro", "blink")}
    assert 100 <= kinds["micro"] <= 200 and 15 <= kinds["macro"] <= 70 and 60 <= kinds["blink"] <= 150
    for a, b in pairwise(events):
        assert b.onset - a.offset >= 15
    for e in events:
        dur = (e.offset - e.onset) / fps
        lo, hi = {"micro": cfg.me_seconds, "macro": cfg.macro_seconds, "blink": cfg.blink_seconds}[e.kind]
        assert lo - 1e-9 <= dur and (e.offset - e.onset + 1) / fps <= hi + 1e-9
        assert e.onset < e.apex < e.offset
        if e.kind == "micro":
            assert cfg.me_amplitude[0] <= e.amplitude <= cfg.me_amplitude[1]
        if e.kind == "macro":
            assert cfg.macro_amplitude[0] <= e.amplitude <= cfg.macro_amplitude[1]
    assert {e.emotion for e in events if e.kind == "micro"} == set(EMOTION_AUS)
    assert {e.au for e in events if e.kind != "blink"} == set(AU_NAMES)
    assert plan_events(n, fps, np.random.default_rng(0), SynthConfig(me_per_minute=0, blinks=False, macros=False)) == []
    no_distractors = plan_events(n, fps, np.random.default_rng(0), SynthConfig(blinks=False, macros=False))
    assert no_distractors and all(e.kind == "micro" for e in no_distractors)


# ---------------------------------------------------------------- geometry
@pytest.fixture(scope="module")
def subject_pair(landmark_model):
    plain = make_subject(0, np.random.default_rng(11), model=landmark_model, flip=False)
    mirrored = make_subject(0, np.random.default_rng(11), model=landmark_model, flip=True)
    return plain, mirrored


def test_flip_mirrors_the_image_and_swaps_the_landmark_sides(subject_pair):
    plain, mirrored = subject_pair
    size = plain.base_bgr.shape[1]
    assert np.array_equal(mirrored.base_bgr[:, ::-1], plain.base_bgr)
    # dlib numbers by anatomy of the face it sees: the mirror of 17-21 (outer to inner) is 26-22
    mirror = plain.landmarks.copy()
    mirror[:, 0] = size - 1 - mirror[:, 0]
    assert np.abs(mirrored.landmarks[22:27] - mirror[17:22][::-1]).max() < 6
    assert np.abs(mirrored.landmarks[36:40] - mirror[42:46][::-1]).max() < 6


def test_left_brow_warp_on_a_mirrored_subject_moves_the_image_right(subject_pair):
    _, mirrored = subject_pair
    lm = mirrored.landmarks
    left_brow = au_warps("AU1+2", lm, 3.0)[1]               # the warp at landmarks 22-26
    assert np.allclose(left_brow.center, lm[22:27].mean(0))
    moved = apply_warps(mirrored.base_bgr, [(left_brow, 1.0)]).astype(np.float32)
    diff = np.abs(moved - mirrored.base_bgr.astype(np.float32)).sum(axis=2)
    ys, xs = np.nonzero(diff > 10)
    nose_x = lm[27:31, 0].mean()
    assert len(xs) > 50 and (xs > nose_x).mean() > 0.95
    assert abs(ys.mean() - lm[22:27, 1].mean()) < 15


def test_au_directions_follow_the_landmarks_on_both_sides(subject_pair):
    for subj in subject_pair:
        lm = subj.landmarks
        r, l = au_warps("AU4", lm, 1.0)                     # brows down and together
        assert r.displacement[0] * (lm[27, 0] - r.center[0]) > 0 and r.displacement[1] > 0
        assert l.displacement[0] * (lm[27, 0] - l.center[0]) > 0 and l.displacement[1] > 0
        for w in au_warps("AU12", lm, 1.0):                 # corners up and out
            assert w.displacement[1] < 0 and w.displacement[0] * (w.center[0] - lm[51, 0]) > 0
        for w in au_warps("AU15", lm, 1.0):
            assert w.displacement[1] > 0
        for au in AU_NAMES:
            assert abs(max(np.hypot(*w.displacement) for w in au_warps(au, lm, 2.0, 0.5)) - 1.0) < 1e-3
        shut = blink_field(subj.base_bgr.shape[:2], lm, 1.0)
        assert shut[..., 1].max() > 0 and (shut[..., 1] > 0)[:, : int(lm[36, 0]) - 2].sum() == 0
    with pytest.raises(ValueError):
        au_warps(BLINK, subject_pair[0].landmarks, 1.0)


# ---------------------------------------------------------------- learnable signal
def test_roi_flow_peaks_at_every_labelled_me(tiny_set):
    from metst_engine.features import ExtractParams, extract_features

    _, ds = tiny_set
    v = ds.videos[0]
    with open_video(v.path) as src:
        f = extract_features(src, ExtractParams(rois="metst", window=30), workers=1)
    mag = np.hypot(f.features[:, 0::2], f.features[:, 1::2]).max(axis=1)     # (windows, k)
    signal = np.zeros(f.n_frames)
    for w, start in enumerate(f.starts):
        signal[start:start + f.k] = np.maximum(signal[start:start + f.k], mag[w])
    med = float(np.median(signal))
    assert v.micro()
    for iv in v.micro():
        peak = float(signal[iv.onset:iv.offset + 1].max())
        assert peak > 1.8 * med, (iv, peak, med)      # this video: 2.9x, 4.8x; seeds 0-5: 1.5-7x (lowest where events crowd 6 s and lift the median)


# ---------------------------------------------------------------- CLI
def test_cli_synth_writes_a_set_and_a_json_summary(tmp_path):
    out = tmp_path / "set"
    cmd = [sys.executable, "-m", "metst_engine.cli", "synth", str(out), "--subjects", "1", "--videos-per-subject",
           "2", "--seconds", "3", "--seed", "2", "--size", "160"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["n_videos"] == 2 and summary["manifest"] == str(out / "manifest.csv")
    assert set(summary["events"]) == {"micro", "macro", "blink"} and summary["events"]["micro"] >= 2
    ds = load_manifest(out / "manifest.csv")
    assert len(ds.videos) == 2 and len(ds.intervals("micro")) == summary["events"]["micro"]
    with open_video(ds.videos[0].path) as src:
        assert src.n_frames == 90 and src.size == (160, 160)
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert again.returncode == 2 and again.stderr.strip().splitlines()[-1].startswith("error:")
    bad = subprocess.run(cmd[:4] + [str(tmp_path / "b"), "--size", "33"], capture_output=True, text=True, timeout=300, check=False)
    assert bad.returncode == 2 and "size" in bad.stderr


# ---------------------------------------------------------------- the spotter's harder mix (issue 16)
def test_varied_plan_has_mes_inside_and_next_to_macros_in_other_regions():
    from metst_engine.synth import AU_REGIONS

    cfg = SynthConfig.varied()
    fps, n = 30.0, 30 * 600
    events = plan_events(n, fps, np.random.default_rng(0), cfg)
    macros = [e for e in events if e.kind == "macro"]
    near = [(m, e) for e in events if e.kind == "micro" for m in macros
            if e.onset <= m.offset + 0.2 * fps and m.onset - 0.2 * fps <= e.offset]
    inside = [(m, e) for m, e in near if m.onset <= e.onset and e.offset <= m.offset]
    assert len(inside) >= 5 and len(near) - len(inside) >= 5
    for m, e in near:
        assert not AU_REGIONS[m.au] & AU_REGIONS[e.au]                  # another face region
    for e in events:
        dur = (e.offset - e.onset) / fps
        lo, hi = {"micro": cfg.me_seconds, "macro": cfg.macro_seconds, "blink": cfg.blink_seconds}[e.kind]
        assert lo - 1e-9 <= dur and (e.offset - e.onset + 1) / fps <= hi + 1e-9
        if e.kind == "micro":
            assert cfg.me_amplitude[0] <= e.amplitude <= cfg.me_amplitude[1]
    micro_amps = [e.amplitude for e in events if e.kind == "micro"]
    assert min(micro_amps) < 0.5 and max(micro_amps) > 1.4              # barely visible to clear
    assert max((e.offset - e.onset + 1) / fps for e in events if e.kind == "blink") > 0.3   # as long as an ME


def test_blink_raises_the_lower_lids_only_when_asked(subject_pair):
    lm = subject_pair[0].landmarks
    below = (int(round(lm[40:42, 1].mean() + 0.25 * np.ptp(lm[36:42, 0]))), int(round(lm[40:42, 0].mean())))
    plain = blink_field((320, 320), lm, 1.0)
    lifted = blink_field((320, 320), lm, 1.0, lower_lid=0.15)
    assert plain[below][1] == 0.0 and lifted[below][1] < -0.5            # up, by a visible fraction of a pixel
    np.testing.assert_array_equal(blink_field((320, 320), lm, 0.0, lower_lid=0.15), 0.0)


def test_varied_config_is_validated():
    for bad in (dict(me_near_macro=1.5), dict(me_seconds=(0.5, 0.2)), dict(rotation_deg=-1.0), dict(blink_lower_lid=-0.1)):
        with pytest.raises(ValueError):
            SynthConfig.varied(**bad).validate()


def test_cli_synth_varied_with_an_override(tmp_path):
    out = tmp_path / "varied"
    r = subprocess.run([sys.executable, "-m", "metst_engine.cli", "synth", str(out), "--varied", "--subjects", "1",
                        "--videos-per-subject", "1", "--seconds", "2", "--size", "160", "--rotation", "0.5",
                        "--me-seconds", "0.2", "0.3"], capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stderr
    config = json.loads((out / "synth.json").read_text())["config"]
    assert config["rotation_deg"] == 0.5 and config["me_seconds"] == [0.2, 0.3]
    assert config["me_near_macro"] == SynthConfig.varied().me_near_macro and config["noise_sigma"] == SynthConfig.varied().noise_sigma
