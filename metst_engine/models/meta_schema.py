"""The checkpoint metadata schema: every field's type and range, checked before anything is built.

A checkpoint is a file from elsewhere, so its metadata is hostile input: ``dim`` 10^9 would
make the model builder allocate terabytes, ``depth`` 10^9 build modules until memory runs
out, ``frame_skip`` 0 divide by zero, an odd window or a negative k' fail deep inside
inference. :func:`check_meta` checks the raw JSON against :data:`FIELDS` (and the model
config against :data:`CONFIG_RANGES`) and lists every problem at once; :func:`check_weights`
then builds the model on PyTorch's ``meta`` device (no memory) and compares its parameter
names, shapes and total count with the tensors in the file, so nothing larger than the file
itself is ever allocated.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any

from metst_engine.alignment import ALIGNMENTS
from metst_engine.models.registry import MODELS, build_model, model_names, stored_config

#: Allowed ranges (inclusive) of the numeric model hyper-parameters, by name.
CONFIG_RANGES: dict[str, tuple[float, float]] = {
    "in_channels": (1, 4096), "n_classes": (1, 256), "dim": (1, 4096), "depth": (1, 64),
    "blocks": (1, 16), "layers_per_block": (1, 32), "d_state": (1, 1024), "d_conv": (1, 64),
    "expand": (1, 16), "drop_path": (0.0, 1.0), "lateral_kernel": (1, 63),
}
#: Integer hyper-parameters that must be odd (kernel sizes), by name.
ODD_OPTIONS: tuple[str, ...] = ("lateral_kernel",)
#: Allowed values of the text hyper-parameters, by name.
CONFIG_CHOICES: dict[str, tuple[str, ...]] = {
    "init": ("public", "mamba"), "slow_input": ("conv", "avgpool"), "upsample": ("nearest", "linear"),
}
MAX_NAME = 200          #: longest ROI set / channel / class name
MAX_LIST = 4096         #: most channel or class names


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _int_in(lo: int, hi: int, *, optional: bool = False, even: bool = False) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        if v is None and optional:
            return None
        if not _is_int(v):
            return f"must be a whole number, got {v!r}"
        if not lo <= v <= hi:
            return f"must be in [{lo}, {hi}], got {v}"
        if even and v % 2:
            return f"must be even, got {v}"
        return None
    return check


def _number_in(lo: float, hi: float, *, optional: bool = False, low_open: bool = False) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        if v is None and optional:
            return None
        if not _is_number(v) or not math.isfinite(v):
            return f"must be a finite number, got {v!r}"
        if not (lo < v if low_open else lo <= v) or not v <= hi:
            return f"must be in {'(' if low_open else '['}{lo:g}, {hi:g}], got {v:g}"
        return None
    return check


def _text(*, optional: bool = False) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        if v is None and optional:
            return None
        if not isinstance(v, str):
            return f"must be text, got {type(v).__name__}"
        if len(v) > MAX_NAME:
            return f"is longer than {MAX_NAME} characters"
        return None
    return check


def _names(v: Any) -> str | None:
    if not isinstance(v, list):
        return f"must be a list of names, got {type(v).__name__}"
    if len(v) > MAX_LIST:
        return f"has more than {MAX_LIST} names"
    bad = [x for x in v if not isinstance(x, str) or not x or len(x) > MAX_NAME]
    if bad:
        return f"must hold non-empty names, got {bad[:3]!r}"
    if len(set(v)) != len(v):
        return "holds a name twice"
    return None


def _metrics(v: Any) -> str | None:
    if not isinstance(v, Mapping):
        return f"must be an object of numbers, got {type(v).__name__}"
    bad = [k for k, x in v.items() if not isinstance(k, str) or not (x is None or _is_number(x))]
    return f"must map names to numbers; bad entries {bad[:3]}" if bad else None


_PROVENANCE: dict[str, Callable[[Any], str | None]] = {
    "dataset": _text(optional=True), "code_version": _text(optional=True),
    "subjects": lambda v: None if isinstance(v, list) and all(isinstance(x, str) for x in v)
    else "must be a list of subject names",
    "epochs": _int_in(0, 10**7, optional=True), "seed": _int_in(-(2**63), 2**63 - 1, optional=True),
}


def _provenance(v: Any) -> str | None:
    if v is None:
        return None
    if not isinstance(v, Mapping):
        return f"must be an object, got {type(v).__name__}"
    unknown = sorted(set(v) - set(_PROVENANCE))
    if unknown:
        return f"has unknown field(s) {unknown}"
    problems = [f"{k} {msg}" for k, check in _PROVENANCE.items() if k in v and (msg := check(v[k]))]
    return "; ".join(problems) or None


#: Every metadata field: a check returning None (fine) or what is wrong.
FIELDS: dict[str, Callable[[Any], str | None]] = {
    "model": _text(),
    "config": lambda v: None if isinstance(v, Mapping) else f"must be an object, got {type(v).__name__}",
    "roi_set": _text(optional=True),
    "alignment": lambda v: None if v is None or v in ALIGNMENTS else f"must be one of {', '.join(ALIGNMENTS)}, got {v!r}",
    "channel_names": _names,
    "window": _int_in(4, 4096, optional=True, even=True),
    "frame_skip": _int_in(1, 1000),
    "fps": _number_in(0.0, 10000.0, optional=True, low_open=True),
    "class_names": _names,
    "k_prime": _int_in(1, 100000, optional=True),
    "threshold_p": _number_in(0.0, 1.0, optional=True),
    "provenance": _provenance,
    "metrics": _metrics,
}


def config_problems(model: str, config: Mapping[str, Any]) -> list[str]:
    """What is wrong with a model name and its hyper-parameters (types from the config class)."""
    if model not in MODELS:
        return [f"cannot rebuild model: unknown model {model!r}; known: {', '.join(model_names())}"]
    fields = {f.name: f for f in dataclasses.fields(MODELS[model].config_class)}
    problems = []
    unknown = sorted(set(config) - set(fields))
    if unknown:
        problems.append(f"cannot rebuild model: model {model!r} has no option(s) {unknown}")
    for name, value in config.items():
        if name not in fields:
            continue
        default = fields[name].default
        where = f"config.{name}"
        if isinstance(default, bool):
            if not isinstance(value, bool):
                problems.append(f"{where} must be true or false, got {value!r}")
        elif isinstance(default, int):
            lo, hi = CONFIG_RANGES.get(name, (0, 10**6))
            if (msg := _int_in(int(lo), int(hi))(value)) is not None:
                problems.append(f"{where} {msg}")
        elif isinstance(default, float):
            lo, hi = CONFIG_RANGES.get(name, (0.0, 1e6))
            if (msg := _number_in(lo, hi)(value)) is not None:
                problems.append(f"{where} {msg}")
        elif isinstance(default, str):
            choices = CONFIG_CHOICES.get(name)
            if not isinstance(value, str) or (choices is not None and value not in choices):
                problems.append(f"{where} must be one of {', '.join(choices or ('text',))}, got {value!r}")
        else:
            problems.append(f"{where} has a type this metst cannot check")
    problems += [f"config.{name} must be odd, got {config[name]}" for name in ODD_OPTIONS
                 if name in fields and isinstance(config.get(name), int) and config[name] % 2 == 0]
    return problems


def check_meta(data: Mapping[str, Any]) -> None:
    """Raise ValueError listing every field of the raw metadata that has a wrong type or range."""
    problems = [f"{name} {msg}" for name, check in FIELDS.items() if name in data and (msg := check(data[name]))]
    if not problems:
        config = data.get("config") or {}
        if data.get("model") or config:
            problems += config_problems(str(data.get("model", "")), config)
        n_in, n_cls = config.get("in_channels"), config.get("n_classes")
        if data.get("channel_names") and _is_int(n_in) and len(data["channel_names"]) != n_in:
            problems.append(f"{len(data['channel_names'])} channel names for a model with {n_in} input channels")
        if data.get("class_names") and _is_int(n_cls) and len(data["class_names"]) != n_cls:
            problems.append(f"{len(data['class_names'])} class names for a model with {n_cls} classes")
    if problems:
        raise ValueError("; ".join(problems))


def weight_problems(model: str, config: Mapping[str, Any], shapes: Mapping[str, tuple[int, ...]]) -> list[str]:
    """Compare the tensors in a file with the model its metadata describes, built on the meta device.

    Checks names, shapes and the total element count before a single real weight is allocated.
    """
    import torch

    with torch.device("meta"):   # a field the stored config lacks: what such a model was built with
        model_nn = build_model(model, **dataclasses.asdict(stored_config(model, dict(config))))
    own = {k: tuple(v.shape) for k, v in model_nn.state_dict().items()}
    expected = sum(math.prod(s) for s in own.values())
    present = sum(math.prod(s) for s in shapes.values())
    problems = []
    if expected != present:
        problems.append(f"the metadata describes {expected:,} parameters, the file holds {present:,}")
    return problems + tensor_set_problems(own, shapes)


def tensor_set_problems(own: Mapping[str, tuple[int, ...]], found: Mapping[str, tuple[int, ...]],
                        prefix: str = "") -> list[str]:
    """Missing, unexpected and mis-shaped tensors of a file (``found``) against a model's (``own``).

    Keys are named with ``prefix`` in front (the file's spelling, e.g. ``module.``); at most
    five of each kind are listed.
    """
    missing = sorted(set(own) - set(found))
    unexpected = sorted(set(found) - set(own))
    wrong = [f"{prefix}{k}: checkpoint {found[k]}, model {own[k]}"
             for k in sorted(set(own) & set(found)) if own[k] != found[k]]
    problems = []
    if missing:
        problems.append(f"missing weights {_first_five(missing, prefix)}")
    if unexpected:
        problems.append(f"unexpected weights {_first_five(unexpected, prefix)}")
    if wrong:
        problems.append("mis-shaped " + "; ".join(wrong[:5]))
    return problems


def _first_five(keys: list[str], prefix: str) -> str:
    return f"{[prefix + k for k in keys[:5]]}" + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")


__all__ = ["CONFIG_CHOICES", "CONFIG_RANGES", "FIELDS", "check_meta", "config_problems", "tensor_set_problems",
           "weight_problems"]
