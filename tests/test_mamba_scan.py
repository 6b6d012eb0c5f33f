"""Selective scan: fused numba kernel and materialised formulation against the plain loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from metst_engine.models import scan
from metst_engine.models.scan import (
    fused_available,
    selective_scan,
    selective_scan_materialized,
    selective_scan_reference,
)

needs_numba = pytest.mark.skipif(not fused_available(), reason="numba not installed")


def _inputs(batch: int, dim: int, length: int, n: int, seed: int, grad: bool = True):
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(batch, dim, length, generator=g)
    delta = torch.randn(batch, dim, length, generator=g) * 0.5 - 1.0
    A = -torch.exp(torch.randn(dim, n, generator=g) * 0.5)
    B = torch.randn(batch, n, length, generator=g)
    C = torch.randn(batch, n, length, generator=g)
    D = torch.randn(dim, generator=g)
    z = torch.randn(batch, dim, length, generator=g)
    bias = torch.randn(dim, generator=g) * 0.1
    tensors = [u, delta, A, B, C, D, z, bias]
    if grad:
        for t in tensors:
            t.requires_grad_(True)
    return tensors


def _naive_numpy(u, delta, A, B, C, D, z, bias):
    """Element-by-element float64 loop, written independently of the torch code."""
    u, delta, A, B, C, D, z, bias = (t.detach().double().numpy() for t in (u, delta, A, B, C, D, z, bias))
    bsz, dim, length = u.shape
    out = np.zeros_like(u)
    for b in range(bsz):
        for d in range(dim):
            h = np.zeros(A.shape[1])
            for t in range(length):
                dt = np.log1p(np.exp(delta[b, d, t] + bias[d]))
                h = np.exp(dt * A[d]) * h + dt * B[b, :, t] * u[b, d, t]
                y = float(h @ C[b, :, t]) + D[d] * u[b, d, t]
                out[b, d, t] = y * z[b, d, t] / (1.0 + np.exp(-z[b, d, t]))
    return out


def test_reference_matches_naive_numpy_loop():
    args = _inputs(2, 3, 9, 4, seed=1, grad=False)
    ref = selective_scan_reference(*args, delta_softplus=True)
    np.testing.assert_allclose(ref.numpy(), _naive_numpy(*args), rtol=1e-5, atol=1e-6)


def test_materialized_matches_reference():
    args = _inputs(2, 8, 33, 5, seed=2, grad=False)
    a = selective_scan_materialized(*args, delta_softplus=True)
    b = selective_scan_reference(*args, delta_softplus=True)
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@needs_numba
@pytest.mark.parametrize("length", [1, 7, 50, 4096])
def test_fused_matches_reference_outputs_and_gradients(length: int):
    batch, dim, n = (2, 16, 8) if length < 4096 else (1, 8, 16)
    args = _inputs(batch, dim, length, n, seed=length)
    fused = selective_scan(*args, delta_softplus=True, impl="fused")
    ref = selective_scan_reference(*args, delta_softplus=True)
    torch.testing.assert_close(fused, ref, rtol=1e-4, atol=1e-5)
    grad_out = torch.randn_like(ref)
    g_fused = torch.autograd.grad(fused, args, grad_out)
    g_ref = torch.autograd.grad(ref, args, grad_out)
    names = ["u", "delta", "A", "B", "C", "D", "z", "delta_bias"]
    for name, a, b in zip(names, g_fused, g_ref):
        scale = b.abs().max().clamp_min(1e-6)
        # rtol 1e-3 relative to the gradient's magnitude (elementwise rtol is meaningless
        # for entries that are sums cancelling to ~0)
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-3 * float(scale), msg=name)


@needs_numba
def test_fused_backward_uses_channel_groups_for_small_batches():
    # batch 1 -> several channel groups whose dB/dC partial sums must add up exactly
    assert scan._groups(1, 64) > 1
    args = _inputs(1, 64, 20, 4, seed=5)
    fused = selective_scan(*args, delta_softplus=True, impl="fused")
    ref = selective_scan_reference(*args, delta_softplus=True)
    gf = torch.autograd.grad(fused.sum(), args[3:5])
    gr = torch.autograd.grad(ref.sum(), args[3:5])
    for a, b in zip(gf, gr):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4)


@needs_numba
@settings(max_examples=15, deadline=None)
@given(
    batch=st.integers(1, 3),
    dim=st.integers(1, 9),
    length=st.integers(1, 40),
    n=st.integers(1, 9),
    seed=st.integers(0, 10_000),
    dt_shift=st.floats(-4.0, 3.0),
)
def test_fused_matches_reference_on_random_shapes(batch, dim, length, n, seed, dt_shift):
    args = _inputs(batch, dim, length, n, seed=seed, grad=False)
    args[1] = args[1] + dt_shift  # small and large steps: decays from ~1 to ~0
    fused = selective_scan(*args, delta_softplus=True, impl="fused")
    ref = selective_scan_reference(*args, delta_softplus=True)
    torch.testing.assert_close(fused, ref, rtol=1e-4, atol=1e-5)


def test_auto_falls_back_to_loop_for_float64():
    args = _inputs(1, 4, 6, 3, seed=3, grad=False)
    args = [a.double() for a in args]
    out = selective_scan(*args, delta_softplus=True)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, selective_scan_reference(*args, delta_softplus=True))


def test_fused_refuses_unsupported_inputs_and_unknown_impl():
    args = _inputs(1, 4, 6, 3, seed=3, grad=False)
    with pytest.raises(ValueError, match="fused"):
        selective_scan(*[a.double() for a in args], impl="fused")
    with pytest.raises(ValueError, match="unknown scan"):
        selective_scan(*args, impl="blelloch")


def test_without_delta_softplus_and_without_d_z():
    u, delta, A, B, C, *_ = _inputs(2, 4, 10, 3, seed=4, grad=False)
    delta = delta.abs() * 0.1
    impl = "fused" if fused_available() else "loop"
    a = selective_scan(u, delta, A, B, C, impl=impl)
    b = selective_scan_reference(u, delta, A, B, C)
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
