"""Leave-one-subject-out training of ME-TST / ME-TST+ (no Qt; the CLI and the GUI call this).

Method (method notes, "Labels and training"):

- Only micro-expressions are labelled. Labels live in frames after the frame skip (source
  frame f -> f // skip): spotting target 1 inside [onset+1, offset-1], else 0; recognition
  target the emotion's index in ``EMOTIONS`` there, else neutral (index 4). An ME whose
  emotion is not one of the four classes is ignored by the recognition loss (-100).
- A window (C, k) of the extracted features carries the labels of the k after-skip frames
  starting at ``starts[w] // skip``. Windows with no spotting-positive frame are randomly
  down-sampled to ``ratio`` x the number of windows with one, REDRAWN EVERY EPOCH
  (``TrainConfig.redraw="epoch"``; ``"once"`` draws once per fold).
- Loss = 0.9 x MSE(spot) + 0.1 x class-weighted CE(recog). The class weights are computed
  once per fold on the down-sampled training frames of the first draw: sklearn
  ``compute_class_weight("balanced")`` over the classes present, an absent class 0, the
  neutral weight x 6; without feature-level synergy (``synergy=False``) the neutral weight is 0.
- Adam + ``OneCycleLR`` (max lr ``lr``), scale augmentation x U(0.9, 1.1) per window.
- k' = int((mean(offset - onset) + 1) / 2) after the skip, over the TRAINING subjects' MEs,
  stored in each fold's checkpoint with threshold_p THRESHOLD_P (0.55, :mod:`.postprocess`).

Reproducibility: each fold (and the final model) is seeded from ``zlib.crc32(f"{seed}:{subject}")``
alone: ``torch.manual_seed`` (model init, drop path, shuffling, augmentation) and a numpy
Generator (down-sampling); ``torch.set_num_threads(config.threads)`` is set for the run
(default 1, so the numbers do not depend on the machine's core count; restored afterwards).
A fold therefore gives the same tensors whether it runs after other folds, alone after a
resume, or on another worker (on CPU; CUDA kernels are not guaranteed bit-identical).

Run folder: config.json, progress.jsonl, folds/<subject>/{model.safetensors, predictions.csv,
metrics.json (written last)}, final/model.safetensors, metrics.json (written last); its layout
and every read and write of it are ``metst_engine.runs.RunFolder``'s.

A resumed run skips every fold whose ``metrics.json`` exists and retrains the others from scratch.

Execution: the folds and the final model are pure functions (``compute_fold``,
``compute_final``) that return what they computed; an executor (``metst_engine.executors``)
runs them here, in local processes or as Ray tasks, and ``run_loso`` (the driver) writes
every file above from their results, so the run folder is the same whichever ran them.
"""

from __future__ import annotations

import dataclasses
import json
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import __version__
from .atomic import ensure_dir
from .datasets import Dataset, k_prime, load_manifest
from .datasets.base import natural_key
from .errors import Cancelled, InputError, MetstError
from .evaluation import cases_from_videos, evaluate
from .executors import Executor, LocalExecutor, Task
from .extraction import extract_video
from .features import ExtractParams, FeatureSet
from .inference import InferenceOptions, predict_features
from .intervals import EMOTIONS, HEAD_CLASSES
from .intervals_io import read_predictions
from .model_catalog import MODEL_DEFAULTS, model_info
from .models import (
    CheckpointMeta,
    Provenance,
    build_model,
    checkpoint_bytes,
    read_checkpoint_meta,
)
from .models.registry import make_config, stored_config
from .postprocess import THRESHOLD_P
from .runs.config import TrainConfig
from .runs.folder import RunFolder
from .safe_paths import check_id

NEUTRAL_INDEX = len(EMOTIONS)          #: recognition target of non-ME frames
IGNORE_INDEX = -100                    #: recognition target of ME frames with an unknown emotion
NEUTRAL_FACTOR = 6.0                   #: neutral class weight multiplier (feature-level synergy)
SPOT_WEIGHT, RECOG_WEIGHT = 0.9, 0.1


ProgressFn = Callable[[dict[str, Any]], None]
CancelFn = Callable[[], bool]


