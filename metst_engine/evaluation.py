"""MEGC evaluation of spotting and spot-then-recognise (STRS).

Two counting modes:

``"megc"`` (default, what the paper describes)
    Per video, a one-to-one matching between predictions and ground truths at
    IoU >= ``iou_threshold`` (0.5; exactly 0.5 is a match, as in the public code). The
    matching is a *maximum-cardinality* assignment: ``scipy.optimize.linear_sum_assignment``
    on the bipartite graph whose eligible edges (IoU >= threshold) weigh ``M + IoU`` with
    ``M = min(n_pred, n_gt) + 1`` and whose other edges weigh 0. ``M`` dominates every sum
    of IoUs, so the assignment first maximises the number of matches and, among those,
    the total IoU (which also decides which prediction carries a ground truth's emotion).
    Every video is scored, also videos without ground truth (their predictions are FPs).
    Predictions are clipped to the video when ``VideoCase.n_frames`` is given.

``"metst_code"`` (compatibility with the public ME-TST code)
    The greedy VOC-style counter the code really runs: predictions of a video in time
    order (by onset, then offset); each is compared only with its highest-IoU ground truth
    (exact IoU ties go to the later ground truth: the code's reversed ``argsort`` does so
    wherever numpy sorts short arrays stably; with numpy's SIMD sorts the code's choice on
    exact ties is platform-dependent, so only such ties can differ); it is a TP
    if that IoU >= threshold and that ground truth is still unmatched, else an FP.
    Intervals are not clipped; only videos with at least one ground truth are scored. The
    caller passes intervals in frames after the frame skip to reproduce the code's scale.
    This is the 2025 release's counting (``training_utils.spotting``), where a video
    without predictions contributes none.

``"metst_code_2024"``
    The same counter as the 2024 ME-TST code ran it: a video without predictions gets a
    placeholder prediction [0, 0] (normally an FP).

Recognition is scored on spotting TPs only: each TP pair gives one sample (GT emotion,
predicted emotion). Samples whose GT emotion is not in ``classes`` are dropped (the
public code's SAMM-LV rule for "others"). A predicted emotion outside ``classes`` (e.g.
"others" when scoring three classes, or ``None``) is an FN of the GT class and an FP of no
scored class — it appears in the confusion matrix's last column, "unscored". Per class:
precision, recall, F1 with 0 where undefined (sklearn's ``zero_division=0``); UF1 = mean
per-class F1, UAR = mean per-class recall, and the recognition F1 entering STRS is the
harmonic mean of macro precision and macro recall. STRS = F1(spotting) x F1(recognition).
In ``"metst_code"`` mode a class whose one-vs-rest labels are constant over all samples
(e.g. absent from both GT and predictions) is left out of the averages, as the public
code's ``confusion_matrix(...).ravel()`` raises for it and the class is skipped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
from scipy.optimize import linear_sum_assignment

from metst_engine.intervals import EMOTIONS, PAPER_CLASSES, Interval, interval_iou

Mode = Literal["megc", "metst_code", "metst_code_2024"]
MODES: tuple[str, ...] = ("megc", "metst_code", "metst_code_2024")
#: The public code's counting modes: 2025 (ME-TST+ release) and 2024 (with the placeholder).
CODE_MODES: tuple[str, ...] = ("metst_code", "metst_code_2024")
#: Column of the confusion matrix that collects predictions outside the scored classes.
UNSCORED = "unscored"


@dataclass(frozen=True)
class VideoCase:
    """Predictions and ground truth of one video (one fold's test video)."""

    video: str
    predictions: Sequence[Interval]
    ground_truth: Sequence[Interval]
    n_frames: int | None = None


@dataclass(frozen=True)
class VideoMatch:
    """How one video was counted: the intervals as scored and the matched (pred, gt) pairs."""

    video: str
    predictions: tuple[Interval, ...]
    ground_truth: tuple[Interval, ...]
    pairs: tuple[tuple[int, int], ...]

    @property
    def tp(self) -> int:
        return len(self.pairs)

    @property
    def fp(self) -> int:
        return len(self.predictions) - len(self.pairs)

    @property
    def fn(self) -> int:
        return len(self.ground_truth) - len(self.pairs)


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den > 0 else 0.0


def _f1(precision: float, recall: float) -> float:
    return _ratio(2.0 * precision * recall, precision + recall)


class _PrecisionRecall:
    """Precision, recall and F1 from ``tp``/``fp``/``fn`` counts (0 where undefined)."""

    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float:
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def f1(self) -> float:
        return _ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn)


