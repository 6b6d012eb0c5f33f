"""ME-TST: stem + residual Mamba blocks read by a spotting and a recognition head.

Defaults are the authors' public code (2025 ``METST``, ``network.py`` of commit 2704e0c): width
128, one stack of 12 blocks whose output feeds both heads. The paper's two branches with
separate weights are the option ``share_branches=False``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from torch import Tensor, nn

from metst_engine.models.layers import (
    ModelOutput,
    check_input,
    init_weights,
    mamba_stack,
    run_stack,
    stem,
)


@dataclass(frozen=True)
class METSTConfig:
    """ME-TST hyper-parameters (defaults: the authors' 2025 ``METST`` on 5 ROIs x (x, y))."""

    #: Values of fields missing from a stored config (checkpoint metadata written before the
    #: field existed or before its default changed): the behaviour such a model was trained with.
    STORED_DEFAULTS: ClassVar[dict[str, Any]] = {"dim": 64, "share_branches": False}

    in_channels: int = 10
    n_classes: int = 4  # emotions; the network adds one neutral class
    dim: int = 128  # 2025 METST; the 2024 Net_Mamba (and its published weights) use 64
    depth: int = 12  # residual Mamba blocks per branch
    d_state: int = 64
    d_conv: int = 4
    expand: int = 2
    drop_path: float = 0.2  # top of the linear schedule
    drop_path_shifted: bool = True  # public schedule: starts one block late, tops at ~0.18
    share_branches: bool = True  # public forward: both heads read the spotting blocks; False: paper
    init: str = "public"  # public | mamba


class METST(nn.Module):
    """Windows (B, C, T) -> spotting probabilities (B, T), recognition logits (B, T, K+1).

    ``share_branches=True`` (default) is the public code's forward: the recognition head reads
    the spotting blocks (the public classes also build recognition blocks that the forward
    never runs; here there are none, so no dead parameters end up in checkpoints).
    ``share_branches=False`` is the paper: two branches with separate weights.
    """

    config_class = METSTConfig

    def __init__(self, config: METSTConfig | None = None) -> None:
        super().__init__()
        cfg = config or METSTConfig()
        self.config = cfg
        stack_args = (cfg.dim, cfg.depth, cfg.d_state, cfg.d_conv, cfg.expand, cfg.drop_path, cfg.drop_path_shifted)
        self.stem = stem(cfg.in_channels, cfg.dim)
        self.spot_branch = mamba_stack(*stack_args)
        self.recog_branch = None if cfg.share_branches else mamba_stack(*stack_args)
        self.spot_head = nn.Linear(cfg.dim, 1)
        self.recog_head = nn.Linear(cfg.dim, cfg.n_classes + 1)
        init_weights(self, cfg.init)

    def forward(self, x: Tensor) -> ModelOutput:
        check_input(x, self.config.in_channels, "ME-TST")
        feats = self.stem(x).transpose(1, 2)  # (B, T, dim)
        spot_feats = run_stack(self.spot_branch, feats)
        recog_feats = spot_feats if self.recog_branch is None else run_stack(self.recog_branch, feats)
        spot = self.spot_head(spot_feats).squeeze(-1).sigmoid()
        return ModelOutput(spot, self.recog_head(recog_feats))
