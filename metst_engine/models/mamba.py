"""Mamba layer with the parameters of ``mamba_ssm.modules.mamba_simple.Mamba``.

Parameter names, shapes and default initialisation match mamba-ssm, so a state dict saved by
either backend loads in the other:

    in_proj.weight (2*d_inner, d_model)      conv1d.weight (d_inner, 1, d_conv), conv1d.bias
    x_proj.weight (dt_rank + 2N, d_inner)    dt_proj.weight (d_inner, dt_rank), dt_proj.bias
    A_log (d_inner, N)                       D (d_inner)
    out_proj.weight (d_model, d_inner)

Backends: ``cuda`` runs mamba-ssm's selective-scan kernel (only when mamba-ssm imports and the
input is on a CUDA device); ``torch`` runs ``metst_engine.models.scan`` (numba-fused on CPU,
a plain loop elsewhere). The choice is automatic, overridable per layer (``backend=``) or by
the environment variable ``METST_MAMBA_BACKEND`` (auto | cuda | torch), and logged once.
"""

from __future__ import annotations

import logging
import math
import os
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from metst_engine.models import fused
from metst_engine.models.scan import scan_core

log = logging.getLogger(__name__)

ENV_BACKEND = "METST_MAMBA_BACKEND"
BACKENDS = ("auto", "cuda", "torch")

_cuda_scan: Any = None
_cuda_import_error: str | None = None
_cuda_probed = False
_logged: set[str] = set()  # the one piece of module state: which choices were logged


def _probe_cuda() -> Any:
    """Import mamba-ssm's scan lazily; released versions fail to import without CUDA, with
    errors that are not always ImportError, so anything raised counts as 'unavailable'."""
    global _cuda_scan, _cuda_import_error, _cuda_probed
    if not _cuda_probed:
        _cuda_probed = True
        try:
            from mamba_ssm.ops.selective_scan_interface import selective_scan_fn

            _cuda_scan = selective_scan_fn
        except Exception as exc:  # not only ImportError: see the docstring
            _cuda_import_error = f"{type(exc).__name__}: {exc}"
    return _cuda_scan


def cuda_backend_available() -> bool:
    """True when mamba-ssm imports and a CUDA device is present."""
    return torch.cuda.is_available() and _probe_cuda() is not None


def resolve_backend(requested: str | None, device: torch.device) -> str:
    """Pick 'cuda' or 'torch' for a tensor on ``device``.

    ``requested`` (layer argument) wins over the environment variable; 'auto' picks 'cuda'
    exactly when the kernels import and the device is CUDA. Asking for 'cuda' where it cannot
    run is an error rather than a silent fallback.
    """
    choice = (requested or os.environ.get(ENV_BACKEND) or "auto").lower()
    if choice not in BACKENDS:
        raise ValueError(f"unknown Mamba backend {choice!r}; expected one of {BACKENDS}")
    if choice == "auto":
        choice = "cuda" if device.type == "cuda" and _probe_cuda() is not None else "torch"
    elif choice == "cuda":
        if device.type != "cuda":
            raise RuntimeError(f"Mamba backend 'cuda' needs CUDA tensors, got device {device}")
        if _probe_cuda() is None:
            raise RuntimeError(f"Mamba backend 'cuda' needs mamba-ssm: {_cuda_import_error}")
    key = f"{choice}@{device.type}"
    if key not in _logged:
        _logged.add(key)
        log.info("Mamba backend: %s on %s", choice, device.type)
    return choice


