"""ME-TST: stem + a spotting and a recognition branch of residual Mamba blocks."""

from __future__ import annotations

from dataclasses import dataclass

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
    """ME-TST hyper-parameters (defaults: the public code on 5 ROIs x (x, y))."""

    in_channels: int = 10
    n_classes: int = 4  # emotions; the network adds one neutral class
    dim: int = 64
    depth: int = 12  # residual Mamba blocks per branch
    d_state: int = 64
    d_conv: int = 4
    expand: int = 2
    drop_path: float = 0.2  # top of the linear schedule
    drop_path_shifted: bool = True  # public schedule: starts one block late, tops at ~0.18
    share_branches: bool = False  # True: the public forward (recognition reads spotting blocks)
    init: str = "public"  # public | mamba


class METST(nn.Module):
    """Windows (B, C, T) -> spotting probabilities (B, T), recognition logits (B, T, K+1).

    The paper gives the two branches separate weights; ``share_branches=True`` reproduces the
    public code, whose recognition head reads the spotting blocks (it then has no
    recognition blocks at all, so no dead parameters end up in checkpoints).
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