@dataclass(frozen=True)
class SpottingScore(_PrecisionRecall):
    """Pooled spotting counts and the P, R, F1 derived from them."""

    tp: int
    fp: int
    fn: int

    def to_dict(self) -> dict[str, Any]:
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "precision": self.precision,
                "recall": self.recall, "f1": self.f1}


@dataclass(frozen=True)
class ClassScore(_PrecisionRecall):
    """One-vs-rest counts of one emotion class over the recognition samples."""

    name: str
    tp: int
    fp: int
    fn: int
    included: bool = True  # False: left out of the macro averages (metst_code degenerate class)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "tp": self.tp, "fp": self.fp, "fn": self.fn,
                "precision": self.precision, "recall": self.recall, "f1": self.f1,
                "included": self.included}


@dataclass(frozen=True)
class RecognitionScore:
    """Recognition on spotting TPs: per-class table, macro scores, confusion matrix."""

    classes: tuple[str, ...]
    per_class: tuple[ClassScore, ...]
    confusion: np.ndarray  # rows: GT classes; columns: predicted classes + UNSCORED
    n_samples: int

    @property
    def confusion_columns(self) -> tuple[str, ...]:
        return self.classes + (UNSCORED,)

    def _included(self) -> list[ClassScore]:
        return [c for c in self.per_class if c.included]

    def _mean(self, values: list[float]) -> float:
        return float(np.mean(values)) if values else 0.0

    @property
    def macro_precision(self) -> float:
        return self._mean([c.precision for c in self._included()])

    @property
    def macro_recall(self) -> float:
        return self._mean([c.recall for c in self._included()])

    @property
    def uar(self) -> float:
        """Unweighted average recall (mean per-class recall)."""
        return self.macro_recall

    @property
    def uf1(self) -> float:
        """Unweighted F1 (mean per-class F1)."""
        return self._mean([c.f1 for c in self._included()])

    @property
    def f1(self) -> float:
        """Harmonic mean of macro precision and macro recall: the F1 entering STRS."""
        return _f1(self.macro_precision, self.macro_recall)

    def to_dict(self) -> dict[str, Any]:
        return {"classes": list(self.classes), "n_samples": self.n_samples,
                "per_class": [c.to_dict() for c in self.per_class],
                "macro_precision": self.macro_precision, "macro_recall": self.macro_recall,
                "uf1": self.uf1, "uar": self.uar, "f1": self.f1,
                "confusion": {"rows": list(self.classes),
                              "columns": list(self.confusion_columns),
                              "matrix": self.confusion.astype(int).tolist()}}


@dataclass(frozen=True)
class EvaluationResult:
    """Spotting, recognition and STRS of one evaluation run, plus the per-video matches."""

    mode: str
    iou_threshold: float
    spotting: SpottingScore
    recognition: RecognitionScore
    videos: tuple[VideoMatch, ...] = field(default_factory=tuple)

    @property
    def strs(self) -> float:
        return self.spotting.f1 * self.recognition.f1

    def summary(self) -> dict[str, Any]:
        """The flat row every report uses (CLI, training metrics, GUI): counts, P/R/F1, UF1, UAR, F1, STRS."""
        sp, rc = self.spotting, self.recognition
        return {"tp": sp.tp, "fp": sp.fp, "fn": sp.fn, "precision": sp.precision, "recall": sp.recall, "f1": sp.f1,
                "uf1": rc.uf1, "uar": rc.uar, "recog_f1": rc.f1, "strs": self.strs, "mode": self.mode}

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "iou_threshold": self.iou_threshold,
                "spotting": self.spotting.to_dict(), "recognition": self.recognition.to_dict(),
                "strs": self.strs,
                "videos": [{"video": v.video, "tp": v.tp, "fp": v.fp, "fn": v.fn,
                            "pairs": [list(p) for p in v.pairs]} for v in self.videos]}


def iou_matrix(predictions: Sequence[Interval], ground_truth: Sequence[Interval]) -> np.ndarray:
    """IoU of every prediction (rows) with every ground truth (columns)."""
    out = np.zeros((len(predictions), len(ground_truth)), dtype=float)
    for i, p in enumerate(predictions):
        for j, g in enumerate(ground_truth):
            out[i, j] = interval_iou(p, g)
    return out


