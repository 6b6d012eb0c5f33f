"""``TrainConfig``: everything that determines a training run, its one ``validate()`` and its
``metst train`` options (``add_arguments`` / ``to_argv`` / ``from_argv``), in one place.

Torch-free, so the GUI and the CLI's parser can use it without loading the network code.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..alignment import ALIGNMENTS, DEFAULT_ALIGNMENT
from ..intervals import EMOTIONS, PAPER_CLASSES
from ..model_catalog import CATALOG, DEFAULT_MODEL, MODEL_NAMES, model_info, per_model

#: Which videos a run trains on and scores: "with_me" only those with at least one labelled
#: micro-expression (what the public code loads), "all" every video (a project's own data,
#: where a video without MEs is real evidence).
VIDEO_SELECTIONS = ("with_me", "all")
#: How the class-weighted recognition CE is averaged: "batch_mean" over the frames, as
#: PyTorch's weighted cross-entropy with one-hot float targets (the public code);
#: "weight_mean" over the sum of the frames' weights (PyTorch's with class-index targets).
RECOG_LOSSES = ("batch_mean", "weight_mean")
STRATEGIES = ("none", "spotting_mainly", "result_synergy")
REDRAWS = ("epoch", "once")


def parse_model_overrides(text: str | None) -> dict[str, Any]:
    """Network options as typed (``--model-overrides``, the training form): a JSON object, {} when empty;
    ValueError saying what is wrong otherwise."""
    overrides = json.loads(text) if text else {}
    if not isinstance(overrides, dict):
        raise ValueError("must be a JSON object")
    return overrides


@dataclass
class TrainConfig:
    """Everything that determines a training run; None fields are resolved by ``resolved()``."""

    dataset: str                                #: manifest CSV, or a folder holding manifest.csv
    model: str = DEFAULT_MODEL                  #: a name of model_catalog.MODEL_NAMES
    rois: str | None = None                     #: ROI set (default: the model's own)
    window: int = CATALOG[DEFAULT_MODEL].window  #: k, frames after the skip (CAS(ME)^3 50, SAMM-LV 30)
    skip: int | None = None                     #: frame skip (default: round(fps / 30), SAMM-LV 200 fps -> 7)
    epochs: int | None = None                   #: default: the model's (model_catalog)
    lr: float | None = None                     #: max lr of the one-cycle schedule (default: the model's)
    batch: int = 256                            #: CAS(ME)^3 256, SAMM-LV 32
    ratio: float = 4.0                          #: kept ME-free windows per ME window (CAS 4, SAMM-LV 0.5)
    redraw: str = "epoch"                       #: down-sampling redrawn each "epoch" or "once" per fold
    synergy: bool = True                        #: feature-level synergy (neutral class in the CE loss)
    strategy: str = "spotting_mainly"           #: inference strategy for the fold predictions (2025 code: 2)
    alignment: str = DEFAULT_ALIGNMENT          #: feature alignment (metst_engine.alignment)
    videos: str = "with_me"                     #: with_me: only videos with a labelled ME (public code) | all
    recog_loss: str = "batch_mean"              #: batch_mean: weighted CE / frames (PyTorch, public code) | weight_mean
    recog_classes: list[str] = field(default_factory=lambda: list(PAPER_CLASSES))
    seed: int = 0
    threads: int = 1                            #: torch intra-op threads (fixed: part of reproducibility)
    device: str = "auto"                        #: auto (cuda when present) | cpu | cuda[:n]
    final: bool = True                          #: after the folds, train on all subjects
    model_overrides: dict[str, Any] = field(default_factory=dict)  #: e.g. {"depth": 2}
    use_cache: bool = True
    cache_dir: str | None = None                #: feature cache (None: metst's default cache)
    extract_workers: int | None = None          #: not a ``metst train`` option (API only)

    def resolved(self) -> TrainConfig:
        d = model_info(self.model)
        return dataclasses.replace(
            self, dataset=str(self.dataset),
            rois=self.rois or d.rois,
            epochs=self.epochs if self.epochs is not None else d.epochs,
            lr=self.lr if self.lr is not None else d.lr,
            recog_classes=list(self.recog_classes), model_overrides=dict(self.model_overrides))

    def validate(self) -> None:
        """ValueError naming the first setting that is wrong (numbers, names, the network's options)."""
        problems = self.problems()
        if problems:
            raise ValueError(next(iter(problems.values())))

    def problems(self) -> dict[str, str]:
        """Every wrong setting: field name -> its message, in ``validate``'s order (for a form that
        shows one message beside each field)."""
        found: dict[str, str] = {}
        for name, check in _CHECKS:
            if name in found:
                continue
            try:
                check(self)
            except ValueError as exc:
                found[name] = str(exc)
        return found

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    # ------------------------------------------------------------------ metst train options
    def to_argv(self) -> list[str]:
        """This config as ``metst train`` options (``from_argv`` reads them back; no run folder)."""
        argv = ["--dataset", str(self.dataset), "--model", self.model, "--window", str(self.window),
                "--batch", str(self.batch), "--ratio", repr(float(self.ratio)), "--strategy", self.strategy,
                "--seed", str(self.seed), "--redraw", self.redraw, "--threads", str(self.threads),
                "--device", self.device, "--alignment", self.alignment, "--videos", self.videos,
                "--recog-loss", self.recog_loss, "--synergy" if self.synergy else "--no-synergy"]
        optional = {"--rois": self.rois, "--skip": self.skip, "--epochs": self.epochs,
                    "--lr": None if self.lr is None else repr(float(self.lr)), "--cache-dir": self.cache_dir}
        for flag, value in optional.items():
            if value is not None:
                argv += [flag, str(value)]
        if self.recog_classes:
            argv += ["--recog-classes", *self.recog_classes]
        if not self.final:
            argv.append("--no-final")
        if self.model_overrides:
            argv += ["--model-overrides", json.dumps(self.model_overrides)]
        if not self.use_cache:
            argv.append("--no-cache")
        return argv

    @classmethod
    def from_args(cls, a: argparse.Namespace) -> TrainConfig:
        """The config of parsed ``add_arguments`` options; ValueError for bad --model-overrides."""
        try:
            overrides = parse_model_overrides(a.model_overrides)
        except ValueError as exc:
            raise ValueError(f"--model-overrides: {exc}") from None
        return cls(dataset=a.dataset, model=a.model, rois=a.rois, window=a.window, skip=a.skip, epochs=a.epochs,
                   lr=a.lr, batch=a.batch, ratio=a.ratio, redraw=a.redraw, synergy=a.synergy, strategy=a.strategy,
                   recog_classes=list(a.recog_classes), seed=a.seed, threads=a.threads, device=a.device,
                   alignment=a.alignment, videos=a.videos, recog_loss=a.recog_loss, final=not a.no_final,
                   model_overrides=overrides, use_cache=not a.no_cache, cache_dir=a.cache_dir)

    @classmethod
    def from_argv(cls, argv: Sequence[str]) -> TrainConfig:
        """The config of ``metst train`` options as ``to_argv`` writes them."""
        parser = argparse.ArgumentParser(prog="metst train", add_help=False)
        add_arguments(parser)
        return cls.from_args(parser.parse_args(list(argv)))


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``metst train`` options that make up a ``TrainConfig``."""
    p.add_argument("--dataset", required=True, help="manifest CSV, or a folder holding manifest.csv")
    p.add_argument("--model", choices=MODEL_NAMES, default=DEFAULT_MODEL)
    p.add_argument("--rois", default=None, help="ROI set (default: the model's own)")
    p.add_argument("--window", "-k", type=int, default=model_info(DEFAULT_MODEL).window,
                   help="k, frames after the skip (CAS(ME)^3 50, SAMM-LV 30)")
    p.add_argument("--skip", "-s", type=int, default=None, help="frame skip (default: round(fps / 30))")
    p.add_argument("--epochs", type=int, default=None, help=f"default {per_model('epochs')} (the 2025 code)")
    p.add_argument("--lr", type=float, default=None, help=f"one-cycle max lr, default {per_model('lr')} (the 2025 "
                   "code; the 2024 ME-TST code used 30 epochs at 1e-4)")
    p.add_argument("--batch", type=int, default=256, help="batch size (CAS(ME)^3 256, SAMM-LV 32)")
    p.add_argument("--ratio", type=float, default=4.0,
                   help="ME-free windows kept per ME window, redrawn each epoch (CAS(ME)^3 4, SAMM-LV 0.5)")
    p.add_argument("--redraw", choices=REDRAWS, default="epoch", help="when the down-sampling is drawn")
    p.add_argument("--strategy", choices=STRATEGIES, default="spotting_mainly",
                   help="inference strategy for the fold predictions")
    p.add_argument("--synergy", action=argparse.BooleanOptionalAction, default=True,
                   help="feature-level synergy: the neutral class in the recognition loss (weight x6)")
    p.add_argument("--recog-classes", nargs="+", default=list(PAPER_CLASSES))
    p.add_argument("--alignment", choices=ALIGNMENTS, default=DEFAULT_ALIGNMENT,
                   help="how the face crop follows the head: public = as the authors' code (unit slip included); "
                        "improved = metst's sub-pixel variant with a coarse pre-registration")
    p.add_argument("--videos", choices=VIDEO_SELECTIONS, default="with_me",
                   help="with_me: only videos with at least one labelled micro-expression (public code); all: every "
                        "video (a project's own data, where a video without MEs is evidence too)")
    p.add_argument("--recog-loss", choices=RECOG_LOSSES, default="batch_mean",
                   help="weighted recognition CE divided by the frames (public code) or by the sum of their weights")
    p.add_argument("--seed", type=int, default=0, help="each fold is seeded from (seed, held-out subject)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (fixed, for reproducible tensors)")
    p.add_argument("--device", default="auto", help="auto (cuda when present), cpu, cuda, cuda:N")
    p.add_argument("--no-final", action="store_true", help="skip the final model trained on all subjects")
    p.add_argument("--model-overrides", default=None, metavar="JSON",
                   help='network hyper-parameters, e.g. \'{"depth": 2}\'')
    p.add_argument("--cache-dir", default=None, help="feature cache folder (default: metst's cache)")
    p.add_argument("--no-cache", action="store_true")


def config_defaults() -> dict[str, Any]:
    """``TrainConfig``'s default of every field that has one (front ends show these, never their own)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(TrainConfig):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
    return out


def _need(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


def _check_device(c: TrainConfig) -> None:
    if c.device != "auto":
        import torch  # heavy, and only a device name other than "auto" needs it parsed

        try:
            torch.device(c.device)
        except (RuntimeError, ValueError):
            raise ValueError(f"device {c.device!r} is not a torch device; use auto, cpu, cuda or cuda:N") from None


def _check_classes(c: TrainConfig) -> None:
    unknown = sorted(set(c.recog_classes) - set(EMOTIONS))
    _need(not unknown, f"unknown recognition class(es) {unknown}; classes: {list(EMOTIONS)}")


def _check_model_name(c: TrainConfig) -> None:
    model_info(c.model)    # the catalog's "unknown model" error, before torch is loaded


def _check_overrides(c: TrainConfig) -> None:
    if c.model not in MODEL_NAMES:
        return                                  # the model's own message says it
    from ..models import default_config  # lazy: torch (CLI, GUI start without it)
    from ..models.meta_schema import config_problems  # lazy: torch

    options = default_config(c.model)
    bad = sorted(set(c.model_overrides) - set(options))
    _need(not bad, f"model {c.model!r} has no option(s) {bad}; options: {', '.join(options)}")
    problems = config_problems(c.model, c.model_overrides)   # the checkpoint schema's ranges
    _need(not problems, "model overrides: " + "; ".join(problems))


#: (field, check) in the order ``validate`` reports them; a check raises ValueError naming its field.
_CHECKS: tuple[tuple[str, Callable[[TrainConfig], None]], ...] = (
    ("window", lambda c: _need(c.window >= 4 and c.window % 2 == 0,
                               f"window must be an even number >= 4, got {c.window}")),
    ("skip", lambda c: _need(c.skip is None or c.skip >= 1, f"skip must be >= 1, got {c.skip}")),
    ("epochs", lambda c: _need(c.epochs is None or c.epochs >= 1, f"epochs must be >= 1, got {c.epochs}")),
    ("lr", lambda c: _need(c.lr is None or 0 < c.lr < math.inf, f"lr must be a finite number > 0, got {c.lr}")),
    ("batch", lambda c: _need(c.batch >= 1, f"batch must be >= 1, got {c.batch}")),
    ("ratio", lambda c: _need(0 < c.ratio < math.inf, f"ratio must be a finite number > 0, got {c.ratio}")),
    ("threads", lambda c: _need(c.threads >= 1, f"threads must be >= 1, got {c.threads}")),
    ("device", _check_device),
    ("redraw", lambda c: _need(c.redraw in REDRAWS, f"redraw must be 'epoch' or 'once', got {c.redraw!r}")),
    ("strategy", lambda c: _need(c.strategy in STRATEGIES,
                                 f"strategy must be none, spotting_mainly or result_synergy, got {c.strategy!r}")),
    ("alignment", lambda c: _need(c.alignment in ALIGNMENTS,
                                  f"alignment must be one of {', '.join(ALIGNMENTS)}, got {c.alignment!r}")),
    ("videos", lambda c: _need(c.videos in VIDEO_SELECTIONS,
                               f"videos must be one of {', '.join(VIDEO_SELECTIONS)}, got {c.videos!r}")),
    ("recog_loss", lambda c: _need(c.recog_loss in RECOG_LOSSES,
                                   f"recog_loss must be one of {', '.join(RECOG_LOSSES)}, got {c.recog_loss!r}")),
    ("recog_classes", _check_classes),
    ("model", _check_model_name),
    ("model_overrides", _check_overrides),
)


__all__ = ["RECOG_LOSSES", "REDRAWS", "STRATEGIES", "VIDEO_SELECTIONS", "TrainConfig", "add_arguments",
           "config_defaults"]
