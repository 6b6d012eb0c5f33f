"""Post-processing on constructed curves with known answers."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.signal import find_peaks

from metst_engine.intervals import Interval
from metst_engine.postprocess import (
    PostprocessParams,
    curve_length,
    frame_labels,
    majority_label,
    moilanen_threshold,
    postprocess_video,
    postprocess_windows,
    smooth_curve,
    spot_intervals,
    stitch_windows,
    to_skipped_frame,
    to_source_frames,
)


# ---------------------------------------------------------------- stitching
def ramp_windows(n: int, k: int) -> np.ndarray:
    """Windows cut from the ramp 0..T-1 with the real layout (start every k/2, length k)."""
    return np.stack([np.arange(i * k // 2, i * k // 2 + k, dtype=float) for i in range(n)])


@pytest.mark.parametrize("n,k", [(1, 4), (2, 4), (5, 6), (7, 50)])
def test_stitch_ramp(n, k):
    curve = stitch_windows(ramp_windows(n, k))
    assert len(curve) == curve_length(n, k) == (n + 1) * k // 2
    np.testing.assert_array_equal(curve, np.arange(len(curve)))


def test_stitch_first_half_from_window_zero_only():
    k = 4
    w = np.zeros((3, k))
    w[0] = [1, 2, 3, 4]
    w[1] = [9, 9, 5, 6]  # first half ignored
    w[2] = [9, 9, 7, 8]
    np.testing.assert_array_equal(stitch_windows(w), [1, 2, 3, 4, 5, 6, 7, 8])


def test_stitch_recognition_scores():
    k, c = 4, 5
    w = np.arange(3 * k * c, dtype=float).reshape(3, k, c)
    out = stitch_windows(w)
    assert out.shape == (8, c)
    np.testing.assert_array_equal(out[:4], w[0])
    np.testing.assert_array_equal(out[4:6], w[1, 2:])
    np.testing.assert_array_equal(out[6:8], w[2, 2:])


def test_stitch_errors_and_empty():
    with pytest.raises(ValueError):
        stitch_windows(np.zeros((2, 5)))
    with pytest.raises(ValueError):
        stitch_windows(np.zeros(5))
    assert stitch_windows(np.zeros((0, 4))).shape == (0,)


def test_source_frame_mapping():
    iv = Interval(3, 5, apex=4)
    assert to_source_frames(iv, 7) == Interval(21, 41, apex=28)
    assert to_source_frames(iv, 1) == iv
    assert to_skipped_frame(41, 7) == 5 and to_skipped_frame(21, 7) == 3
    with pytest.raises(ValueError):
        to_source_frames(iv, 0)


# ---------------------------------------------------------------- smoothing / threshold
def test_smoothing_matches_public_convolution():
    rng = np.random.default_rng(3)
    for kp in (1, 2, 5):
        y = rng.random(40)
        ref = np.convolve(y, np.ones(2 * kp) / (2 * kp), mode="same")
        np.testing.assert_allclose(smooth_curve(y, kp), ref)
    np.testing.assert_array_equal(smooth_curve(np.arange(5.0), 0), np.arange(5.0))


def test_moilanen_threshold():
    assert moilanen_threshold(np.array([0.0, 0.0, 0.0, 4.0]), 0.5) == pytest.approx(1 + 0.5 * 3)


# ---------------------------------------------------------------- spotting
def bump_curve(n: int, peaks: list[int], width: int = 2) -> np.ndarray:
    c = np.zeros(n)
    for p in peaks:
        for d in range(-width, width + 1):
            if 0 <= p + d < n:
                c[p + d] = max(c[p + d], 1.0 - abs(d) / (width + 1))
    return c


def test_known_peaks_to_intervals_unsmoothed():
    c = bump_curve(100, [20, 60])
    params = PostprocessParams(k_prime=3, smoothing=False)
    out = spot_intervals(c, params)
    assert [(i.onset, i.offset, i.apex) for i in out] == [(17, 23, 20), (57, 63, 60)]
    assert all(i.score == pytest.approx(1.0) for i in out)


def test_known_peaks_smoothed():
    c = bump_curve(100, [20, 60], width=0)  # single-frame spikes
    out = spot_intervals(c, PostprocessParams(k_prime=2))
    # box of 4 frames covering i-2..i+1: a spike at 20 gives a plateau at 19..22 whose
    # first sample is the peak find_peaks reports (middle of plateau, rounded down)
    s = smooth_curve(c, 2)
    np.testing.assert_allclose(s[19:23], 0.25)
    assert [i.apex for i in out] == [20, 60]
    assert [(i.onset, i.offset) for i in out] == [(18, 22), (58, 62)]


def test_threshold_rejects_low_peak_and_distance_merges():
    c = bump_curve(100, [20, 60]) + 0.3 * bump_curve(100, [80])
    out = spot_intervals(c, PostprocessParams(k_prime=3, smoothing=False))
    assert [i.apex for i in out] == [20, 60]
    # two peaks 3 apart with k'=5: distance keeps only the higher one
    d = np.zeros(50)
    d[20], d[23] = 1.0, 0.9
    out = spot_intervals(d, PostprocessParams(k_prime=5, smoothing=False))
    assert [i.apex for i in out] == [20]


def test_clipping_at_video_ends():
    c = bump_curve(30, [1, 28], width=0)
    clipped = spot_intervals(c, PostprocessParams(k_prime=4, smoothing=False))
    assert [(i.onset, i.offset) for i in clipped] == [(0, 5), (24, 29)]
    raw = spot_intervals(c, PostprocessParams(k_prime=4, smoothing=False, clip=False))
    assert [(i.onset, i.offset) for i in raw] == [(-3, 5), (24, 32)]


def test_k_prime_zero_guard_and_flat_curve():
    c = bump_curve(20, [10], width=0)
    out = spot_intervals(c, PostprocessParams(k_prime=0))
    assert [(i.onset, i.offset) for i in out] == [(10, 10)]
    assert spot_intervals(np.ones(20), PostprocessParams(k_prime=2, smoothing=False)) == []
    # zero-padded smoothing damps the ends, so a flat curve gets one plateau peak (as in
    # the public code); "nearest" edges keep it flat
    flat = spot_intervals(np.ones(20), PostprocessParams(k_prime=2))
    assert [i.apex for i in flat] == [10]
    assert spot_intervals(np.ones(20), PostprocessParams(k_prime=2, edge_mode="nearest")) == []
    assert spot_intervals(np.zeros(0), PostprocessParams()) == []


def test_params_validation():
    with pytest.raises(ValueError):
        PostprocessParams(k_prime=-1)
    with pytest.raises(ValueError):
        PostprocessParams(skip=0)
    with pytest.raises(ValueError):
        PostprocessParams(strategy="vote")  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=80), st.integers(0, 6))
def test_property_intervals_inside_video(values, kp):
    c = np.array(values)
    out = spot_intervals(c, PostprocessParams(k_prime=kp))
    for iv in out:
        assert 0 <= iv.onset <= iv.apex <= iv.offset < len(c)
    apexes = [iv.apex for iv in out]
    assert apexes == sorted(apexes)
    assert all(b - a >= max(kp, 1) for a, b in itertools.pairwise(apexes))


# ---------------------------------------------------------------- recognition
def one_hot(labels: list[int], c: int = 5) -> np.ndarray:
    return np.eye(c)[labels]


def test_majority_excludes_ends_and_falls_back():
    labels = np.array([2, 0, 0, 1, 2, 2])
    # frames 1..4 inside (0, 5): 0,0,1,2 -> 0
    assert majority_label(labels, 0, 5, 5) == 0
    # tie 0 vs 1 over frames 2..3 -> lowest index
    assert majority_label(np.array([3, 3, 1, 0, 3, 3]), 1, 4, 5) == 0
    # 2-frame interval: inside empty -> whole interval
    assert majority_label(labels, 4, 5, 5) == 2
    assert majority_label(labels, 10, 12, 5) is None


def test_frame_labels_strategies():
    scores = np.array([[0.1, 0.2, 0.0, 0.0, 0.9], [0.5, 0.5, 0.0, 0.0, 0.1]])
    np.testing.assert_array_equal(frame_labels(scores, "spotting_mainly"), [1, 0])
    np.testing.assert_array_equal(frame_labels(scores, "result_synergy"), [4, 0])


def test_synergy_drops_neutral_majority():
    spot = bump_curve(60, [15, 45], width=0)
    labels = [4] * 60
    for f in range(12, 19):
        labels[f] = 1  # positive around the first peak
    for f in (44, 45):
        labels[f] = 2  # surprise on 2 of the 5 inner frames around the second peak
    recog = one_hot(labels)
    recog[:, 2] += 0.01  # where neutral wins, surprise is the best emotion
    base = {"k_prime": 3, "smoothing": False}
    mainly = postprocess_video(spot, recog, PostprocessParams(**base))
    assert [(i.apex, i.emotion) for i in mainly] == [(15, "positive"), (45, "surprise")]
    synergy = postprocess_video(spot, recog, PostprocessParams(**base, strategy="result_synergy"))
    assert [(i.apex, i.emotion) for i in synergy] == [(15, "positive")]


def test_postprocess_windows_end_to_end():
    k = 10
    n = 5
    curve = bump_curve(curve_length(n, k), [12], width=0)
    spot_w = np.stack([curve[i * 5:i * 5 + k] for i in range(n)])
    recog_curve = one_hot([0] * len(curve))
    recog_w = np.stack([recog_curve[i * 5:i * 5 + k] for i in range(n)])
    params = PostprocessParams(k_prime=2, smoothing=False, skip=7)
    after = postprocess_windows(spot_w, recog_w, params)
    assert [(i.onset, i.apex, i.offset, i.emotion) for i in after] == [(10, 12, 14, "negative")]
    src = postprocess_windows(spot_w, recog_w, params, source=True)
    assert [(i.onset, i.apex, i.offset) for i in src] == [(70, 84, 104)]
    assert find_peaks(curve)[0].tolist() == [12]


def test_majority_metst_code_span():
    from metst_engine.postprocess import params_for_mode

    labels = np.array([0, 1, 1, 2, 2, 2, 0])
    # inner: frames 1..5 -> 1,1,2,2,2 -> 2; code slice [1:5] -> frames 1..4 -> 1,1,2,2 tie,
    # first met in time wins -> 1
    assert majority_label(labels, 0, 6, 5) == 2
    assert majority_label(labels, 0, 6, 5, span="metst_code") == 1
    # inner tie 1 vs 2 on frames 1..4 would go to the lower index either way; reversed order:
    assert majority_label(np.array([0, 2, 2, 1, 1, 0]), 0, 5, 5, span="metst_code") == 2
    assert majority_label(np.array([0, 2, 2, 1, 1, 0]), 0, 5, 5) == 1
    # unclipped interval at the start: slice from 0
    assert majority_label(np.array([3, 3, 0, 0, 0]), -4, 2, 5, span="metst_code") == 3
    p = params_for_mode("metst_code", k_prime=4)
    assert (p.clip, p.recognition_span, p.k_prime) == (False, "metst_code", 4)
    assert params_for_mode("megc").clip
    with pytest.raises(ValueError):
        params_for_mode("x")
    with pytest.raises(ValueError):
        PostprocessParams(recognition_span="all")  # type: ignore[arg-type]