def match_megc(predictions: Sequence[Interval], ground_truth: Sequence[Interval],
               iou_threshold: float = 0.5) -> list[tuple[int, int]]:
    """Maximum one-to-one matching at IoU >= threshold; ties broken by total IoU.

    Returns (prediction index, ground-truth index) pairs sorted by prediction index.
    """
    if not predictions or not ground_truth:
        return []
    iou = iou_matrix(predictions, ground_truth)
    eligible = iou >= iou_threshold
    if not eligible.any():
        return []
    big = min(iou.shape) + 1.0
    weight = np.where(eligible, big + iou, 0.0)
    rows, cols = linear_sum_assignment(weight, maximize=True)
    pairs = [(int(r), int(c)) for r, c in zip(rows, cols) if eligible[r, c]]
    return sorted(pairs)


def match_metst_code(predictions: Sequence[Interval], ground_truth: Sequence[Interval],
                     iou_threshold: float = 0.5) -> list[tuple[int, int]]:
    """The public ME-TST code's greedy counter (see module docstring).

    Indices refer to ``predictions`` as given; they are visited in time order.
    """
    if not predictions or not ground_truth:
        return []
    iou = iou_matrix(predictions, ground_truth)
    order = sorted(range(len(predictions)),
                   key=lambda i: (predictions[i].onset, predictions[i].offset, i))
    matched: set[int] = set()
    pairs: list[tuple[int, int]] = []
    for i in order:
        # highest IoU; among ties the last ground truth (reversed stable argsort)
        best = int(np.argsort(iou[i], kind="stable")[::-1][0])
        if iou[i, best] >= iou_threshold and best not in matched:
            matched.add(best)
            pairs.append((i, best))
    return sorted(pairs)


def match_video(case: VideoCase, mode: Mode = "megc",
                iou_threshold: float = 0.5) -> VideoMatch | None:
    """Count one video; None when the mode does not score it (metst_code, no ground truth)."""
    if mode not in MODES:
        raise ValueError(f"unknown evaluation mode {mode!r}; expected one of {MODES}")
    gts = tuple(case.ground_truth)
    preds = tuple(case.predictions)
    if mode in CODE_MODES:
        if not gts:
            return None
        if not preds and mode == "metst_code_2024":
            preds = (Interval(0, 0),)
        pairs = match_metst_code(preds, gts, iou_threshold)
    else:
        if case.n_frames is not None:
            preds = tuple(p.clipped(case.n_frames) for p in preds)
        pairs = match_megc(preds, gts, iou_threshold)
    return VideoMatch(case.video, preds, gts, tuple(pairs))


def score_recognition(gt_labels: Sequence[str | None], pred_labels: Sequence[str | None],
                      classes: Sequence[str] = PAPER_CLASSES,
                      skip_degenerate_classes: bool = False) -> RecognitionScore:
    """Per-class and macro recognition scores over (GT, predicted) label pairs.

    Pairs whose GT label is not in ``classes`` are dropped; predictions outside ``classes``
    count as FN of the GT class only. ``skip_degenerate_classes`` reproduces the public
    code leaving out classes whose one-vs-rest labels are constant over the samples.
    """
    if len(gt_labels) != len(pred_labels):
        raise ValueError("gt_labels and pred_labels differ in length")
    classes = tuple(classes)
    index = {c: i for i, c in enumerate(classes)}
    confusion = np.zeros((len(classes), len(classes) + 1), dtype=np.int64)
    n = 0
    for g, p in zip(gt_labels, pred_labels):
        if g not in index:
            continue
        n += 1
        confusion[index[g], index.get(p, len(classes)) if p is not None else len(classes)] += 1
    per_class = []
    for i, name in enumerate(classes):
        tp = int(confusion[i, i])
        fp = int(confusion[:, i].sum() - tp)
        fn = int(confusion[i, :].sum() - tp)
        tn = n - tp - fp - fn
        included = True
        if skip_degenerate_classes:
            # one-vs-rest labels constant: all samples negative (tp=fp=fn=0) or all positive
            included = not (tp + fp + fn == 0 or (fp == 0 and fn == 0 and tn == 0))
        per_class.append(ClassScore(name, tp, fp, fn, included))
    return RecognitionScore(classes, tuple(per_class), confusion, n)


class _LabelledVideo(Protocol):
    video: str

    def ground_truth(self, skip: int = 1, type: str | None = "micro") -> list[Interval]: ...


