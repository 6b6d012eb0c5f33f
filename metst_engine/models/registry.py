"""Model registry: each model of :mod:`metst_engine.model_catalog` maps to its network class
and config dataclass.

The catalog (torch-free) is the one list of model names, labels and defaults; this module
only binds each of its names to a network. A new model is one ``ModelInfo`` line there, one
module defining ``SomeNet(config)`` with ``config_class``, and one ``NETWORKS`` entry below
(importing this module fails while the two disagree).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from metst_engine.model_catalog import MODEL_NAMES, model_info
from metst_engine.models.mamba import Mamba
from metst_engine.models.metst import METST
from metst_engine.models.metst_plus import METSTPlus


@dataclass(frozen=True)
class ModelSpec:
    name: str
    cls: type[nn.Module]
    config_class: type


#: The network of each catalog model.
NETWORKS: dict[str, type[nn.Module]] = {"metst": METST, "metst_plus": METSTPlus}
if set(NETWORKS) != set(MODEL_NAMES):
    raise ImportError(f"model_catalog lists {sorted(MODEL_NAMES)} but the registry has networks for {sorted(NETWORKS)}")
MODELS: dict[str, ModelSpec] = {name: ModelSpec(name, NETWORKS[name], NETWORKS[name].config_class)  # type: ignore[attr-defined]
                                for name in MODEL_NAMES}


def model_names() -> list[str]:
    return sorted(MODEL_NAMES)


def _spec(name: str) -> ModelSpec:
    return MODELS[model_info(name).name]     # model_info: the catalog's "unknown model" error


def default_config(name: str) -> dict[str, Any]:
    """The named model's default hyper-parameters as a plain dict."""
    return dataclasses.asdict(_spec(name).config_class())


def make_config(name: str, **overrides: Any) -> Any:
    """Config dataclass of ``name`` with ``overrides``; unknown keys are an error."""
    spec = _spec(name)
    fields = {f.name for f in dataclasses.fields(spec.config_class)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(f"model {name!r} has no option(s) {unknown}; options: {sorted(fields)}")
    return spec.config_class(**overrides)


def stored_config(name: str, stored: dict[str, Any]) -> Any:
    """Config of a model read back from storage (checkpoint metadata).

    A field the stored config lacks takes the config class's ``STORED_DEFAULTS`` value when it
    has one: the behaviour a model saved before the field existed (or before its default
    changed) was trained with; otherwise the current default. Unknown keys are an error.
    """
    legacy = getattr(_spec(name).config_class, "STORED_DEFAULTS", {})
    return make_config(name, **{**{k: v for k, v in legacy.items() if k not in stored}, **stored})


def set_backend(model: nn.Module, backend: str | None) -> None:
    """Force every Mamba layer of ``model`` onto a backend (None: automatic)."""
    for module in model.modules():
        if isinstance(module, Mamba):
            module.backend = backend


def build_model(name: str, *, seed: int | None = None, backend: str | None = None, **overrides: Any) -> nn.Module:
    """Build a registered model. With ``seed`` the initial weights depend on it alone
    (the global RNG is left as it was)."""
    cfg = make_config(name, **overrides)
    cls = _spec(name).cls
    if seed is None:
        model = cls(cfg)
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = cls(cfg)
    set_backend(model, backend)
    model.model_name = name  # type: ignore[assignment]
    return model


def model_name_of(model: nn.Module) -> str:
    """Registry name of a built model."""
    name = getattr(model, "model_name", None)
    if isinstance(name, str) and name in MODELS:
        return name
    for spec in MODELS.values():
        if type(model) is spec.cls:
            return spec.name
    raise ValueError(f"{type(model).__name__} is not a registered model")
