"""What each registered model is called and trained with by default, without importing torch.

The torch half of the registry (:mod:`metst_engine.models.registry`) maps a name to its
network and config class; this half holds the facts that the CLI, the training panel and
``TrainConfig`` need before (or without) building a network: the names, a label for
people, the model's own ROI set, and the authors' epochs, learning rate and window k.
A new model is one :class:`ModelInfo` line here beside its ``NETWORKS`` entry there
(the registry refuses to import while the two lists differ).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ModelInfo:
    """One model's defaults (the authors' public code)."""

    name: str            #: registry name: ``--model`` of ``metst train``, ``model`` of a checkpoint
    label: str           #: for people (the training panel)
    rois: str            #: ROI set it was designed with
    epochs: int
    lr: float            #: max lr of the one-cycle schedule
    window: int = 50     #: k, frames after the skip (CAS(ME)^3 50; SAMM-LV is trained with 30)

    def __post_init__(self) -> None:
        if self.epochs < 1 or not self.lr > 0 or self.window < 4 or self.window % 2:
            raise ValueError(f"model {self.name}: epochs >= 1, lr > 0 and an even window >= 4 are needed")

    def defaults(self) -> dict[str, Any]:
        """What follows from the model name when a run leaves it out: epochs, lr, rois."""
        return {"epochs": self.epochs, "lr": self.lr, "rois": self.rois}


CATALOG: dict[str, ModelInfo] = {m.name: m for m in (
    ModelInfo("metst", "ME-TST", rois="metst", epochs=50, lr=3e-4),   # the 2025 main.py trains both alike
    ModelInfo("metst_plus", "ME-TST+", rois="metst_plus", epochs=50, lr=3e-4),
)}
MODEL_NAMES: tuple[str, ...] = tuple(CATALOG)
#: The model a run uses when none is named.
DEFAULT_MODEL = "metst"
#: name -> the defaults that follow from it (as docs/models.md tabulates them).
MODEL_DEFAULTS: dict[str, dict[str, Any]] = {name: m.defaults() for name, m in CATALOG.items()}


@dataclass(frozen=True)
class SpotterInfo:
    """A model-free spotter's features: ROI set, face alignment and window k (``metst predict``, Analyze).

    A checkpoint brings its own (what it was trained with); these are the spotters without one.
    """

    name: str            #: ``metst predict --spotter``
    label: str
    rois: str
    alignment: str
    window: int          #: k, frames after the skip: the spotter's parameters are in seconds

    def __post_init__(self) -> None:
        if self.window < 4 or self.window % 2:
            raise ValueError(f"spotter {self.name}: an even window >= 4 is needed")


#: The model-free spotters: per-region evidence (tuned by bench/spotter_bench.py on window 50 with the
#: 18 ME-TST+ ROIs, whose lower eyelids tell blinks apart, and metst's improved alignment) and the
#: earlier raw-magnitude one (5 ROIs), kept for comparison.
SPOTTER_CATALOG: dict[str, SpotterInfo] = {s.name: s for s in (
    SpotterInfo("evidence", "model-free spotter (per-region evidence)", rois="metst_plus", alignment="improved",
                window=50),
    SpotterInfo("legacy", "earlier model-free spotter (raw magnitude)", rois="metst", alignment="improved",
                window=50),
)}
#: The spotter Analyze and ``metst predict`` use without a checkpoint.
DEFAULT_SPOTTER = "evidence"


def model_info(name: str) -> ModelInfo:
    try:
        return CATALOG[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(MODEL_NAMES)}") from None


def per_model(field: str) -> str:
    """``"metst 30, metst_plus 50"``: one default across the models, for help texts."""
    return ", ".join(f"{m.name} {getattr(m, field):g}" for m in CATALOG.values())


__all__ = ["CATALOG", "DEFAULT_MODEL", "DEFAULT_SPOTTER", "MODEL_DEFAULTS", "MODEL_NAMES", "SPOTTER_CATALOG", "ModelInfo",
           "SpotterInfo", "model_info", "per_model"]
