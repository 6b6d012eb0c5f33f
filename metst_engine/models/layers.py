"""Building blocks shared by ME-TST and ME-TST+: stem, residual Mamba blocks, drop path, init."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn

from metst_engine.models.mamba import Mamba

INITS = ("public", "mamba")


class ModelOutput(NamedTuple):
    """Per-frame outputs of a window: spotting probabilities and recognition logits."""

    spot: Tensor  # (B, T), sigmoid probabilities
    recog: Tensor  # (B, T, classes + 1), logits; last class = neutral


class DropPath(nn.Module):
    """Stochastic depth: drop the whole residual branch per sample while training."""

    def __init__(self, rate: float = 0.0) -> None:
        super().__init__()
        self.rate = float(rate)

    def forward(self, x: Tensor) -> Tensor:
        if self.rate <= 0.0 or not self.training:
            return x
        keep = 1.0 - self.rate
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"rate={self.rate:.4f}"


def drop_path_rates(n: int, max_rate: float, shifted: bool = True) -> list[float]:
    """Linear stochastic-depth schedule. ``shifted`` reproduces the public code, which
    prepends a zero and so never reaches ``max_rate`` (12 blocks, 0.2 -> last is 0.18)."""
    rates = [max_rate * i / (n - 1) if n > 1 else 0.0 for i in range(n)]
    return ([0.0] + rates)[:n] if shifted else rates


class ResidualMambaBlock(nn.Module):
    """x + DropPath(post_norm(Mamba(norm(x)))) on (B, T, C) tokens (the public block)."""

    def __init__(self, dim: int, d_state: int, d_conv: int, expand: int, drop_path: float = 0.0) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.mamba = Mamba(dim, d_state=d_state, d_conv=d_conv, expand=expand)
        self.post_norm = nn.LayerNorm(dim)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.drop_path(self.post_norm(self.mamba(self.norm(x))))


def mamba_stack(
    dim: int, depth: int, d_state: int, d_conv: int, expand: int, max_drop: float, shifted: bool
) -> nn.ModuleList:
    """``depth`` residual Mamba blocks with a linear drop-path schedule."""
    rates = drop_path_rates(depth, max_drop, shifted)
    return nn.ModuleList(ResidualMambaBlock(dim, d_state, d_conv, expand, r) for r in rates)


def run_stack(stack: nn.ModuleList, x: Tensor) -> Tensor:
    for block in stack:
        x = block(x)
    return x


def conv_bn_relu(c_in: int, c_out: int, kernel: int = 3, stride: int = 1) -> list[nn.Module]:
    return [
        nn.Conv1d(c_in, c_out, kernel, stride=stride, padding=kernel // 2),
        nn.BatchNorm1d(c_out),
        nn.ReLU(),
    ]


def stem(c_in: int, dim: int) -> nn.Sequential:
    """Two Conv1d(kernel 3, padding 1) + BN + ReLU; keys stem.0/1/3/4 as in the public code."""
    return nn.Sequential(*conv_bn_relu(c_in, dim), *conv_bn_relu(dim, dim))


@torch.no_grad()
def init_weights(model: nn.Module, scheme: str, n_layer: int = 4) -> None:
    """Initialise a network.

    'public' reproduces the public ME-TST code: every Linear re-drawn from a truncated normal
    (std 0.02, cut at +-2 absolute) with zero bias -- dt_proj.bias included, which undoes the
    Mamba dt initialisation -- then every Mamba out_proj Kaiming-uniform (a=sqrt 5) divided by
    sqrt(n_layer) (n_layer = 4 there, so / 2). 'mamba' keeps PyTorch defaults plus Mamba's own
    dt / A / D initialisation and only zeroes the head biases.
    """
    if scheme not in INITS:
        raise ValueError(f"unknown init {scheme!r}; expected one of {INITS}")
    if scheme == "mamba":
        return
    for module in model.modules():
        if isinstance(module, nn.Linear):
            nn.init.trunc_normal_(module.weight, std=0.02, a=-2.0, b=2.0)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    for module in model.modules():
        if isinstance(module, Mamba):
            nn.init.kaiming_uniform_(module.out_proj.weight, a=math.sqrt(5))
            module.out_proj.weight /= math.sqrt(n_layer)


def check_input(x: Tensor, channels: int, name: str) -> None:
    if x.ndim != 3 or x.shape[1] != channels:
        raise ValueError(
            f"{name} expects windows of shape (B, {channels}, T); got {tuple(x.shape)}"
        )
