"""The authors' published weight files (zizheng-guo/ME-TST), read without unpickling code.

Their ``train.py`` saves ``torch.save(nn.DataParallel(model).state_dict())`` once per held-out
subject (``weights/<DATASET>_4emo/subject_<id>.pkl``), so every key starts with ``module.``.
Three layouts exist; the names below are facts read from the authors' code, the code
itself is not used:

``net_mamba_2024``  (``Net_Mamba``, ME-TST 2024, width 64)
    ``Stem.{0,1,3,4}`` (Conv1d + BN, twice), ``blocks_spot.N`` and ``blocks_recog.N``
    (``norm1``, ``norm2``, ``attn.norm``, ``attn.mamba.*``), heads ``fc_spot.0`` /
    ``fc_recog.0`` (Sequential). The forward runs ``blocks_spot`` for both heads.
``metst_2025``  (``METST``, ME-TST 2025, width 128)
    ``Stem``, ``spot_pathway.block.N`` and ``recog_pathway.block.N`` (same block keys),
    heads ``fc_spot`` / ``fc_recog``. The forward runs ``spot_pathway`` for both heads.
``metst_sf_2025``  (``METST_SF``, ME-TST+ 2025)
    ``Stem``; per task ``spot_pathway`` / ``recog_pathway``: ``Stem_slow.{0,1}``,
    ``block1..3.N`` (slow, 2C), ``block1_fast..block3_fast.N`` (fast, C),
    ``fuse_1`` / ``fuse_2`` (``conv.{0,1}``: Conv1d C -> 2C stride 2 + BN); heads
    ``fc_spot`` / ``fc_recog`` on 3C.

A block computes ``x + DropPath(norm1(attn.mamba(attn.norm(x))))``; its ``norm2`` is never
used. Here a block's ``norm`` / ``mamba`` / ``post_norm`` are ``attn.norm`` /
``attn.mamba`` / ``norm1``. The tensors the public forward never reads (``norm2``, the
ME-TST recognition blocks) must be present with the right shapes and are dropped; every
other tensor lands in the model, and any missing, extra or mis-shaped tensor refuses the file.

Sizes (input channels, width, depth, blocks, layers per block, laterals, Mamba state size,
convolution width, expansion, classes) are read from the tensor shapes. The model is first
built on the ``meta`` device, so a file cannot make this allocate more than its own tensors.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from metst_engine.errors import CheckpointError
from metst_engine.models.meta_schema import tensor_set_problems
from metst_engine.models.registry import build_model

PREFIX = "module."
WHAT_IS_READ = ("one of the authors' published weight files (zizheng-guo/ME-TST, "
                "weights/<DATASET>_4emo/subject_<id>.pkl: a DataParallel state dict of Net_Mamba 2024, "
                "METST 2025 or METST_SF 2025, saved by their train.py)")

_PART = {"norm": "attn.norm", "mamba": "attn.mamba", "post_norm": "norm1"}
_BLOCK = re.compile(r"(?P<head>.+)\.(?P<part>norm|mamba|post_norm)\.(?P<rest>.+)")


@dataclass(frozen=True)
class PublicLayout:
    """One published layout: the authors' class, the metst model it loads into, and its names."""

    name: str                       #: net_mamba_2024 | metst_2025 | metst_sf_2025
    authors_class: str              #: Net_Mamba | METST | METST_SF
    release: str                    #: 2024 | 2025
    model: str                      #: metst | metst_plus
    marker: str                     #: a key prefix only this layout has (after ``module.``)
    epochs: int                     #: how the release's main.py trained it
    lr: float                       #: its max learning rate (one-cycle)


LAYOUTS: dict[str, PublicLayout] = {
    layout.name: layout for layout in (
        PublicLayout("net_mamba_2024", "Net_Mamba", "2024", "metst", "blocks_spot.", 30, 1e-4),
        PublicLayout("metst_2025", "METST", "2025", "metst", "spot_pathway.block.", 50, 3e-4),
        PublicLayout("metst_sf_2025", "METST_SF", "2025", "metst_plus", "spot_pathway.Stem_slow.", 50, 3e-4),
    )
}


@dataclass(frozen=True)
class AuthorsRun:
    """The authors' per-dataset settings (main.py of both releases)."""

    key: str                        #: their dataset_name, prefix of the weights folder (CASME_3_4emo)
    dataset: str                    #: metst's name of the dataset
    window: int                     #: k, frames after the skip
    skip: int                       #: frame skip
    batch: int
    ratio: float                    #: ME-free windows kept per ME window


