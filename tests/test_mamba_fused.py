"""Fused CPU kernels of the Mamba layer against their plain PyTorch formulation."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from metst_engine.models import fused
from metst_engine.models.scan import selective_scan_reference

pytestmark = pytest.mark.skipif(not fused.available(), reason="numba not installed")


def _conv_silu_torch(xz, weight, bias):
    dim = weight.shape[0]
    x = xz[..., :dim].transpose(1, 2)
    out = F.conv1d(x, weight, bias, padding=weight.shape[-1] - 1, groups=dim)[..., : xz.shape[1]]
    return F.silu(out).transpose(1, 2)


def _gated_scan_torch(u, dt, xz, A, B, C, D):
    z = xz[..., u.shape[-1]:]
    y = selective_scan_reference(
        u.transpose(1, 2), dt.transpose(1, 2), A, B.transpose(1, 2), C.transpose(1, 2),
        D=D, z=z.transpose(1, 2),
    )
    return y.transpose(1, 2)


def _close_grads(ga, gb, rtol=1e-3):
    for a, b in zip(ga, gb):
        torch.testing.assert_close(a, b, rtol=rtol, atol=rtol * float(b.abs().max().clamp_min(1e-6)))


@pytest.mark.parametrize("length", [1, 2, 3, 7, 50])
@pytest.mark.parametrize("dim", [5, 70])  # below and above the channel block sizes
def test_causal_conv_silu(length, dim):
    g = torch.Generator().manual_seed(length * 100 + dim)
    xz = torch.randn(3, length, 2 * dim, generator=g, requires_grad=True)
    w = torch.randn(dim, 1, 4, generator=g, requires_grad=True)
    b = torch.randn(dim, generator=g, requires_grad=True)
    a = fused.causal_conv_silu(xz, w, b)
    r = _conv_silu_torch(xz, w, b)
    torch.testing.assert_close(a, r, rtol=1e-5, atol=1e-5)
    go = torch.randn_like(r)
    _close_grads(torch.autograd.grad(a, [xz, w, b], go), torch.autograd.grad(r, [xz, w, b], go))


@pytest.mark.parametrize("length", [1, 7, 50, 300])
def test_gated_scan(length):
    g = torch.Generator().manual_seed(length)
    batch, dim, n = 2, 19, 6
    u = torch.randn(batch, length, dim, generator=g)
    dt = F.softplus(torch.randn(batch, length, dim, generator=g) - 1)
    xz = torch.randn(batch, length, 2 * dim, generator=g)
    A = -torch.exp(torch.randn(dim, n, generator=g))
    B = torch.randn(batch, length, n, generator=g)
    C = torch.randn(batch, length, n, generator=g)
    D = torch.randn(dim, generator=g)
    leaves = [t.requires_grad_(True) for t in (u, dt, xz, A, B, C, D)]
    a = fused.gated_scan(*leaves)
    r = _gated_scan_torch(*leaves)
    torch.testing.assert_close(a, r, rtol=1e-4, atol=1e-5)
    go = torch.randn_like(r)
    _close_grads(torch.autograd.grad(a, leaves, go), torch.autograd.grad(r, leaves, go))


def test_gated_scan_accepts_strided_projection_views():
    # B and C come out of x_proj as views into one (B, L, R + 2N) tensor
    g = torch.Generator().manual_seed(9)
    u = torch.randn(1, 9, 4, generator=g)
    dt = torch.rand(1, 9, 4, generator=g)
    xz = torch.randn(1, 9, 8, generator=g)
    A = -torch.rand(4, 3, generator=g) - 0.1
    dbl = torch.randn(1, 9, 2 + 6, generator=g)
    B, C = dbl[..., 2:5], dbl[..., 5:]
    D = torch.randn(4, generator=g)
    torch.testing.assert_close(fused.gated_scan(u, dt, xz, A, B, C, D), _gated_scan_torch(u, dt, xz, A, B, C, D), rtol=1e-4, atol=1e-5)
