"""ME-TST+: shared stem, then per task a slow-fast network of Mamba blocks.

Defaults are the authors' ``METST_SF`` (``network_sf.py`` of commit 2704e0c): laterals after
blocks 1 and 2 only, per-task pathways, nearest up-sampling, the public initialisation.
Choices where the paper differs or leaves room are fields of ``METSTPlusConfig`` (documented
in docs/models.md): how the slow input is made, the lateral kernel, whether a lateral follows
the last block (the paper's text), how T/2 returns to T, and whether the two tasks share one trunk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from metst_engine.models.layers import (
    ModelOutput,
    check_input,
    conv_bn_relu,
    init_weights,
    mamba_stack,
    run_stack,
    stem,
)

SLOW_INPUTS = ("conv", "avgpool")
UPSAMPLES = ("nearest", "linear")


@dataclass(frozen=True)
class METSTPlusConfig:
    """ME-TST+ hyper-parameters; the defaults are the authors' public ``METST_SF``."""

    #: Values of fields missing from a stored config (checkpoint metadata written before the
    #: field existed or before its default changed): the behaviour such a model was trained with.
    STORED_DEFAULTS: ClassVar[dict[str, Any]] = {"lateral_after_last": True}

    in_channels: int = 36  # 18 ROIs x (x, y)
    n_classes: int = 4
    dim: int = 128  # C; the slow path runs at 2C, the heads read C + 2C = 384
    blocks: int = 3  # Mamba blocks per path
    layers_per_block: int = 4  # Mamba layers per block
    d_state: int = 64
    d_conv: int = 4
    expand: int = 2
    drop_path: float = 0.2  # per block of 4 layers, linear, shifted as in the public code: 0, 0, .067, .133
    drop_path_shifted: bool = True
    slow_input: str = "conv"  # conv: Conv1d(C->2C, k3, stride 2)+BN+ReLU; avgpool: pool 2 + 1x1 conv
    lateral_kernel: int = 3  # X_slow += ReLU(BN(Conv1d(C->2C, k, stride 2)(X_fast)))
    lateral_after_last: bool = False  # public code: after blocks 1..n-1 only; True: paper (after each block)
    upsample: str = "nearest"  # T/2 -> T: nearest (repeat each step, crop) or linear
    shared_trunk: bool = False  # False: each task has its own slow-fast network
    init: str = "public"  # public | mamba


class SlowFast(nn.Module):
    """Fast path C x T and slow path 2C x ceil(T/2) with fast-to-slow lateral convolutions."""

    def __init__(self, cfg: METSTPlusConfig) -> None:
        super().__init__()
        c = cfg.dim
        if cfg.lateral_kernel < 1 or cfg.lateral_kernel % 2 == 0:
            raise ValueError(f"lateral_kernel must be odd and positive, got {cfg.lateral_kernel}")
        if cfg.slow_input == "conv":
            self.slow_in = nn.Sequential(*conv_bn_relu(c, 2 * c, 3, stride=2))
        elif cfg.slow_input == "avgpool":
            self.slow_in = nn.Sequential(
                nn.AvgPool1d(2, stride=2, ceil_mode=True, count_include_pad=False),
                *conv_bn_relu(c, 2 * c, 1),
            )
        else:
            raise ValueError(f"unknown slow_input {cfg.slow_input!r}; expected one of {SLOW_INPUTS}")
        if cfg.upsample not in UPSAMPLES:
            raise ValueError(f"unknown upsample {cfg.upsample!r}; expected one of {UPSAMPLES}")
        self.upsample = cfg.upsample

        def stacks(dim: int) -> nn.ModuleList:
            return nn.ModuleList(
                mamba_stack(dim, cfg.layers_per_block, cfg.d_state, cfg.d_conv, cfg.expand,
                            cfg.drop_path, cfg.drop_path_shifted)
                for _ in range(cfg.blocks)
            )

        self.fast_blocks = stacks(c)
        self.slow_blocks = stacks(2 * c)
        n_lat = cfg.blocks if cfg.lateral_after_last else cfg.blocks - 1
        self.laterals = nn.ModuleList(
            nn.Sequential(*conv_bn_relu(c, 2 * c, cfg.lateral_kernel, stride=2)) for _ in range(n_lat)
        )

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, C, T) -> (B, T, 3C)."""
        length = x.shape[-1]
        fast = x.transpose(1, 2)  # (B, T, C)
        slow = self.slow_in(x).transpose(1, 2)  # (B, ceil(T/2), 2C)
        for i, (fast_stack, slow_stack) in enumerate(zip(self.fast_blocks, self.slow_blocks)):
            fast = run_stack(fast_stack, fast)
            slow = run_stack(slow_stack, slow)
            if i < len(self.laterals):
                slow = slow + self.laterals[i](fast.transpose(1, 2)).transpose(1, 2)
        if self.upsample == "nearest":
            slow = slow.repeat_interleave(2, dim=1)[:, :length]
        else:
            slow = F.interpolate(slow.transpose(1, 2), size=length, mode="linear", align_corners=False)
            slow = slow.transpose(1, 2)
        return torch.cat((slow, fast), dim=-1)


class METSTPlus(nn.Module):
    """Windows (B, 36, T) -> spotting probabilities (B, T), recognition logits (B, T, K+1)."""

    config_class = METSTPlusConfig

    def __init__(self, config: METSTPlusConfig | None = None) -> None:
        super().__init__()
        cfg = config or METSTPlusConfig()
        self.config = cfg
        self.stem = stem(cfg.in_channels, cfg.dim)  # shared: feature-level synergy
        self.spot_trunk = SlowFast(cfg)
        self.recog_trunk = None if cfg.shared_trunk else SlowFast(cfg)
        self.spot_head = nn.Linear(3 * cfg.dim, 1)
        self.recog_head = nn.Linear(3 * cfg.dim, cfg.n_classes + 1)
        init_weights(self, cfg.init)

    def forward(self, x: Tensor) -> ModelOutput:
        check_input(x, self.config.in_channels, "ME-TST+")
        feats = self.stem(x)
        spot_feats = self.spot_trunk(feats)
        recog_feats = spot_feats if self.recog_trunk is None else self.recog_trunk(feats)
        spot = self.spot_head(spot_feats).squeeze(-1).sigmoid()
        return ModelOutput(spot, self.recog_head(recog_feats))