AUTHORS_RUNS: dict[str, AuthorsRun] = {
    run.key: run for run in (
        AuthorsRun("CASME_3", "CAS(ME)^3", window=50, skip=1, batch=256, ratio=4.0),
        AuthorsRun("SAMMLV", "SAMM-LV", window=30, skip=7, batch=32, ratio=0.5),
    )
}
_RUN_ALIASES = {"casme3": "CASME_3", "casme_3": "CASME_3", "cas(me)^3": "CASME_3", "cas(me)3": "CASME_3",
                "sammlv": "SAMMLV", "samm_lv": "SAMMLV", "samm-lv": "SAMMLV", "samm": "SAMMLV"}


def authors_run(name: str) -> AuthorsRun | None:
    """The authors' settings for a dataset name (casme3, samm_lv, CAS(ME)^3, ...) or a weights
    folder name (CASME_3_4emo, SAMMLV_4emo); None when it names neither."""
    low = name.strip().lower()
    if low in _RUN_ALIASES:
        return AUTHORS_RUNS[_RUN_ALIASES[low]]
    for run in AUTHORS_RUNS.values():
        if re.fullmatch(rf"{re.escape(run.key.lower())}_\d+emo(_.*)?", low):
            return run
    return None


def authors_run_names() -> list[str]:
    return ["casme3", "samm_lv"]


@dataclass
class PublicWeights:
    """A published weight file, loaded: the model (eval mode) and what it was read as."""

    model: nn.Module
    layout: PublicLayout
    path: Path
    overrides: dict[str, Any]       #: the config values read from the tensor shapes


