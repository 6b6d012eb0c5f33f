"""Safe checkpoints: safetensors weights plus one JSON metadata block.

Loading never unpickles. The only pickle-based format read is the authors' published weight
files (``torch.save`` of a DataParallel state dict), and those go through
``torch.load(weights_only=True)`` and a strict key map (``public_weights``); anything else is refused.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from metst_engine.atomic import atomic_path
from metst_engine.datasets.public import CASME3_FPS, SAMMLV_FPS
from metst_engine.errors import CheckpointError
from metst_engine.intervals import EMOTIONS
from metst_engine.models.meta_schema import (
    check_meta,
    tensor_set_problems,
    weight_problems,
)
from metst_engine.models.public_weights import authors_run, read_public_weights
from metst_engine.models.registry import build_model, model_name_of, stored_config
from metst_engine.postprocess import THRESHOLD_P

FORMAT = "metst-checkpoint"
FORMAT_VERSION = 1
META_KEY = "metst"


@dataclass
class Provenance:
    """Where the weights came from."""

    dataset: str | None = None
    subjects: list[str] = field(default_factory=list)  # training subjects
    epochs: int | None = None
    seed: int | None = None
    code_version: str | None = None


@dataclass
class CheckpointMeta:
    """Everything needed to use a checkpoint on new data, stored next to the weights.

    ``class_names`` are the emotion classes in head order; the head has one more output,
    neutral, last. ``k_prime`` (half the mean ME length) is in frames after the frame skip.
    ``model`` and ``config`` are filled in from the model by ``save_checkpoint``.
    """

    model: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    roi_set: str | None = None
    #: feature alignment the model was trained on (features.ALIGNMENTS); None in
    #: checkpoints written before the field existed, whose features were "improved"
    alignment: str | None = None
    channel_names: list[str] = field(default_factory=list)
    window: int | None = None  # k, in frames after the frame skip
    frame_skip: int = 1
    fps: float | None = None  # of the source video, before the frame skip
    class_names: list[str] = field(default_factory=list)
    k_prime: int | None = None
    threshold_p: float | None = None
    provenance: Provenance = field(default_factory=Provenance)
    metrics: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> str:
        payload = {"format": FORMAT, "format_version": FORMAT_VERSION, **dataclasses.asdict(self)}
        return json.dumps(payload, sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CheckpointMeta:
        data = dict(data)
        data.pop("format", None)
        data.pop("format_version", None)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown metadata field(s) {unknown}")
        prov = data.pop("provenance", None) or {}
        if not isinstance(prov, Mapping):
            raise ValueError("provenance must be an object")
        return cls(provenance=Provenance(**prov), **data)


# --------------------------------------------------------------------------------------
# Save
# --------------------------------------------------------------------------------------


def _meta_for(model: nn.Module, meta: CheckpointMeta | Mapping[str, Any] | None) -> CheckpointMeta:
    if meta is None:
        meta = CheckpointMeta()
    elif not isinstance(meta, CheckpointMeta):
        meta = CheckpointMeta.from_dict(meta)
    name = model_name_of(model)
    cfg = dataclasses.asdict(model.config)  # type: ignore[arg-type]
    if meta.model and meta.model != name:
        raise ValueError(f"metadata names model {meta.model!r} but the model is {name!r}")
    meta = dataclasses.replace(meta, model=name, config=cfg)
    n_classes = cfg.get("n_classes")
    if meta.class_names and n_classes is not None and len(meta.class_names) != n_classes:
        raise ValueError(f"{len(meta.class_names)} class names for a model with {n_classes} classes")
    n_in = cfg.get("in_channels")
    if meta.channel_names and n_in is not None and len(meta.channel_names) != n_in:
        raise ValueError(f"{len(meta.channel_names)} channel names for a model with {n_in} input channels")
    return meta


def checkpoint_bytes(model: nn.Module, meta: CheckpointMeta | Mapping[str, Any] | None = None) -> tuple[bytes, CheckpointMeta]:
    """The checkpoint file's contents (weights on CPU, ``meta``), for a worker to hand to the
    process that writes it."""
    from safetensors.torch import save

    meta = _meta_for(model, meta)
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    return save(tensors, metadata={META_KEY: meta.to_json()}), meta


def write_checkpoint_bytes(path: str | Path, data: bytes) -> Path:
    """Write checkpoint contents made by :func:`checkpoint_bytes` to ``path`` atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


