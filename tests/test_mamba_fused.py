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


def _gated_inputs(batch, length, dim, n, seed, dtype=torch.float32, dt_shift=-1.0):
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(batch, length, dim, generator=g, dtype=torch.float64)
    dt = F.softplus(torch.randn(batch, length, dim, generator=g, dtype=torch.float64) + dt_shift)
    xz = torch.randn(batch, length, 2 * dim, generator=g, dtype=torch.float64)
    A = -torch.exp(torch.randn(dim, n, generator=g, dtype=torch.float64) + 1)
    B = torch.randn(batch, length, n, generator=g, dtype=torch.float64)
    C = torch.randn(batch, length, n, generator=g, dtype=torch.float64)
    D = torch.randn(dim, generator=g, dtype=torch.float64)
    return [t.to(dtype) for t in (u, dt, xz, A, B, C, D)]


# (batch, length, dim): one channel group per batch item with a partial last group of 4
# (32 x 70), many groups of one channel (1 x 19: the padded rows), odd sizes everywhere.
@pytest.mark.parametrize("shape", [(32, 30, 70), (1, 13, 19), (3, 50, 33), (5, 2, 4)])
def test_gated_scan_against_float64_plain_formulation(shape):
    """Output and every gradient of the float32 kernels against the plain loop in float64."""
    batch, length, dim = shape
    ref = [t.requires_grad_(True) for t in _gated_inputs(batch, length, dim, 16, sum(shape), torch.float64)]
    ours = [t.detach().float().requires_grad_(True) for t in ref]
    y = fused.gated_scan(*ours)
    y_ref = _gated_scan_torch(*ref)
    torch.testing.assert_close(y.double(), y_ref, rtol=1e-4, atol=1e-5)
    go = torch.randn(y_ref.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    grads = torch.autograd.grad(y, ours, go.float())
    grads_ref = torch.autograd.grad(y_ref, ref, go)
    for name, a, b in zip(("u", "dt", "xz", "A", "B", "C", "D"), grads, grads_ref):
        scale = float(b.abs().max().clamp_min(1e-6))
        torch.testing.assert_close(a.double(), b, rtol=1e-4, atol=1e-4 * scale, msg=lambda m, n=name: f"d{n}: {m}")


def test_gated_scan_decays_below_the_cut_are_exact_zeros_not_nan():
    # dt * A down to -1e4: exp underflows; the kernels flush it to 0 (no denormal, inf or NaN)
    leaves = _gated_inputs(2, 9, 6, 8, 5, dt_shift=6.0)
    leaves[3] = leaves[3] * 50
    leaves = [t.requires_grad_(True) for t in leaves]
    y = fused.gated_scan(*leaves)
    y_ref = _gated_scan_torch(*leaves)
    torch.testing.assert_close(y, y_ref, rtol=1e-4, atol=1e-5)
    grads = torch.autograd.grad(y.sum(), leaves)
    assert all(torch.isfinite(g).all() for g in grads)
    _close_grads(grads, torch.autograd.grad(y_ref.sum(), leaves), rtol=1e-4)


@pytest.mark.parametrize("length", [1, 3, 30])
def test_causal_conv_silu_against_float64(length):
    g = torch.Generator().manual_seed(length)
    xz = torch.randn(4, length, 2 * 37, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(37, 1, 4, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(37, generator=g, dtype=torch.float64, requires_grad=True)
    ours = [t.detach().float().requires_grad_(True) for t in (xz, w, b)]
    a = fused.causal_conv_silu(*ours)
    r = _conv_silu_torch(xz, w, b)
    torch.testing.assert_close(a.double(), r, rtol=1e-5, atol=1e-5)
    go = torch.randn(r.shape, generator=g, dtype=torch.float64)
    for x, y in zip(torch.autograd.grad(a, ours, go.float()), torch.autograd.grad(r, (xz, w, b), go)):
        torch.testing.assert_close(x.double(), y, rtol=1e-4, atol=1e-4 * float(y.abs().max()))


def test_gated_scan_threads_give_identical_results():
    # the split over threads is by whole tasks: one thread or two, the same numbers
    leaves = [t.requires_grad_(True) for t in _gated_inputs(4, 20, 40, 16, 3)]
    outs = []
    old = torch.get_num_threads()
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            y = fused.gated_scan(*leaves)
            outs.append((y, torch.autograd.grad(y.sum(), leaves)))
    finally:
        torch.set_num_threads(old)
    assert torch.equal(outs[0][0], outs[1][0])
    assert all(torch.equal(a, b) for a, b in zip(outs[0][1], outs[1][1]))