def _refuse(path: Path, problem: str) -> CheckpointError:
    return CheckpointError(path, f"refused: {problem}. Expected {WHAT_IS_READ}")


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The file's tensors with the ``module.`` prefix removed.

    ``torch.load(weights_only=True)``: its restricted unpickler builds tensors and plain
    containers only, so a pickle that would run code is refused without running it.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "no such weight file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure of the restricted loader means: not a plain state dict
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise _refuse(path, f"not a plain tensor state dict ({type(exc).__name__}: {first[:300]})") from None
    if not isinstance(obj, Mapping) or not obj:
        raise _refuse(path, f"found a {type(obj).__name__}, not a non-empty mapping of names to tensors")
    bad = [k for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise _refuse(path, f"entries that are not name -> tensor: {[str(k)[:80] for k in bad[:5]]}")
    no_prefix = [k for k in obj if not k.startswith(PREFIX)]
    if no_prefix:
        raise _refuse(path, f"keys without the DataParallel '{PREFIX}' prefix: {no_prefix[:5]}")
    return {k[len(PREFIX):]: v for k, v in obj.items()}


def detect_layout(state: Mapping[str, torch.Tensor], path: Path) -> PublicLayout:
    found = [lay for lay in LAYOUTS.values() if any(k.startswith(lay.marker) for k in state)]
    if len(found) != 1:
        sample = sorted({k.split(".")[0] for k in state})[:8]
        what = "keys of several layouts" if found else "none of the three layouts' keys"
        raise _refuse(path, f"{what} (top-level names found: {sample})")
    return found[0]


# --------------------------------------------------------------------------------------
# Sizes from the tensors
# --------------------------------------------------------------------------------------


def _tensor(state: Mapping[str, torch.Tensor], key: str, ndim: int, path: Path, layout: PublicLayout) -> torch.Tensor:
    t = state.get(key)
    if t is None:
        raise _refuse(path, f"a {layout.authors_class} file needs '{PREFIX}{key}', which is missing")
    if t.ndim != ndim or t.numel() == 0:
        raise _refuse(path, f"'{PREFIX}{key}' has shape {tuple(t.shape)}, expected a non-empty {ndim}-d tensor")
    return t


def _indices(state: Mapping[str, torch.Tensor], pattern: str, path: Path, what: str) -> int:
    """Count of 0..n-1 (or 1..n) indices captured by ``pattern``; gaps are refused."""
    rx = re.compile(pattern)
    found = sorted({int(m.group(1)) for k in state if (m := rx.match(k))})
    if not found:
        return 0
    start = found[0]
    if start not in (0, 1) or found != list(range(start, start + len(found))):
        raise _refuse(path, f"{what} are numbered {found[:10]}{' ...' if len(found) > 10 else ''}, not consecutively")
    return len(found)


def _mamba_sizes(state: Mapping[str, torch.Tensor], block: str, dim: int, path: Path,
                 layout: PublicLayout) -> dict[str, int]:
    a_log = _tensor(state, f"{block}.attn.mamba.A_log", 2, path, layout)
    conv = _tensor(state, f"{block}.attn.mamba.conv1d.weight", 3, path, layout)
    d_inner, d_state = (int(s) for s in a_log.shape)
    if d_inner % dim:
        raise _refuse(path, f"'{PREFIX}{block}.attn.mamba.A_log' has {d_inner} rows, not a multiple of the width {dim}")
    return {"d_state": d_state, "d_conv": int(conv.shape[2]), "expand": d_inner // dim}


def infer_overrides(layout: PublicLayout, state: Mapping[str, torch.Tensor], path: Path) -> dict[str, Any]:
    """The metst config values that reproduce the file's architecture."""
    stem = _tensor(state, "Stem.0.weight", 3, path, layout)
    dim, in_channels = int(stem.shape[0]), int(stem.shape[1])
    head = "fc_recog.0.weight" if layout.name == "net_mamba_2024" else "fc_recog.weight"
    n_out = int(_tensor(state, head, 2, path, layout).shape[0])
    if not 2 <= n_out <= 5:
        raise _refuse(path, f"the recognition head has {n_out} outputs; the published ones have 5 "
                            f"(negative, positive, surprise, others, neutral), at least 2 are needed")
    common = {"in_channels": in_channels, "dim": dim, "n_classes": n_out - 1}
    if layout.model == "metst":
        blocks = "blocks_spot" if layout.name == "net_mamba_2024" else "spot_pathway.block"
        depth = _indices(state, rf"{re.escape(blocks)}\.(\d+)\.", path, "the spotting blocks")
        if depth == 0 or f"{blocks}.0.norm1.weight" not in state:
            raise _refuse(path, f"no '{PREFIX}{blocks}.0...' blocks")
        return {**common, "depth": depth, "share_branches": True,
                **_mamba_sizes(state, f"{blocks}.0", dim, path, layout)}
    n_blocks = _indices(state, r"spot_pathway\.block(\d+)\.", path, "the slow blocks")
    layers = _indices(state, r"spot_pathway\.block1\.(\d+)\.", path, "the layers of block1")
    n_fuse = _indices(state, r"spot_pathway\.fuse_(\d+)\.", path, "the lateral connections")
    if n_blocks == 0 or layers == 0:
        raise _refuse(path, "no 'spot_pathway.block1.0...' layers")
    if n_fuse not in (n_blocks - 1, n_blocks):
        raise _refuse(path, f"{n_fuse} lateral connections (fuse_N) for {n_blocks} blocks; "
                            f"expected {n_blocks - 1} (public code) or {n_blocks} (one after every block)")
    out = {**common, "blocks": n_blocks, "layers_per_block": layers, "lateral_after_last": n_fuse == n_blocks,
           "shared_trunk": False, "slow_input": "conv", "upsample": "nearest",
           **_mamba_sizes(state, "spot_pathway.block1_fast.0", dim, path, layout)}
    if n_fuse:
        out["lateral_kernel"] = int(_tensor(state, "spot_pathway.fuse_1.conv.0.weight", 3, path, layout).shape[2])
    return out


# --------------------------------------------------------------------------------------
# Names: this package's -> the published ones
# --------------------------------------------------------------------------------------


def _block_name(head: str, part: str, rest: str) -> str:
    return f"{head}.{_PART[part]}.{rest}"


def _metst_name(key: str, layout: PublicLayout) -> str:
    blocks = "blocks_spot" if layout.name == "net_mamba_2024" else "spot_pathway.block"
    heads = ".0" if layout.name == "net_mamba_2024" else ""
    if key.startswith("stem."):
        return "Stem." + key[len("stem."):]
    for ours, theirs in (("spot_head.", "fc_spot"), ("recog_head.", "fc_recog")):
        if key.startswith(ours):
            return f"{theirs}{heads}.{key[len(ours):]}"
    m = re.fullmatch(r"spot_branch\.(\d+)\.(norm|mamba|post_norm)\.(.+)", key)
    if m:
        return _block_name(f"{blocks}.{m[1]}", m[2], m[3])
    raise ValueError(key)


def _metst_plus_name(key: str, layout: PublicLayout) -> str:
    if key.startswith("stem."):
        return "Stem." + key[len("stem."):]
    for ours, theirs in (("spot_head.", "fc_spot."), ("recog_head.", "fc_recog.")):
        if key.startswith(ours):
            return theirs + key[len(ours):]
    m = re.fullmatch(r"(spot|recog)_trunk\.(.+)", key)
    if m:
        path, rest = f"{m[1]}_pathway", m[2]
        if rest.startswith("slow_in."):
            return f"{path}.Stem_slow.{rest[len('slow_in.'):]}"
        lat = re.fullmatch(r"laterals\.(\d+)\.(.+)", rest)
        if lat:
            return f"{path}.fuse_{int(lat[1]) + 1}.conv.{lat[2]}"
        blk = re.fullmatch(r"(slow|fast)_blocks\.(\d+)\.(\d+)\.(norm|mamba|post_norm)\.(.+)", rest)
        if blk:
            suffix = "_fast" if blk[1] == "fast" else ""
            return _block_name(f"{path}.block{int(blk[2]) + 1}{suffix}.{blk[3]}", blk[4], blk[5])
    raise ValueError(key)


def published_keys(model: nn.Module, layout: PublicLayout) -> dict[str, tuple[str | None, tuple[int, ...]]]:
    """Every key of the published file for ``model``'s sizes -> (this package's key, or None
    for a tensor the public forward never reads; its shape)."""
    name: Callable[[str, PublicLayout], str] = _metst_name if layout.model == "metst" else _metst_plus_name
    out: dict[str, tuple[str | None, tuple[int, ...]]] = {}
    for key, value in model.state_dict().items():
        theirs = name(key, layout)
        out[theirs] = (key, tuple(value.shape))
        if key.endswith(".post_norm.weight") or key.endswith(".post_norm.bias"):
            out[theirs.replace(".norm1.", ".norm2.")] = (None, tuple(value.shape))   # built, never used
    if layout.model == "metst":   # the recognition blocks the public forward never runs
        spot, recog = (("blocks_spot.", "blocks_recog.") if layout.name == "net_mamba_2024"
                       else ("spot_pathway.", "recog_pathway."))
        for theirs, (_, shape) in list(out.items()):
            if theirs.startswith(spot):
                out[recog + theirs[len(spot):]] = (None, shape)
    return out


# --------------------------------------------------------------------------------------
# Read
# --------------------------------------------------------------------------------------


def _check_values(state: Mapping[str, torch.Tensor], path: Path) -> None:
    problems = []
    for key, t in state.items():
        if t.layout != torch.strided or t.is_complex() or t.is_quantized:
            problems.append(f"{PREFIX}{key}: a {t.layout} / {t.dtype} tensor")
        elif key.endswith("num_batches_tracked"):
            if t.is_floating_point() or t.dtype == torch.bool:
                problems.append(f"{PREFIX}{key}: {t.dtype}, expected an integer counter")
        elif not t.is_floating_point():
            problems.append(f"{PREFIX}{key}: {t.dtype}, expected floating point")
        elif not bool(torch.isfinite(t).all()):
            problems.append(f"{PREFIX}{key}: holds NaN or infinite values")
        if len(problems) >= 5:
            break
    if problems:
        raise _refuse(path, "unusable tensor(s): " + "; ".join(problems))


def read_public_weights(path: str | Path, *, backend: str | None = None) -> PublicWeights:
    """Load a published weight file into the metst model that computes the public forward.

    Raises ``CheckpointError`` (message starting with "refused:") for anything that is not
    exactly one of the three published layouts.
    """
    path = Path(path)
    state = read_state_dict(path)
    layout = detect_layout(state, path)
    overrides = infer_overrides(layout, state, path)
    try:
        with torch.device("meta"):      # shapes only: nothing is allocated until the file matches
            skeleton = build_model(layout.model, **overrides)
    except ValueError as exc:
        raise _refuse(path, f"its sizes give no valid {layout.model} model ({exc})") from None
    expected = published_keys(skeleton, layout)
    problems = tensor_set_problems({k: shape for k, (_, shape) in expected.items()},
                                   {k: tuple(v.shape) for k, v in state.items()}, prefix=PREFIX)
    if problems:
        raise _refuse(path, f"read as {layout.authors_class} ({layout.release}) with {overrides}, but "
                            + "; ".join(problems))
    _check_values(state, path)
    ours = {expected[k][0]: (v.float() if v.is_floating_point() else v)
            for k, v in state.items() if expected[k][0] is not None}
    model = build_model(layout.model, seed=0, backend=backend, **overrides)   # seed: leave the global RNG alone
    model.load_state_dict(ours, strict=True)
    model.eval()
    return PublicWeights(model, layout, path, overrides)


__all__ = ["AUTHORS_RUNS", "LAYOUTS", "AuthorsRun", "authors_run", "authors_run_names", "PublicLayout", "PublicWeights", "detect_layout", "infer_overrides", "published_keys",
           "read_public_weights", "read_state_dict"]