def save_checkpoint(path: str | Path, model: nn.Module, meta: CheckpointMeta | Mapping[str, Any] | None = None) -> CheckpointMeta:
    """Write ``model``'s weights (float32, CPU) and ``meta`` to ``path`` atomically."""
    data, meta = checkpoint_bytes(model, meta)
    write_checkpoint_bytes(path, data)
    return meta


# --------------------------------------------------------------------------------------
# Load
# --------------------------------------------------------------------------------------


def _looks_like_pickle(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError:
        return False
    return head[:2] == b"PK" or head[:1] == b"\x80"


def read_checkpoint_meta(path: str | Path) -> CheckpointMeta:
    """Read only the metadata block (cheap: the safetensors header)."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "no such checkpoint file")
    try:
        with safe_open(str(path), framework="pt") as fh:
            header = fh.metadata() or {}
    except Exception as exc:  # any parse failure means a bad file
        hint = (
            " (it looks like a pickle/torch.save file; public ME-TST weights are read with"
            " import_public_metst)" if _looks_like_pickle(path) else ""
        )
        raise CheckpointError(path, f"not a safetensors checkpoint{hint}: {exc}") from None
    raw = header.get(META_KEY)
    if raw is None:
        raise CheckpointError(path, f"safetensors file without the '{META_KEY}' metadata block")
    try:
        data = json.loads(raw)
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"format is not {FORMAT!r}")
        if int(data.get("format_version", -1)) > FORMAT_VERSION:
            raise ValueError(f"format version {data['format_version']} is newer than this program's {FORMAT_VERSION}")
        check_meta(data)    # every field's type and range, before anything uses them
        return CheckpointMeta.from_dict(data)
    except (ValueError, TypeError, OverflowError) as exc:
        raise CheckpointError(path, f"bad metadata: {exc}; this file cannot be used (train it again or ask "
                                    "its author for an intact copy)") from None


def _as_names(given: int | Sequence[str] | None) -> tuple[int | None, list[str] | None]:
    if given is None:
        return None, None
    if isinstance(given, int):
        return given, None
    names = list(given)
    return len(names), names


def check_compatible(
    meta: CheckpointMeta,
    path: str | Path | None = None,
    *,
    channels: int | Sequence[str] | None = None,
    classes: int | Sequence[str] | None = None,
    window: int | None = None,
) -> None:
    """Raise one ``CheckpointError`` listing every way the data does not fit the checkpoint."""
    problems: list[str] = []
    n_in = meta.config.get("in_channels")
    n, names = _as_names(channels)
    if n is not None and n_in is not None and n != n_in:
        problems.append(f"channels: checkpoint expects {n_in}, given {n}")
    elif names is not None and meta.channel_names and names != meta.channel_names:
        diff = [f"{i}: {a!r} != {b!r}" for i, (a, b) in enumerate(zip(meta.channel_names, names)) if a != b]
        problems.append(f"channel names differ (checkpoint vs given) at {'; '.join(diff[:5])}")
    n_cls = meta.config.get("n_classes")
    n, names = _as_names(classes)
    if n is not None and n_cls is not None and n != n_cls:
        problems.append(f"classes: checkpoint expects {n_cls} {meta.class_names or ''}, given {n} {names or ''}".rstrip())
    elif names is not None and meta.class_names and names != meta.class_names:
        problems.append(f"class names: checkpoint expects {meta.class_names}, given {names}")
    if window is not None and meta.window is not None and window != meta.window:
        problems.append(f"window: checkpoint expects k={meta.window}, given k={window}")
    if problems:
        raise CheckpointError(path, "checkpoint does not fit the data: " + "; ".join(problems))


def load_checkpoint(
    path: str | Path,
    *,
    channels: int | Sequence[str] | None = None,
    classes: int | Sequence[str] | None = None,
    window: int | None = None,
    device: str | torch.device = "cpu",
    backend: str | None = None,
) -> tuple[nn.Module, CheckpointMeta]:
    """Rebuild the model from its metadata, load the weights, return (model in eval mode, meta).

    ``channels``, ``classes`` and ``window`` describe the data it will be used on; a mismatch
    raises ``CheckpointError`` naming what the checkpoint expects and what was given.
    """
    from safetensors.torch import load_file

    path = Path(path)
    meta = read_checkpoint_meta(path)
    check_compatible(meta, path, channels=channels, classes=classes, window=window)
    check_weights_fit(meta, path)
    try:
        config = dataclasses.asdict(stored_config(meta.model, dict(meta.config)))
        model = build_model(meta.model, backend=backend, **config)
    except (ValueError, TypeError) as exc:
        raise CheckpointError(path, f"cannot rebuild model: {exc}") from None
    meta = dataclasses.replace(meta, config=config)   # missing fields filled in: what was built
    try:
        state = load_file(str(path), device="cpu")
    except Exception as exc:
        raise CheckpointError(path, f"unreadable weights: {exc}") from None
    _load_strict(model, state, path)
    model.to(device)
    model.eval()
    return model, meta


def check_weights_fit(meta: CheckpointMeta, path: Path) -> None:
    """The tensors in the file against the model the metadata describes, before any real build."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            shapes = {k: tuple(fh.get_slice(k).get_shape()) for k in fh.keys()}
        problems = weight_problems(meta.model, meta.config, shapes)
    except (ValueError, TypeError) as exc:
        raise CheckpointError(path, f"cannot rebuild model: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - a damaged file raises many types
        raise CheckpointError(path, f"unreadable weights: {exc}") from None
    if problems:
        raise CheckpointError(path, "weights do not match the model in the metadata: " + "; ".join(problems))


def _load_strict(model: nn.Module, state: Mapping[str, torch.Tensor], path: Path) -> None:
    own = model.state_dict()
    problems = tensor_set_problems({k: tuple(v.shape) for k, v in own.items()},
                                   {k: tuple(v.shape) for k, v in state.items()})
    if problems:
        raise CheckpointError(path, "weights do not match the model in the metadata: " + "; ".join(problems))
    model.load_state_dict(state, strict=True)


# --------------------------------------------------------------------------------------
# Public ME-TST weights (layouts and tensor checks: models/public_weights.py)
# --------------------------------------------------------------------------------------


def import_public_metst(
    path: str | Path, *, backend: str | None = None, dataset: str | None = None, k_prime: int | None = None,
) -> tuple[nn.Module, CheckpointMeta]:
    """Read one of the authors' published weight files (any of their three layouts).

    Read with ``torch.load(weights_only=True)``, never unpickling code; the layout
    (2024 ``Net_Mamba``, 2025 ``METST``, 2025 ``METST_SF``) and every size come from the
    tensors, and anything that is not exactly such a file is refused (``CheckpointError``).
    The model computes the public forward (ME-TST: ``share_branches=True``; ME-TST+: laterals
    after blocks 1 and 2). ``dataset`` (casme3, samm_lv, or a weights folder name; default:
    the file's folder, e.g. ``CASME_3_4emo``) fills in the authors' window, skip and fps;
    ``k_prime`` the k' the weights are used with (the authors compute it from the dataset's
    labels). Save the result with ``save_checkpoint`` to get a safe checkpoint.
    """
    from metst_engine.rois import load_roi_set  # lazy: cv2

    path = Path(path)
    run = authors_run(dataset) if dataset else authors_run(path.parent.name)
    if dataset and run is None:
        raise CheckpointError(path, f"unknown dataset {dataset!r} for published weights; give casme3 or samm_lv")
    pub = read_public_weights(path, backend=backend)
    cfg = pub.model.config  # type: ignore[attr-defined]
    roi_set = pub.layout.model   # the ROI set of the same name: metst (5 ROIs) / metst_plus (18 ROIs)
    channels = load_roi_set(roi_set).channel_names
    if len(channels) != cfg.in_channels:
        raise CheckpointError(path, f"refused: the network reads {cfg.in_channels} input channels, the "
                                    f"'{roi_set}' ROI set gives {len(channels)}")
    fps = None
    if run is not None:
        fps = {"CASME_3": CASME3_FPS, "SAMMLV": SAMMLV_FPS}[run.key]
    meta = CheckpointMeta(
        roi_set=roi_set, alignment="public", channel_names=channels, window=run.window if run else None,
        frame_skip=run.skip if run else 1, fps=fps, class_names=list(EMOTIONS[:cfg.n_classes]), k_prime=k_prime,
        threshold_p=THRESHOLD_P,
        provenance=Provenance(
            dataset=run.dataset if run else None, epochs=pub.layout.epochs,
            code_version=f"zizheng-guo/ME-TST {pub.layout.release} {pub.layout.authors_class}: "
                         f"{path.parent.name}/{path.name}"))
    return pub.model, _meta_for(pub.model, meta)