def cases_from_videos(videos: Iterable[_LabelledVideo],
                      predictions: Mapping[str, Sequence[Interval]], skip: int = 1,
                      expression_type: str | None = "micro",
                      n_frames: Mapping[str, int] | None = None) -> list[VideoCase]:
    """Pair each video's annotations (e.g. `datasets.VideoEntry`) with its predictions.

    Ground truth is converted to frames after ``skip``; predictions must already be in the
    same unit: ``skip=1`` with source-frame predictions for MEGC scoring, the model's frame
    skip with after-skip predictions to reproduce the public code. A prediction for a
    video not in ``videos`` is an error (a mistyped id would otherwise vanish silently).
    """
    videos = list(videos)
    known = {v.video for v in videos}
    unknown = sorted(set(predictions) - known)
    if unknown:
        raise ValueError(f"predictions for unknown video id(s): {', '.join(unknown[:5])}")
    return [VideoCase(v.video, list(predictions.get(v.video, ())),
                      v.ground_truth(skip, expression_type),
                      None if n_frames is None else n_frames.get(v.video))
            for v in videos]


def evaluate(cases: Iterable[VideoCase], mode: Mode = "megc", iou_threshold: float = 0.5,
             classes: Sequence[str] = PAPER_CLASSES) -> EvaluationResult:
    """Score spotting and recognition over all videos of all folds (counts pooled).

    ``classes``: the recognition class set; the paper and the 2025 public code score
    ``PAPER_CLASSES`` on every dataset (the 2024 code scored CAS(ME)^3 on ``EMOTIONS``).
    """
    matches: list[VideoMatch] = []
    for case in cases:
        m = match_video(case, mode, iou_threshold)
        if m is not None:
            matches.append(m)
    spotting = SpottingScore(sum(m.tp for m in matches), sum(m.fp for m in matches),
                             sum(m.fn for m in matches))
    gt_labels: list[str | None] = []
    pred_labels: list[str | None] = []
    for m in matches:
        for pi, gi in m.pairs:
            gt_labels.append(m.ground_truth[gi].emotion)
            pred_labels.append(m.predictions[pi].emotion)
    recognition = score_recognition(gt_labels, pred_labels, classes,
                                    skip_degenerate_classes=(mode in CODE_MODES))
    return EvaluationResult(mode, float(iou_threshold), spotting, recognition, tuple(matches))


def average_precision(cases: Iterable[VideoCase], iou_threshold: float = 0.5) -> float:
    """Detection AP of scored predictions pooled over videos (whether scores rank true spots first).

    As in object detection (VOC, non-interpolated): all predictions in descending score
    order (None counts as the lowest); each is a TP when its best-IoU ground truth of the
    same video that is still unmatched has IoU >= threshold, which it then takes; AP is the
    sum of the precision at each TP's rank divided by the number of ground truths (0 when
    there are none). Predictions are clipped to the video when ``n_frames`` is known.
    """
    ranked: list[tuple[float, int, Interval]] = []
    gts: list[tuple[Interval, ...]] = []
    for v, case in enumerate(cases):
        gts.append(tuple(case.ground_truth))
        for p in case.predictions:
            p = p.clipped(case.n_frames) if case.n_frames is not None else p
            ranked.append((-np.inf if p.score is None else float(p.score), v, p))
    n_gt = sum(len(g) for g in gts)
    if n_gt == 0:
        return 0.0
    ranked.sort(key=lambda r: -r[0])                 # stable: equal scores keep their input order
    taken: set[tuple[int, int]] = set()
    tp = total = 0.0
    for rank, (_, v, p) in enumerate(ranked, start=1):
        free = [(interval_iou(p, g), j) for j, g in enumerate(gts[v]) if (v, j) not in taken]
        best = max(free, default=(0.0, -1))
        if best[0] >= iou_threshold:
            taken.add((v, best[1]))
            tp += 1
            total += tp / rank
    return total / n_gt


__all__ = [
    "EMOTIONS",
    "CODE_MODES",
    "MODES",
    "PAPER_CLASSES",
    "UNSCORED",
    "ClassScore",
    "EvaluationResult",
    "Mode",
    "RecognitionScore",
    "SpottingScore",
    "VideoCase",
    "VideoMatch",
    "average_precision",
    "cases_from_videos",
    "evaluate",
    "iou_matrix",
    "match_megc",
    "match_metst_code",
    "match_video",
    "score_recognition",
]