# ------------------------------------------------------------------------------- labels
def frame_labels(intervals: Sequence[Any], n_frames: int, skip: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame targets after the skip for ``n_frames`` (after-skip) frames.

    Only ``type == "micro"`` intervals count. Returns (spot float32 (n,), recog int64 (n,)):
    spot 1 on [onset//skip + 1, offset//skip - 1], recognition there the emotion index in
    ``EMOTIONS`` (``IGNORE_INDEX`` for an unknown emotion), neutral (4) elsewhere.
    """
    spot = np.zeros(n_frames, dtype=np.float32)
    recog = np.full(n_frames, NEUTRAL_INDEX, dtype=np.int64)
    for iv in intervals:
        if getattr(iv, "type", "micro") != "micro":
            continue
        lo, hi = iv.onset // skip + 1, iv.offset // skip - 1
        lo, hi = max(lo, 0), min(hi, n_frames - 1)
        if hi < lo:
            continue
        spot[lo:hi + 1] = 1.0
        recog[lo:hi + 1] = EMOTIONS.index(iv.emotion) if iv.emotion in EMOTIONS else IGNORE_INDEX
    return spot, recog


def window_labels(starts: np.ndarray, skip: int, k: int, spot: np.ndarray, recog: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels (n_windows, k) of windows whose first source frames are ``starts``."""
    first = np.asarray(starts, dtype=np.int64) // skip
    n = len(spot)
    need = int(first.max()) + k if len(first) else 0
    if need > n:   # frames beyond the video (should not happen): neutral
        spot = np.concatenate([spot, np.zeros(need - n, np.float32)])
        recog = np.concatenate([recog, np.full(need - n, NEUTRAL_INDEX, np.int64)])
    idx = first[:, None] + np.arange(k)[None, :]
    return spot[idx], recog[idx]


def downsample(positive: np.ndarray, ratio: float, rng: np.random.Generator) -> np.ndarray:
    """Indices (sorted) of every positive window plus int(ratio x positives) random negatives.

    With no positive window at all every window is kept (there is nothing to balance against).
    """
    pos = np.flatnonzero(positive)
    neg = np.flatnonzero(~np.asarray(positive, bool))
    if len(pos) == 0:
        return np.arange(len(positive))
    n_neg = min(len(neg), int(ratio * len(pos)))
    chosen = rng.choice(neg, size=n_neg, replace=False) if n_neg else np.empty(0, np.int64)
    return np.sort(np.concatenate([pos, chosen]))


def class_weights(recog: np.ndarray, synergy: bool = True, n_classes: int = len(HEAD_CLASSES)) -> np.ndarray:
    """CE weights over the head classes (neutral last) from the training frames' targets.

    sklearn ``compute_class_weight("balanced")`` over the classes present (n / (n_present x
    count)); an absent class gets 0; neutral x 6, or 0 without feature-level synergy.
    """
    from sklearn.utils.class_weight import compute_class_weight

    y = np.asarray(recog).ravel()
    y = y[y >= 0]
    w = np.zeros(n_classes, dtype=np.float64)
    present = np.unique(y)
    if len(present):
        w[present] = compute_class_weight("balanced", classes=present, y=y)
    neutral = n_classes - 1
    w[neutral] = w[neutral] * NEUTRAL_FACTOR if synergy else 0.0
    return w.astype(np.float32)


def fold_seed(seed: int, subject: str) -> int:
    """Seed of one fold: a hash of (run seed, held-out subject) only."""
    return zlib.crc32(f"{seed}:{subject}".encode())


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


# ------------------------------------------------------------------------------- data
@dataclass
class VideoData:
    """One video's features and window labels."""

    entry: Any                  #: datasets.VideoEntry
    feats: Any                  #: features.FeatureSet
    spot: np.ndarray            #: (n_windows, k) float32
    recog: np.ndarray           #: (n_windows, k) int64


@dataclass
class FoldData:
    """Training windows of one fold (all of them; down-sampling happens per epoch)."""

    x: np.ndarray               #: (N, C, k) float32
    spot: np.ndarray            #: (N, k) float32
    recog: np.ndarray           #: (N, k) int64
    positive: np.ndarray        #: (N,) bool, window holds a spotting-positive frame
    subjects: list[str]         #: training subjects
    k_prime: int


def load_dataset(path: str | Path) -> Dataset:
    p = Path(path)
    if p.is_dir():
        p = p / "manifest.csv"
    if not p.is_file():
        raise InputError(path, "no manifest CSV (give a manifest file or a folder holding manifest.csv)")
    return load_manifest(p)


def default_skip(fps: float) -> int:
    """Frame skip that brings a video near 30 steps/s (30 fps -> 1, 200 fps -> 7)."""
    return max(1, round(fps / 30.0))


def extract_params(config: TrainConfig, fps: float) -> ExtractParams:
    """Extraction parameters of one video of the run (its skip from its fps unless given)."""
    return ExtractParams(rois=config.rois or model_info(config.model).rois, window=config.window, skip=config.skip or default_skip(fps),
                         alignment=config.alignment)


def extract_for_training(config: TrainConfig, path: str, fps: float) -> FeatureSet:
    """One video's features as a task: one process on its one declared CPU (not
    ``extract_workers``), reading the feature cache of the node it runs on."""
    return extract_video(path, extract_params(config, fps), fps=fps, use_cache=config.use_cache,
                         cache_dir=config.cache_dir, workers=1)


def selected_videos(config: TrainConfig, dataset) -> list:
    """The dataset's videos a run uses (``TrainConfig.videos``)."""
    if config.videos == "all":
        return list(dataset.videos)
    return [v for v in dataset.videos if v.micro()]


def prepare_videos(config: TrainConfig, dataset, progress: ProgressFn | None = None,
                   cancel: CancelFn | None = None, executor: Executor | None = None) -> list[VideoData]:
    """Extract (or read from the cache) every video's features once and label its windows.

    Without an executor (or with an in-process one) the videos are extracted here one after
    the other; otherwise each is one task, and a video that fails stops the run naming it.
    """
    videos = selected_videos(config, dataset)
    feats_of: dict[str, Any] = {}
    if executor is None or executor.in_process:
        for v in videos:
            if cancel and cancel():
                raise Cancelled("training cancelled")
            feats_of[v.video] = extract_video(v.path, extract_params(config, v.fps), fps=v.fps,
                                              use_cache=config.use_cache, cache_dir=config.cache_dir,
                                              workers=config.extract_workers or 1, cancel=cancel)
            if progress:
                progress({"event": "extract", "video": v.video, "done": len(feats_of), "total": len(videos)})
    else:
        tasks = [Task(v.video, extract_for_training, (config, str(v.path), v.fps)) for v in videos]
        failed = []
        for outcome in executor.run(tasks, cancel):
            if not outcome.ok:
                failed.append(f"{outcome.name} ({outcome.error})")
                continue
            feats_of[outcome.name] = outcome.value
            if progress:
                progress({"event": "extract", "video": outcome.name, "done": len(feats_of), "total": len(videos)})
        if failed:
            raise InputError(config.dataset, f"feature extraction failed for {len(failed)} video(s): {'; '.join(failed)}")
    out: list[VideoData] = []
    for v in videos:
        feats = feats_of[v.video]
        past = [iv for iv in v.intervals if iv.offset >= feats.n_frames]
        if past:      # labels past the end would be clipped without a word
            shown = ", ".join(f"[{iv.onset}, {iv.offset}]" for iv in past[:3])
            raise InputError(config.dataset, f"video {v.video!r} has {feats.n_frames} frames (last {feats.n_frames - 1}) "
                                             f"but {len(past)} label(s) end past it ({shown}); fix those rows, or the "
                                             "video's path if it points at the wrong video")
        n_after = -(-feats.n_frames // feats.skip)
        spot, recog = frame_labels(v.intervals, n_after, feats.skip)
        ws, wr = window_labels(feats.starts, feats.skip, feats.k, spot, recog)
        if out and (feats.skip, feats.k, feats.channel_names) != (out[0].feats.skip, out[0].feats.k, out[0].feats.channel_names):
            raise InputError(v.path, f"features differ from {out[0].entry.video}'s (skip {feats.skip} vs "
                                     f"{out[0].feats.skip}, or window / channels): give --skip for mixed frame rates")
        out.append(VideoData(v, feats, ws, wr))
    return out


def build_fold_data(videos: Sequence[VideoData], train_subjects: Sequence[str]) -> FoldData:
    """Windows and labels of the training subjects, and k' from their MEs only."""
    chosen = [v for v in videos if v.entry.subject in set(train_subjects)]
    if not chosen:
        raise InputError(None, "no training videos in this fold")
    k_p = fold_k_prime(chosen, train_subjects)
    x = np.concatenate([v.feats.features for v in chosen]).astype(np.float32, copy=False)
    spot = np.concatenate([v.spot for v in chosen])
    recog = np.concatenate([v.recog for v in chosen])
    return FoldData(x, spot, recog, spot.max(axis=1) > 0, sorted(set(train_subjects)), k_p)


def fold_k_prime(videos: Sequence[VideoData], train_subjects: Sequence[str]) -> int:
    """k' of a fold: from the training subjects' micro-expressions, after the skip."""
    chosen = [v for v in videos if v.entry.subject in set(train_subjects)]
    mes = [iv for v in chosen for iv in v.entry.intervals if iv.type == "micro"]
    if not mes:
        raise InputError(None, f"the training subjects {list(train_subjects)} have no micro-expressions")
    return k_prime(mes, chosen[0].feats.skip)


# ------------------------------------------------------------------------------- training
def loss_fn(out, spot: torch.Tensor, recog: torch.Tensor, weights: torch.Tensor,
            recog_loss: str = "batch_mean") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(total, spot MSE, weighted CE): 0.9 x MSE + 0.1 x CE.

    CE sums weight x NLL over the frames with a class and divides by their number
    ("batch_mean", the public code's) or by the sum of their weights ("weight_mean")."""
    mse = torch.nn.functional.mse_loss(out.spot, spot)
    logits = out.recog.reshape(-1, out.recog.shape[-1])
    target = recog.reshape(-1)
    nll = torch.nn.functional.cross_entropy(logits, target, reduction="none", ignore_index=IGNORE_INDEX)
    valid = target != IGNORE_INDEX
    w = torch.where(valid, weights[target.clamp_min(0)], torch.zeros((), device=logits.device))
    if recog_loss == "batch_mean":
        ce = (w * nll).sum() / valid.sum().clamp_min(1)
    else:
        ce = (w * nll).sum() / w.sum().clamp_min(1e-12)     # all-zero weights (e.g. only neutral, no synergy): 0
    return SPOT_WEIGHT * mse + RECOG_WEIGHT * ce, mse, ce


def train_fold(config: TrainConfig, data: FoldData, name: str, *, n_channels: int,
               progress: ProgressFn | None = None, cancel: CancelFn | None = None) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Train one model on ``data``, seeded from (config.seed, name) alone; returns (model, info)."""
    cfg = config.resolved()
    seed = fold_seed(cfg.seed, name)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    device = resolve_device(cfg.device)
    model = build_model(cfg.model, seed=seed, in_channels=n_channels, n_classes=len(EMOTIONS),
                        **cfg.model_overrides).to(device)
    first = downsample(data.positive, cfg.ratio, rng)
    weights_np = class_weights(data.recog[first], cfg.synergy)
    weights = torch.from_numpy(weights_np).to(device)
    n = len(first)
    steps = -(-n // cfg.batch)
    assert cfg.epochs is not None and cfg.lr is not None
    # fused: one pass per parameter tensor instead of ~10 element-wise ones (0.11 -> 0.04 s of a
    # paper-size ME-TST+ step on 2 cores); the same update, equal to the loop version within 1 ulp
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, fused=device.type in ("cpu", "cuda"))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.epochs * steps)
    x_all = torch.from_numpy(np.ascontiguousarray(data.x))
    s_all = torch.from_numpy(np.ascontiguousarray(data.spot))
    r_all = torch.from_numpy(np.ascontiguousarray(data.recog))
    history = []
    for epoch in range(cfg.epochs):
        t0 = time.time()
        idx = first if (epoch == 0 or cfg.redraw == "once") else downsample(data.positive, cfg.ratio, rng)
        idx_t = torch.from_numpy(idx)[torch.randperm(n, generator=gen)]
        model.train()
        tot = [0.0, 0.0, 0.0]
        for b in range(steps):
            if cancel and cancel():
                raise Cancelled("training cancelled")
            bi = idx_t[b * cfg.batch:(b + 1) * cfg.batch]
            scale = torch.empty(len(bi), 1, 1).uniform_(0.9, 1.1, generator=gen)
            xb = (x_all[bi] * scale).to(device)
            out = model(xb)
            loss, mse, ce = loss_fn(out, s_all[bi].to(device), r_all[bi].to(device), weights, cfg.recog_loss)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            for j, v in enumerate((loss, mse, ce)):
                tot[j] += float(v.detach()) * len(bi)
        losses = {"loss": tot[0] / n, "spot_mse": tot[1] / n, "recog_ce": tot[2] / n}
        history.append(losses)
        if progress:
            progress({"event": "epoch", "fold": name, "epoch": epoch + 1, "epochs": cfg.epochs, "losses": losses,
                      "lr": sched.get_last_lr()[0], "seconds": time.time() - t0})
    model.eval()
    info = {"seed": seed, "n_windows": int(len(data.x)), "n_positive": int(data.positive.sum()),
            "n_sampled": int(n), "class_weights": weights_np.tolist(), "history": history}
    return model, info


# ------------------------------------------------------------------------------- run folder
def _checkpoint_meta(cfg: TrainConfig, data: FoldData, feats, dataset_name: str, metrics: dict[str, float] | None = None):
    return CheckpointMeta(roi_set=cfg.rois, alignment=cfg.alignment, channel_names=list(feats.channel_names), window=feats.k,
                          frame_skip=feats.skip, fps=float(feats.fps), class_names=list(EMOTIONS),
                          k_prime=int(data.k_prime), threshold_p=THRESHOLD_P,
                          provenance=Provenance(dataset=dataset_name, subjects=list(data.subjects), epochs=cfg.epochs,
                                                seed=cfg.seed, code_version=__version__),
                          metrics=dict(metrics or {}))


def _subjects(videos: Sequence[VideoData]) -> list[str]:
    return sorted({v.entry.subject for v in videos}, key=natural_key)


@dataclass
class FoldOutput:
    """What one fold (or the final model) computed; the driver writes it into the run folder."""

    name: str                                   #: held-out subject, or "final"
    checkpoint: bytes                           #: model.safetensors contents
    metrics: dict[str, Any] | None = None       #: folds/<subject>/metrics.json (None for the final model)
    predictions: list[tuple[str, str, Any]] = field(default_factory=list)   #: (subject, video, Interval) rows
    summary: dict[str, Any] = field(default_factory=dict)                   #: the fold's MEGC summary row
    events: list[dict[str, Any]] = field(default_factory=list)             #: progress events, in order


def _recorder(events: list[dict[str, Any]], progress: ProgressFn | None) -> ProgressFn:
    def record(event: dict[str, Any]) -> None:
        events.append(event)
        if progress:
            progress(event)
    return record


def compute_fold(config: TrainConfig, subject: str, videos: Sequence[VideoData], dataset_name: str,
                 progress: ProgressFn | None = None, cancel: CancelFn | None = None) -> FoldOutput:
    """Train on every subject but ``subject``, predict and score ``subject``; writes nothing.

    A pure function of (config, videos, subject), so folds can run in any order, on other
    workers, and give the same tensors (on CPU with the same thread count).
    """
    cfg = config.resolved()
    events: list[dict[str, Any]] = []
    emit = _recorder(events, progress)
    t0 = time.time()
    emit({"event": "fold_start", "fold": subject})
    subjects = _subjects(videos)
    data = build_fold_data(videos, [s for s in subjects if s != subject])
    feats0 = videos[0].feats
    model, info = train_fold(cfg, data, subject, n_channels=int(feats0.features.shape[1]), progress=emit,
                             cancel=cancel)
    meta = _checkpoint_meta(cfg, data, feats0, dataset_name)
    preds, row = predict_fold(cfg, subject, videos, model, meta)
    numeric = {k: float(v) for k, v in row.items() if isinstance(v, (int, float))}
    blob, _ = checkpoint_bytes(model, _checkpoint_meta(cfg, data, feats0, dataset_name, numeric))
    fold_metrics = {**row, "subject": subject, "k_prime": data.k_prime, "train_subjects": data.subjects,
                    "seconds": time.time() - t0, **{k: v for k, v in info.items() if k != "history"},
                    "final_losses": info["history"][-1] if info["history"] else None}
    rows = [(subject, vid, iv) for vid, ivs in preds.items() for iv in ivs]
    return FoldOutput(subject, blob, fold_metrics, rows, row, events)


def predict_fold(config: TrainConfig, subject: str, videos: Sequence[VideoData], model: torch.nn.Module,
                 meta: Any) -> tuple[dict[str, list[Any]], dict[str, Any]]:
    """Predict the held-out ``subject``'s videos with its fold model and score them (MEGC):
    (intervals per video in source frames, summary row)."""
    cfg = config.resolved()
    opts = InferenceOptions(strategy=cfg.strategy, device=str(resolve_device(cfg.device)))
    test = [v for v in videos if v.entry.subject == subject]
    preds = {v.entry.video: predict_features(model, meta, v.feats, opts).intervals for v in test}
    res = evaluate(cases_from_videos([v.entry for v in test], preds, skip=1,
                                     n_frames={v.entry.video: v.feats.n_frames for v in test}),
                   mode="megc", classes=tuple(cfg.recog_classes))
    return preds, res.summary()


def write_fold(run_dir: str | Path, out: FoldOutput) -> Path:
    """Write a computed fold into ``folds/<subject>/``; ``metrics.json`` last (it marks the fold complete)."""
    assert out.metrics is not None
    return RunFolder(run_dir).write_fold(out.name, out.checkpoint, out.predictions, out.metrics)


def _fold_end(out: FoldOutput) -> dict[str, Any]:
    return {"event": "fold_end", "fold": out.name, "metrics": out.summary, "seconds": (out.metrics or {}).get("seconds")}


def run_fold(config: TrainConfig, run_dir: str | Path, subject: str, videos: Sequence[VideoData], dataset_name: str,
             progress: ProgressFn | None = None, cancel: CancelFn | None = None) -> dict[str, Any]:
    """Compute one fold here and write its folder (``metrics.json`` last); returns its metrics."""
    out = compute_fold(config, subject, videos, dataset_name, progress=progress, cancel=cancel)
    write_fold(run_dir, out)
    if progress:
        progress(_fold_end(out))
    assert out.metrics is not None
    return out.metrics


def compute_final(config: TrainConfig, videos: Sequence[VideoData], dataset_name: str,
                  progress: ProgressFn | None = None, cancel: CancelFn | None = None) -> FoldOutput:
    """Train the final model on every subject (seeded by the name "final"); writes nothing."""
    cfg = config.resolved()
    events: list[dict[str, Any]] = []
    emit = _recorder(events, progress)
    t0 = time.time()
    emit({"event": "final_start", "fold": "final"})
    data = build_fold_data(videos, _subjects(videos))
    feats0 = videos[0].feats
    model, _ = train_fold(cfg, data, "final", n_channels=int(feats0.features.shape[1]), progress=emit,
                          cancel=cancel)
    blob, _ = checkpoint_bytes(model, _checkpoint_meta(cfg, data, feats0, dataset_name))
    return FoldOutput("final", blob, {"seconds": time.time() - t0}, events=events)


def write_final(run_dir: str | Path, out: FoldOutput) -> Path:
    """Write the final model to ``final/model.safetensors``."""
    return RunFolder(run_dir).write_final(out.checkpoint)


def train_final(config: TrainConfig, run_dir: str | Path, videos: Sequence[VideoData], dataset_name: str,
                progress: ProgressFn | None = None, cancel: CancelFn | None = None) -> Path:
    """Train the final model here on every subject and write final/model.safetensors."""
    out = compute_final(config, videos, dataset_name, progress=progress, cancel=cancel)
    path = write_final(run_dir, out)
    if progress:
        progress({"event": "final_end", "fold": "final", "seconds": (out.metrics or {}).get("seconds")})
    return path


def pool_metrics(config: TrainConfig, run_dir: str | Path, videos: Sequence[VideoData]) -> dict[str, Any]:
    """Pooled MEGC metrics of every fold's predictions.csv (so resumed or remote folds count too),
    with per-subject rows and the recognition confusion matrix ({rows, columns, matrix}: GT
    classes x predicted classes + "unscored"); the caller writes them."""
    cfg = config.resolved()
    run = RunFolder(run_dir)
    subjects = _subjects(videos)
    all_preds = read_predictions([run.fold_predictions(s) for s in subjects])
    n_frames = {v.entry.video: v.feats.n_frames for v in videos}
    entries = [v.entry for v in videos]
    classes = tuple(cfg.recog_classes)
    res = evaluate(cases_from_videos(entries, all_preds, skip=1, n_frames=n_frames), mode="megc", classes=classes)
    out = res.summary()
    per_subject = {}
    for s in subjects:
        sub = [e for e in entries if e.subject == s]
        ids = {e.video for e in sub}
        per_subject[s] = evaluate(cases_from_videos(sub, {k: v for k, v in all_preds.items() if k in ids},
                                                    skip=1, n_frames=n_frames), mode="megc", classes=classes).summary()
        per_subject[s]["k_prime"] = run.read_fold_metrics(s)["k_prime"]
    final_path = run.final_checkpoint()
    out.update({"per_subject": per_subject, "recog_classes": list(classes),
                "confusion": res.recognition.to_dict()["confusion"],
                "final": None if final_path is None else str(final_path.relative_to(run.path))})
    return out


_RESUME_KEYS = ("model", "rois", "window", "skip", "epochs", "lr", "batch", "ratio", "redraw", "synergy", "strategy",
                "recog_classes", "seed", "threads", "model_overrides", "alignment", "videos", "recog_loss")


class FoldsFailed(MetstError):
    """Some folds (or the final model) failed after their retries; the others were written."""

    def __init__(self, failures: Mapping[str, str], run_dir: Path):
        self.failures = dict(failures)
        listed = "; ".join(f"{name}: {error}" for name, error in self.failures.items())
        super().__init__(f"{run_dir}: {len(self.failures)} task(s) failed ({listed}); the other folds are written, "
                         f"--resume redoes only the missing ones")


def _gpus_per_task(cfg: TrainConfig, executor: Executor) -> float:
    """GPUs a fold task declares: one on a CUDA device ("auto": when the cluster has GPUs)."""
    if cfg.device == "cpu" or isinstance(executor, LocalExecutor):
        return 0.0
    if cfg.device.startswith("cuda"):
        return 1.0
    cluster_gpus = getattr(executor, "cluster_gpus", None)
    return 1.0 if cluster_gpus is not None and cluster_gpus() > 0 else 0.0


FoldTask = Callable[..., FoldOutput]   #: (config, subject, videos, dataset_name, progress=, cancel=) -> FoldOutput
FinalTask = Callable[..., FoldOutput]  #: (config, videos, dataset_name, progress=, cancel=) -> FoldOutput


def run_loso(config: TrainConfig, run_dir: str | Path, progress: ProgressFn | None = None,
             cancel: CancelFn | None = None, resume: bool = False,
             executor: Executor | None = None, *, fold_task: FoldTask = compute_fold,
             final_task: FinalTask | None = compute_final, record: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Leave-one-subject-out training and evaluation, then the final model; returns the run metrics.

    ``progress(event)`` gets every event that is appended to ``progress.jsonl``; ``cancel()``
    returning True stops at the next batch with ``Cancelled`` (the fold in flight leaves no
    metrics.json, so ``resume=True`` redoes it).

    ``executor`` runs the videos' extraction and the folds (default: this process, one after
    the other). Whatever runs them, this process writes the run folder. A fold that fails
    is logged (``fold_failed``) and the others go on; at the end :class:`FoldsFailed` names
    every failed one, and a resumed run redoes only those.

    ``fold_task`` / ``final_task`` compute a fold / the final model (default: train them);
    ``record`` adds keys to config.json. Published weights imported as a run
    (``metst_engine.public_import``) use these and record ``"imported"``: such a run is
    only resumed by the import, never by training, and the reverse.
    """
    cfg = config.resolved()
    try:
        cfg.validate()
    except ValueError as exc:
        raise InputError(None, str(exc)) from None
    executor = executor or LocalExecutor(1)
    run = RunFolder(run_dir)
    dataset, subjects = _start_run(cfg, run, resume, executor, record)
    log_fh = run.open_progress()
    emit = _progress_writer(log_fh, progress)
    old_threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        emit({"event": "run_start", "subjects": subjects, "resume": resume})
        videos = prepare_videos(cfg, dataset, emit, cancel, executor)
        tasks = _loso_tasks(cfg, run, subjects, videos, dataset.name, executor, emit, cancel, fold_task, final_task)
        failures = _collect_outcomes(executor, tasks, cancel, run, emit)
        if failures:
            emit({"event": "run_failed", "failed": sorted(failures)})
            raise FoldsFailed(failures, run.path)
        out_metrics = pool_metrics(cfg, run.path, videos)
        run.write_metrics(out_metrics)
        emit({"event": "run_end", "metrics": {k: v for k, v in out_metrics.items() if k != "per_subject"}})
        return out_metrics
    finally:
        torch.set_num_threads(old_threads)
        log_fh.close()


def _start_run(cfg: TrainConfig, run: RunFolder, resume: bool, executor: Executor,
               record: Mapping[str, Any] | None) -> tuple[Dataset, list[str]]:
    """Check that the run can start (or resume) in ``run``; write its settings when new."""
    old = None
    if run.config_file.exists():
        if not resume:
            raise InputError(run.path, "already holds a run (config.json); resume it or choose another folder")
        old = _resumable(cfg, run, record)
    device = resolve_device(cfg.device)
    if device.type == "cuda" and not torch.cuda.is_available() and isinstance(executor, LocalExecutor):
        raise InputError(None, f"device {cfg.device!r}: no CUDA device available (use --device cpu or auto)")
    dataset = load_dataset(cfg.dataset)
    subjects = sorted({v.subject for v in selected_videos(cfg, dataset)}, key=natural_key)
    for subject in subjects:          # subjects name the fold folders: refuse any that would leave them
        check_id(subject, "subject", cfg.dataset)
    if len(subjects) < 2:
        raise InputError(cfg.dataset, f"leave-one-subject-out needs at least 2 subjects, found {len(subjects)}")
    if old is not None and old.get("subjects") != subjects:
        raise InputError(run.config_file, "cannot resume: the dataset's subjects differ from the run's")
    ensure_dir(run.path)
    if old is None:
        run.write_settings({"config": cfg.to_dict(), "threads": cfg.threads, "subjects": subjects,
                                "dataset_name": dataset.name, "version": __version__,
                                "device": str(device), "created": time.time(), **dict(record or {})})
    return dataset, subjects


def _progress_writer(log_fh: Any, progress: ProgressFn | None) -> ProgressFn:
    """``emit(event)``: one line of progress.jsonl (then ``progress(row)``) per event."""
    def emit(event: dict[str, Any]) -> None:
        row = {"event": event.get("event"), "fold": event.get("fold"), "epoch": event.get("epoch"),
               "losses": event.get("losses"), "metrics": event.get("metrics"), "time": time.time()}
        row.update({k: v for k, v in event.items() if k not in row})
        log_fh.write(json.dumps(row) + "\n")
        log_fh.flush()
        if progress:
            progress(row)
    return emit


def _collect_outcomes(executor: Executor, tasks: list[Task], cancel: CancelFn | None, run: RunFolder,
                      emit: ProgressFn) -> dict[str, str]:
    """Run the fold and final tasks, writing each result as it arrives; the failed ones by name."""
    failures: dict[str, str] = {}
    for outcome in executor.run(tasks, cancel):
        name = outcome.name
        if not outcome.ok:
            failures[name] = outcome.error or "failed"
            emit({"event": "final_failed" if name == _FINAL_TASK else "fold_failed",
                  "fold": "final" if name == _FINAL_TASK else name, "error": outcome.error})
            continue
        out: FoldOutput = outcome.value
        if not executor.in_process:      # in-process tasks emitted their events live
            for event in out.events:
                emit(event)
        if name == _FINAL_TASK:
            write_final(run.path, out)
            emit({"event": "final_end", "fold": "final", "seconds": (out.metrics or {}).get("seconds")})
        else:
            write_fold(run.path, out)
            emit(_fold_end(out))
    return failures


#: Task name of the final model (subjects name the folds).
_FINAL_TASK = "final model"


def _resumable(cfg: TrainConfig, run: RunFolder, record: Mapping[str, Any] | None) -> dict[str, Any]:
    """config.json of the run in ``run`` when ``cfg`` (and ``record``) may continue it; InputError why not."""
    try:
        old = json.loads(run.config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(run.config_file, f"cannot read the run's settings ({exc}); it cannot be resumed: start the "
                                          "run again in a new folder") from None
    if not isinstance(old, dict):
        raise InputError(run.config_file, "not a run's settings (not a JSON object); start the run in a new folder")
    imported = bool((record or {}).get("imported"))
    if bool(old.get("imported")) != imported:
        raise InputError(run.path, "cannot resume: this folder holds " + (
            "published weights imported as a run; continue it with `metst import-weights ... --resume`"
            if not imported else "a training run, not imported weights"))
    diff = [k for k in _RESUME_KEYS if old.get("config", {}).get(k) != cfg.to_dict().get(k)]
    if diff:
        raise InputError(run.config_file, f"cannot resume: the settings differ in {', '.join(diff)}")
    _check_resumed_models(cfg, run)
    return old


def _check_resumed_models(cfg: TrainConfig, run: RunFolder) -> None:
    """Refuse to resume when this version would build other networks than the finished folds
    hold (a default changed since the run started): the run would mix two architectures."""
    done = run.fold_checkpoints()
    if not done:
        return
    meta = read_checkpoint_meta(done[0])
    try:
        built = dataclasses.asdict(stored_config(meta.model, dict(meta.config)))
        now = dataclasses.asdict(make_config(cfg.model, in_channels=built["in_channels"], n_classes=built["n_classes"],
                                    **cfg.model_overrides))
    except (ValueError, TypeError) as exc:
        raise InputError(done[0], f"cannot resume: {exc}") from None
    diff = {k: (built.get(k), v) for k, v in now.items() if built.get(k) != v}
    if diff:
        listed = ", ".join(f"{k} {a!r} -> {b!r}" for k, (a, b) in diff.items())
        raise InputError(run.path, f"cannot resume: the finished folds' networks differ from what this version builds "
                              f"({listed}; the network defaults changed since the run started). Its finished folds "
                              f"stay valid; train the rest in a new run folder")


def _loso_tasks(cfg: TrainConfig, run: RunFolder, subjects: Sequence[str], videos: list[VideoData], dataset_name: str,
                executor: Executor, emit: ProgressFn, cancel: CancelFn | None,
                fold_task: FoldTask = compute_fold, final_task: FinalTask | None = compute_final) -> list[Task]:
    """One task per fold without metrics.json (the others are logged as skipped), then the final model.

    In-process tasks get the live progress and cancel; remote ones get the videos through
    ``executor.share`` (Ray: one object-store copy that every fold on a node reads).
    """
    live: dict[str, Any] = {"progress": emit, "cancel": cancel} if executor.in_process else {}
    shared = executor.share(videos)
    cpus, gpus = cfg.threads, _gpus_per_task(cfg, executor)
    tasks = []
    for subject in subjects:
        if run.fold_done(subject):
            emit({"event": "fold_skipped", "fold": subject})
            continue
        tasks.append(Task(subject, fold_task, (cfg, subject, shared, dataset_name), dict(live), cpus, gpus))
    if cfg.final and final_task is not None and run.final_checkpoint() is None:
        tasks.append(Task(_FINAL_TASK, final_task, (cfg, shared, dataset_name), dict(live), cpus, gpus))
    return tasks


__all__ = [
    "MODEL_DEFAULTS",
    "NEUTRAL_INDEX",
    "FoldData",
    "FoldOutput",
    "FoldsFailed",
    "TrainConfig",
    "VideoData",
    "build_fold_data",
    "class_weights",
    "compute_final",
    "compute_fold",
    "downsample",
    "fold_k_prime",
    "fold_seed",
    "frame_labels",
    "load_dataset",
    "pool_metrics",
    "predict_fold",
    "prepare_videos",
    "run_fold",
    "run_loso",
    "train_final",
    "train_fold",
    "window_labels",
    "write_final",
    "write_fold",
]
