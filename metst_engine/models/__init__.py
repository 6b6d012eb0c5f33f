"""ME-TST / ME-TST+ networks and their Mamba layers.

Public API::

    build_model(name, *, seed=None, backend=None, **overrides) -> nn.Module
    model(x: (B, C, T)) -> ModelOutput(spot (B, T), recog (B, T, classes + 1))
    save_checkpoint(path, model, meta) / load_checkpoint(path, ...) -> (model, meta)
    import_public_metst(path) -> (model, meta)   (the authors' published .pkl files, all three layouts)
"""

from metst_engine.models.checkpoint import (
    CheckpointMeta,
    Provenance,
    check_compatible,
    checkpoint_bytes,
    import_public_metst,
    load_checkpoint,
    read_checkpoint_meta,
    save_checkpoint,
    write_checkpoint_bytes,
)
from metst_engine.models.layers import ModelOutput
from metst_engine.models.mamba import Mamba, cuda_backend_available, resolve_backend
from metst_engine.models.metst import METST, METSTConfig
from metst_engine.models.metst_plus import METSTPlus, METSTPlusConfig
from metst_engine.models.registry import (
    MODELS,
    build_model,
    default_config,
    model_name_of,
    model_names,
    set_backend,
)

__all__ = [
    "METST",
    "MODELS",
    "CheckpointMeta",
    "METSTConfig",
    "METSTPlus",
    "METSTPlusConfig",
    "Mamba",
    "ModelOutput",
    "Provenance",
    "build_model",
    "check_compatible",
    "checkpoint_bytes",
    "cuda_backend_available",
    "default_config",
    "import_public_metst",
    "load_checkpoint",
    "model_name_of",
    "model_names",
    "read_checkpoint_meta",
    "resolve_backend",
    "save_checkpoint",
    "set_backend",
    "write_checkpoint_bytes",
]