class Mamba(nn.Module):
    """Selective state-space layer on (B, L, d_model) sequences."""

    def __init__(
        self,
        d_model: int,
        d_state: int = 16,
        d_conv: int = 4,
        expand: int = 2,
        dt_rank: int | str = "auto",
        dt_min: float = 0.001,
        dt_max: float = 0.1,
        dt_init: str = "random",
        dt_scale: float = 1.0,
        dt_init_floor: float = 1e-4,
        conv_bias: bool = True,
        bias: bool = False,
        backend: str | None = None,
    ) -> None:
        super().__init__()
        self.d_model = d_model
        self.d_state = d_state
        self.d_conv = d_conv
        self.expand = expand
        self.d_inner = int(expand * d_model)
        self.dt_rank = math.ceil(d_model / 16) if dt_rank == "auto" else int(dt_rank)
        self.backend = backend
        self.scan_impl = "auto"  # torch backend: auto | fused (numba, CPU float32) | loop

        self.in_proj = nn.Linear(d_model, self.d_inner * 2, bias=bias)
        self.conv1d = nn.Conv1d(
            self.d_inner, self.d_inner, kernel_size=d_conv, groups=self.d_inner,
            padding=d_conv - 1, bias=conv_bias,
        )
        self.x_proj = nn.Linear(self.d_inner, self.dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, self.d_inner, bias=True)
        self.A_log = nn.Parameter(torch.empty(self.d_inner, d_state))
        self.D = nn.Parameter(torch.empty(self.d_inner))
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=bias)
        self._dt_init = (dt_init, dt_scale, dt_min, dt_max, dt_init_floor)
        self.reset_ssm_parameters()

    @torch.no_grad()
    def reset_ssm_parameters(self) -> None:
        """mamba-ssm's initialisation of dt_proj, A_log (S4D-real) and D."""
        dt_init, dt_scale, dt_min, dt_max, floor = self._dt_init
        std = self.dt_rank**-0.5 * dt_scale
        if dt_init == "constant":
            nn.init.constant_(self.dt_proj.weight, std)
        elif dt_init == "random":
            nn.init.uniform_(self.dt_proj.weight, -std, std)
        else:
            raise ValueError(f"unknown dt_init {dt_init!r}")
        dt = torch.exp(
            torch.rand(self.d_inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
        ).clamp(min=floor)
        self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # inverse softplus
        a = torch.arange(1, self.d_state + 1, dtype=torch.float32).repeat(self.d_inner, 1)
        self.A_log.copy_(torch.log(a))
        self.D.fill_(1.0)

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, L, d_model) -> (B, L, d_model)."""
        length = x.shape[1]
        xz = self.in_proj(x)  # (B, L, 2*d_inner)
        A = -torch.exp(self.A_log.float())
        backend = resolve_backend(self.backend, x.device)
        if backend == "torch" and self._use_fused(xz):
            return self.out_proj(self._fused_inner(xz, A))
        xi, z = xz.transpose(1, 2).chunk(2, dim=1)  # (B, d_inner, L) each
        xi = F.silu(self.conv1d(xi)[..., :length])
        x_dbl = self.x_proj(xi.transpose(1, 2))  # (B, L, R + 2N)
        dt, Bm, Cm = torch.split(x_dbl, [self.dt_rank, self.d_state, self.d_state], dim=-1)
        if backend == "cuda":
            delta = (dt @ self.dt_proj.weight.t()).transpose(1, 2)
            y = _cuda_scan(
                xi.contiguous(), delta.contiguous(), A, Bm.transpose(1, 2).contiguous(),
                Cm.transpose(1, 2).contiguous(), self.D.float(), z=z.contiguous(),
                delta_bias=self.dt_proj.bias.float(), delta_softplus=True,
            )
        else:
            delta = F.softplus(self.dt_proj(dt)).transpose(1, 2)  # (B, d_inner, L)
            y = scan_core(
                xi.contiguous(), delta.contiguous(), A, Bm.contiguous(), Cm.contiguous(),
                impl=self.scan_impl,
            )
            y = (y + xi * self.D[:, None]) * F.silu(z)
        return self.out_proj(y.transpose(1, 2))

    def _use_fused(self, xz: Tensor) -> bool:
        if self.scan_impl == "loop":
            return False
        ok = fused.applicable(xz, self.A_log)
        if self.scan_impl == "fused" and not ok:
            raise ValueError("scan_impl 'fused' needs numba and float32 CPU tensors")
        return ok

    def _fused_inner(self, xz: Tensor, A: Tensor) -> Tensor:
        """numba path on the token-major layout: conv+silu, projections, gated scan."""
        bias = self.conv1d.bias if self.conv1d.bias is not None else xz.new_zeros(self.d_inner)
        u = fused.causal_conv_silu(xz, self.conv1d.weight, bias)  # (B, L, d_inner)
        dt, Bm, Cm = torch.split(self.x_proj(u), [self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = F.softplus(self.dt_proj(dt))  # (B, L, d_inner)
        return fused.gated_scan(u, dt, xz, A, Bm, Cm, self.D)
