"""MEGC evaluation against hand-computed references and properties."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metst_engine.evaluation import (
    UNSCORED,
    VideoCase,
    evaluate,
    match_megc,
    match_metst_code,
    match_video,
    score_recognition,
)
from metst_engine.intervals import EMOTIONS, PAPER_CLASSES, Interval, interval_iou


def iv(a: int, b: int, emotion: str | None = None) -> Interval:
    return Interval(a, b, emotion=emotion)


# ---------------------------------------------------------------- IoU
def test_iou_inclusive_frames():
    assert interval_iou(iv(0, 9), iv(0, 9)) == 1.0
    assert interval_iou(iv(0, 9), iv(0, 4)) == 0.5  # 5 / 10
    assert interval_iou(iv(0, 4), iv(5, 9)) == 0.0  # adjacent, no shared frame
    assert interval_iou(iv(0, 4), iv(4, 9)) == pytest.approx(1 / 10)
    assert interval_iou(iv(3, 3), iv(3, 3)) == 1.0  # single frame
    assert interval_iou(iv(-5, 4), iv(0, 9)) == pytest.approx(5 / 15)  # unclipped compat


# ---------------------------------------------------------------- hand-computed cases
@pytest.mark.parametrize("mode", ["megc", "metst_code"])
def test_exactly_half_iou_is_tp(mode):
    r = evaluate([VideoCase("v", [iv(0, 4)], [iv(0, 9)])], mode=mode)
    assert (r.spotting.tp, r.spotting.fp, r.spotting.fn) == (1, 0, 0)


def test_threshold_is_a_parameter():
    r = evaluate([VideoCase("v", [iv(0, 4)], [iv(0, 9)])], iou_threshold=0.51)
    assert (r.spotting.tp, r.spotting.fp, r.spotting.fn) == (0, 1, 1)


def test_just_below_half_is_fp_fn():
    # 5 shared frames, union 11 -> 0.4545
    r = evaluate([VideoCase("v", [iv(0, 4)], [iv(0, 10)])])
    assert (r.spotting.tp, r.spotting.fp, r.spotting.fn) == (0, 1, 1)


@pytest.mark.parametrize("mode", ["megc", "metst_code"])
def test_two_predictions_on_one_gt(mode):
    # both predictions overlap the GT at IoU >= 0.5; one GT can be matched once
    r = evaluate([VideoCase("v", [iv(0, 8), iv(1, 9)], [iv(0, 9)])], mode=mode)
    assert (r.spotting.tp, r.spotting.fp, r.spotting.fn) == (1, 1, 0)


def test_greedy_and_optimal_differ():
    # G1=[0,9], G2=[4,13]; P1=[0,8]: IoU(G1)=0.9, IoU(G2)=5/14; P2=[1,10]: IoU(G1)=9/11,
    # IoU(G2)=7/13 >= 0.5. Greedy (time order): P1->G1 TP; P2's best GT is G1, taken -> FP.
    # Optimal: P1->G1, P2->G2.
    gts = [iv(0, 9), iv(4, 13)]
    preds = [iv(0, 8), iv(1, 10)]
    assert interval_iou(preds[1], gts[1]) == pytest.approx(7 / 13)
    assert match_metst_code(preds, gts) == [(0, 0)]
    assert match_megc(preds, gts) == [(0, 0), (1, 1)]
    g = evaluate([VideoCase("v", preds, gts)], mode="metst_code").spotting
    o = evaluate([VideoCase("v", preds, gts)], mode="megc").spotting
    assert (g.tp, g.fp, g.fn) == (1, 1, 1)
    assert (o.tp, o.fp, o.fn) == (2, 0, 0)


def test_one_prediction_two_gts():
    # P=[0,9] vs G1=[0,9] (1.0) and G2=[2,9] (0.8): a single TP, one FN, both modes
    for mode in ("megc", "metst_code"):
        s = evaluate([VideoCase("v", [iv(0, 9)], [iv(0, 9), iv(2, 9)])], mode=mode).spotting
        assert (s.tp, s.fp, s.fn) == (1, 0, 1)


def test_megc_prefers_higher_iou_among_maximum_matchings():
    # one prediction, two eligible GTs: the higher-IoU one carries the emotion
    preds = [iv(0, 9, "positive")]
    gts = [iv(2, 9, "negative"), iv(0, 9, "positive")]
    assert match_megc(preds, gts) == [(0, 1)]
    r = evaluate([VideoCase("v", preds, gts)], classes=PAPER_CLASSES)
    assert r.recognition.per_class[1].tp == 1


def test_greedy_tie_goes_to_later_gt():
    preds = [iv(2, 11)]
    gts = [iv(0, 9), iv(4, 13)]  # both IoU 8/12
    assert match_metst_code(preds, gts) == [(0, 1)]


def test_empty_videos_megc():
    cases = [
        VideoCase("no_gt", [iv(0, 5), iv(10, 15)], []),  # 2 FP
        VideoCase("no_pred", [], [iv(0, 5)]),  # 1 FN
        VideoCase("nothing", [], []),
    ]
    s = evaluate(cases).spotting
    assert (s.tp, s.fp, s.fn) == (0, 2, 1)
    assert s.precision == 0.0 and s.recall == 0.0 and s.f1 == 0.0


def test_empty_videos_metst_code():
    cases = [
        VideoCase("no_gt", [iv(0, 5), iv(10, 15)], []),  # not scored
        VideoCase("no_pred", [], [iv(5, 9)]),  # 2024: placeholder [0,0] FP + 1 FN; 2025: 1 FN
        VideoCase("nothing", [], []),  # not scored
    ]
    r = evaluate(cases, mode="metst_code_2024")
    assert (r.spotting.tp, r.spotting.fp, r.spotting.fn) == (0, 1, 1)
    assert [v.video for v in r.videos] == ["no_pred"]
    assert r.videos[0].predictions == (Interval(0, 0),)
    r = evaluate(cases, mode="metst_code")
    assert (r.spotting.tp, r.spotting.fp, r.spotting.fn) == (0, 0, 1)
    assert [v.video for v in r.videos] == ["no_pred"] and r.videos[0].predictions == ()


def test_clipping_only_in_megc():
    # prediction [-4, 5] (peak 0.5 with k'=... unclipped) vs GT [0, 5]
    case = VideoCase("v", [iv(-4, 5)], [iv(0, 5)], n_frames=100)
    assert evaluate([case], mode="megc").spotting.tp == 1  # clipped to [0,5]: IoU 1
    assert evaluate([case], mode="metst_code").spotting.tp == 1  # 6/10 = 0.6
    case2 = VideoCase("v", [iv(-8, 5)], [iv(0, 5)], n_frames=100)
    assert evaluate([case2], mode="megc").spotting.tp == 1
    assert evaluate([case2], mode="metst_code").spotting.tp == 0  # 6/14


def test_pooled_counts_and_f1():
    cases = [
        VideoCase("a", [iv(0, 9), iv(50, 60)], [iv(0, 9)]),  # TP, FP
        VideoCase("b", [iv(100, 110)], [iv(100, 110), iv(200, 210)]),  # TP, FN
    ]
    s = evaluate(cases).spotting
    assert (s.tp, s.fp, s.fn) == (2, 1, 1)
    assert s.precision == pytest.approx(2 / 3)
    assert s.recall == pytest.approx(2 / 3)
    assert s.f1 == pytest.approx(2 / 3)


def test_unknown_mode():
    with pytest.raises(ValueError):
        match_video(VideoCase("v", [], []), mode="soft")  # type: ignore[arg-type]


# ---------------------------------------------------------------- recognition
def test_recognition_three_classes_hand_computed():
    # TP samples (gt, pred)
    gt = ["negative", "negative", "positive", "surprise", "others", "negative"]
    pred = ["negative", "others", "positive", "negative", "negative", "surprise"]
    r = score_recognition(gt, pred, PAPER_CLASSES)
    # "others" GT sample dropped; 5 samples remain
    assert r.n_samples == 5
    neg, pos, sur = r.per_class
    assert (neg.tp, neg.fp, neg.fn) == (1, 1, 2)  # pred others -> FN of negative only
    assert (pos.tp, pos.fp, pos.fn) == (1, 0, 0)
    assert (sur.tp, sur.fp, sur.fn) == (0, 1, 1)
    assert r.uar == pytest.approx((1 / 3 + 1 + 0) / 3)
    assert r.uf1 == pytest.approx((2 / 5 + 1 + 0) / 3)
    mp = (1 / 2 + 1 + 0) / 3
    mr = (1 / 3 + 1 + 0) / 3
    assert r.f1 == pytest.approx(2 * mp * mr / (mp + mr))
    # confusion: GT rows x predicted columns (+ unscored)
    assert r.confusion_columns == PAPER_CLASSES + (UNSCORED,)
    np.testing.assert_array_equal(r.confusion, [[1, 0, 1, 1], [0, 1, 0, 0], [1, 0, 0, 0]])


def test_recognition_matches_sklearn():
    from sklearn.metrics import precision_recall_fscore_support

    rng = np.random.default_rng(0)
    labels = list(EMOTIONS)
    for classes in (EMOTIONS, PAPER_CLASSES):
        for _ in range(20):
            n = int(rng.integers(1, 30))
            gt = [labels[i] for i in rng.integers(0, 4, n)]
            pred = [labels[i] for i in rng.integers(0, 4, n)]
            r = score_recognition(gt, pred, classes)
            keep = [i for i, g in enumerate(gt) if g in classes]
            if not keep:
                continue
            p, rc, f, _ = precision_recall_fscore_support(
                [gt[i] for i in keep], [pred[i] for i in keep], labels=list(classes),
                zero_division=0)
            np.testing.assert_allclose([c.precision for c in r.per_class], p)
            np.testing.assert_allclose([c.recall for c in r.per_class], rc)
            np.testing.assert_allclose([c.f1 for c in r.per_class], f)
            assert r.uf1 == pytest.approx(float(np.mean(f)))
            assert r.uar == pytest.approx(float(np.mean(rc)))


def test_metst_code_skips_degenerate_classes():
    gt = ["negative", "positive"]
    pred = ["negative", "positive"]
    strict = score_recognition(gt, pred, EMOTIONS)
    compat = score_recognition(gt, pred, EMOTIONS, skip_degenerate_classes=True)
    # surprise and others never appear: 0 in MEGC mode, skipped by the code
    assert strict.uf1 == pytest.approx(0.5)
    assert compat.uf1 == pytest.approx(1.0)
    assert [c.included for c in compat.per_class] == [True, True, False, False]
    # all samples of one class, all right: constant one-vs-rest labels, skipped too
    only = score_recognition(["negative"] * 3, ["negative"] * 3, EMOTIONS,
                             skip_degenerate_classes=True)
    assert not any(c.included for c in only.per_class)
    assert only.f1 == 0.0


def test_strs_end_to_end_and_json():
    cases = [
        VideoCase("s1/v1", [iv(0, 9, "negative"), iv(40, 49, "positive")],
                  [iv(0, 9, "negative"), iv(20, 29, "surprise")]),
        VideoCase("s2/v1", [iv(10, 19, "others")], [iv(10, 19, "positive")]),
    ]
    r = evaluate(cases, classes=PAPER_CLASSES)
    s = r.spotting
    assert (s.tp, s.fp, s.fn) == (2, 1, 1)
    rec = r.recognition
    assert rec.n_samples == 2
    assert [(c.tp, c.fp, c.fn) for c in rec.per_class] == [(1, 0, 0), (0, 0, 1), (0, 0, 0)]
    mp, mr = (1 + 0 + 0) / 3, (1 + 0 + 0) / 3
    assert rec.f1 == pytest.approx(2 * mp * mr / (mp + mr))
    assert r.strs == pytest.approx(s.f1 * rec.f1)
    d = json.loads(json.dumps(r.to_dict()))
    assert d["spotting"]["tp"] == 2
    assert d["recognition"]["confusion"]["matrix"][1] == [0, 0, 0, 1]
    assert d["strs"] == pytest.approx(r.strs)


# ---------------------------------------------------------------- properties
@st.composite
def intervals(draw, max_n=6):
    n = draw(st.integers(0, max_n))
    out = []
    for _ in range(n):
        a = draw(st.integers(0, 60))
        ln = draw(st.integers(0, 15))
        out.append(Interval(a, a + ln, emotion=draw(st.sampled_from(EMOTIONS))))
    return out


@st.composite
def video_cases(draw):
    n = draw(st.integers(0, 4))
    return [VideoCase(f"v{i}", draw(intervals()), draw(intervals())) for i in range(n)]


@settings(max_examples=150, deadline=None)
@given(intervals(), intervals())
def test_property_counts(preds, gts):
    for mode in ("megc", "metst_code"):
        m = match_video(VideoCase("v", preds, gts), mode=mode)
        if m is None:
            assert mode == "metst_code" and not gts
            continue
        assert m.tp <= min(len(m.predictions), len(m.ground_truth))
        assert m.tp + m.fp == len(m.predictions)
        assert m.tp + m.fn == len(gts)
        assert len({p for p, _ in m.pairs}) == m.tp == len({g for _, g in m.pairs})
        assert all(interval_iou(m.predictions[p], m.ground_truth[g]) >= 0.5 for p, g in m.pairs)


@settings(max_examples=150, deadline=None)
@given(intervals(), intervals())
def test_property_optimal_at_least_greedy(preds, gts):
    assert len(match_megc(preds, gts)) >= len(match_metst_code(preds, gts))


@settings(max_examples=80, deadline=None)
@given(intervals(), intervals())
def test_property_megc_is_maximum_matching(preds, gts):
    # brute force over all injective assignments on small cases
    import itertools

    if len(preds) > 4 or len(gts) > 4:
        return
    ok = [[interval_iou(p, g) >= 0.5 for g in gts] for p in preds]
    best = 0
    for perm in itertools.permutations(range(len(gts)), min(len(preds), len(gts))):
        best = max(best, sum(ok[i][j] for i, j in enumerate(perm)))
    if len(preds) > len(gts):
        for perm in itertools.permutations(range(len(preds)), len(gts)):
            best = max(best, sum(ok[i][j] for j, i in enumerate(perm)))
    assert len(match_megc(preds, gts)) == best


@settings(max_examples=80, deadline=None)
@given(video_cases(), st.randoms(use_true_random=False))
def test_property_scores_in_range_and_order_invariant(cases, rnd):
    for mode in ("megc", "metst_code"):
        r = evaluate(cases, mode=mode, classes=EMOTIONS)
        for v in (r.spotting.precision, r.spotting.recall, r.spotting.f1, r.recognition.f1,
                  r.recognition.uf1, r.recognition.uar, r.strs):
            assert 0.0 <= v <= 1.0
        shuffled = list(cases)
        rnd.shuffle(shuffled)
        r2 = evaluate(shuffled, mode=mode, classes=EMOTIONS)
        assert r2.spotting == r.spotting
        np.testing.assert_array_equal(r2.recognition.confusion, r.recognition.confusion)


def test_cases_from_dataset_videos(tmp_path):
    from metst_engine.datasets import LabelledInterval, VideoEntry
    from metst_engine.evaluation import cases_from_videos

    videos = [
        VideoEntry("006", "006_1", tmp_path, 200.0, [
            LabelledInterval("006", "006_1", 70, 80, 139, "micro", "negative"),
            LabelledInterval("006", "006_1", 700, None, 900, "macro"),
        ]),
        VideoEntry("007", "007_1", tmp_path, 200.0, []),
    ]
    cases = cases_from_videos(videos, {"006_1": [Interval(10, 19, emotion="negative")]}, skip=7)
    assert [c.video for c in cases] == ["006_1", "007_1"]
    assert cases[0].ground_truth == [Interval(10, 19, apex=11, emotion="negative")]
    assert cases[1].predictions == [] and cases[1].ground_truth == []
    r = evaluate(cases, mode="metst_code")
    assert (r.spotting.tp, r.spotting.fp, r.spotting.fn) == (1, 0, 0)
    assert r.recognition.per_class[0].tp == 1
    with pytest.raises(ValueError, match="unknown video"):
        cases_from_videos(videos, {"006_9": []})


def test_average_precision_rewards_scores_that_rank_true_spots_first():
    from metst_engine.evaluation import VideoCase, average_precision

    gt = [Interval(10, 20), Interval(50, 60)]
    true_a, true_b, false = Interval(11, 20, score=0.9), Interval(50, 59, score=0.8), Interval(80, 90, score=0.5)
    assert average_precision([VideoCase("v", [false, true_a, true_b], gt)]) == 1.0           # order by score
    worse = replace(false, score=0.95)
    assert average_precision([VideoCase("v", [worse, true_a, true_b], gt)]) == pytest.approx((1 / 2 + 2 / 3) / 2)
    missed = average_precision([VideoCase("v", [true_a], gt)])
    assert missed == 0.5                                                       # bounded by the recall
    unscored = replace(true_b, score=None)
    assert average_precision([VideoCase("v", [unscored, false, true_a], gt)]) == pytest.approx((1 + 2 / 3) / 2)
    # a ground truth is matched once; a spot of another video never matches
    twice = [Interval(11, 20, score=0.9), Interval(10, 19, score=0.8)]
    assert average_precision([VideoCase("v", twice, gt[:1]), VideoCase("w", [], [])]) == 1.0
    assert average_precision([VideoCase("v", [], gt[:1]), VideoCase("w", [true_a], [])]) == 0.0
    assert average_precision([VideoCase("v", [true_a], [])]) == 0.0
