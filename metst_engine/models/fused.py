"""Fused CPU kernels (numba) for the inner part of the Mamba layer, forward and backward.

The layer's pure-PyTorch path spends more time in element-wise passes (transposes, silu,
D skip, gating) than in the scan itself on CPU. Two autograd functions fuse them, working
on the token-major layout the projections produce, so nothing is transposed:

* ``causal_conv_silu(xz, weight, bias) -> u``: depthwise causal conv over time of the x half
  of ``xz`` (B, L, 2D), then silu; u is (B, L, D).
* ``gated_scan(u, dt, xz, A, B, C, D) -> y``: the selective scan with dt > 0 given, plus the
  D skip and the silu(z) gate (z = second half of ``xz``); y is (B, L, D).

Both are checked against the plain PyTorch formulation (outputs and gradients) in the tests.
Only float32 CPU tensors; ``available()`` says whether numba imports.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from metst_engine.models import scan as _scan

_nb = _scan._nb

__all__ = ["available", "causal_conv_silu", "gated_scan"]

_BLOCK = 16  # channels per task in the gated-scan forward and the conv backward


def available() -> bool:
    return _nb is not None


if _nb is not None:
    from llvmlite import ir as _ir
    from numba.core import types as _types
    from numba.extending import intrinsic as _intrinsic

    from metst_engine.models.scan import (  # type: ignore[attr-defined]
        _C2,
        _C3,
        _C4,
        _C5,
        _C6,
        _HALF,
        _LN2_HI,
        _LN2_LO,
        _LOG2E,
        _ONE,
        _XHI,
        _XLO,
        _ZERO,
        _exp_row,
    )

    @_intrinsic
    def _bits_as_f32(typingctx, bits):  # pragma: no cover - compiled
        """Reinterpret an int32 as float32 (to build 2^k from its exponent bits)."""
        sig = _types.float32(_types.int32)

        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], _ir.FloatType())

        return sig, codegen

    @_nb.njit(inline="always", fastmath=True)
    def _fexp(x):  # pragma: no cover - compiled
        """float32 exp, same polynomial as the scan's; exact enough for gates (rel < 2e-7)."""
        x = min(max(x, _XLO), _XHI)
        kf = np.floor(x * _LOG2E + _HALF)
        r = x - kf * _LN2_HI - kf * _LN2_LO
        p = _ONE + r * (_ONE + r * (_C2 + r * (_C3 + r * (_C4 + r * (_C5 + r * _C6)))))
        return p * _bits_as_f32((np.int32(kf) + np.int32(127)) << np.int32(23))

    @_nb.njit(inline="always", fastmath=True)
    def _sigmoid(x):  # pragma: no cover - compiled
        return _ONE / (_ONE + _fexp(-x))

    # ---- causal depthwise conv + silu ------------------------------------------------

    @_nb.njit(nogil=True, fastmath=True, cache=True, boundscheck=False)
    def _conv_fwd(task0, task1, xz, wT, cb, u):  # pragma: no cover - compiled
        """u[b, t, d] = silu(cb[d] + sum_k wT[k, d] x[b, t - K + 1 + k, d]); task = b.
        Whole rows of channels at a time, so every inner loop is contiguous."""
        nl, nd = u.shape[1], u.shape[2]
        nk = wT.shape[0]
        for b in range(task0, task1):
            for t in range(nl):
                urow = u[b, t]
                for d in range(nd):
                    urow[d] = cb[d]
                for k in range(max(0, nk - 1 - t), nk):
                    xrow = xz[b, t - nk + 1 + k]
                    wk = wT[k]
                    for d in range(nd):
                        urow[d] += wk[d] * xrow[d]
                for d in range(nd):
                    a = urow[d]
                    urow[d] = a / (_ONE + _fexp(-a))

    @_nb.njit(nogil=True, fastmath=True, cache=True, boundscheck=False)
    def _conv_bwd(task0, task1, xz, w, cb, du, dxz, dw_part, db_part):  # pragma: no cover
        nl, nd = du.shape[1], du.shape[2]
        nk = w.shape[1]
        nblk = (nd + _BLOCK - 1) // _BLOCK
        for task in range(task0, task1):
            b = task // nblk
            d0 = (task % nblk) * _BLOCK
            d1 = min(nd, d0 + _BLOCK)
            for t in range(nl):
                for d in range(d0, d1):
                    acc = cb[d]
                    for k in range(nk):
                        s = t - nk + 1 + k
                        if s >= 0:
                            acc += w[d, k] * xz[b, s, d]
                    sg = _sigmoid(acc)
                    g = du[b, t, d] * sg * (_ONE + acc * (_ONE - sg))
                    db_part[b, d] += g
                    for k in range(nk):
                        s = t - nk + 1 + k
                        if s >= 0:
                            dxz[b, s, d] += w[d, k] * g
                            dw_part[b, d, k] += g * xz[b, s, d]

    # ---- gated selective scan ---------------------------------------------------------

    @_nb.njit(nogil=True, fastmath=True, cache=True, boundscheck=False)
    def _gscan_fwd(task0, task1, u, dt, xz, A, Bm, Cm, Dp, y):  # pragma: no cover - compiled
        """y = (sum_n C h + D u) * silu(z); tasks (b, block of _BLOCK channels).

        The block's u and dt are first copied to time-contiguous scratch: walking the
        token-major arrays along time (a 1-2 KiB stride) thrashes a few L1 sets.
        """
        nl, nd = u.shape[1], u.shape[2]
        ns = A.shape[1]
        nblk = (nd + _BLOCK - 1) // _BLOCK
        for task in range(task0, task1):
            b = task // nblk
            d0 = (task % nblk) * _BLOCK
            m = min(nd, d0 + _BLOCK) - d0
            ul = np.empty((_BLOCK, nl), np.float32)
            dl = np.empty((_BLOCK, nl), np.float32)
            yl = np.empty((_BLOCK, nl), np.float32)
            for t in range(nl):
                for j in range(m):
                    ul[j, t] = u[b, t, d0 + j]
                    dl[j, t] = dt[b, t, d0 + j]
            for j in range(m):
                a = A[d0 + j]
                # Fresh scratch, zeroed by np.zeros: hoisting it out of the loop or zeroing
                # it with an explicit loop makes LLVM drop the vectorisation (~3x slower).
                h = np.zeros(ns, np.float32)
                mant = np.empty(ns, np.float32)
                expo = np.empty(ns, np.int32)
                scale = expo.view(np.float32)
                for t in range(nl):
                    dtt = dl[j, t]
                    du = dtt * ul[j, t]
                    bt = Bm[b, t]
                    ct = Cm[b, t]
                    _exp_row(dtt, a, mant, expo)
                    acc = _ZERO
                    for n in range(ns):
                        hn = mant[n] * scale[n] * h[n] + du * bt[n]
                        h[n] = hn
                        acc += hn * ct[n]
                    yl[j, t] = acc
            for t in range(nl):
                for j in range(m):
                    z = xz[b, t, nd + d0 + j]
                    y[b, t, d0 + j] = (yl[j, t] + Dp[d0 + j] * ul[j, t]) * z * _sigmoid(z)

    @_nb.njit(nogil=True, fastmath=True, cache=True, boundscheck=False)
    def _gscan_bwd(task0, task1, u, dt, xz, A, Bm, Cm, Dp, dy,
                   du_out, ddt_out, dxz, dA_part, dD_part, dB_part, dC_part):  # pragma: no cover
        """Reverse-time pass, one channel at a time, states recomputed per channel; tasks
        (b, channel group) own the group's partial sums of dB, dC."""
        nl, nd = u.shape[1], u.shape[2]
        ns = A.shape[1]
        ng = dB_part.shape[1]
        hs = np.empty((nl + 1, ns), np.float32)
        ex = np.empty((nl, ns), np.float32)
        ssm = np.empty(nl, np.float32)
        mant = np.empty(ns, np.float32)
        expo = np.empty(ns, np.int32)
        scale = expo.view(np.float32)
        dh = np.empty(ns, np.float32)
        dal = np.empty(ns, np.float32)
        for task in range(task0, task1):
            b = task // ng
            g = task % ng
            for d in range((g * nd) // ng, ((g + 1) * nd) // ng):
                a = A[d]
                hs[0, :] = _ZERO
                for t in range(nl):
                    dtt = dt[b, t, d]
                    du = dtt * u[b, t, d]
                    bt = Bm[b, t]
                    ct = Cm[b, t]
                    _exp_row(dtt, a, mant, expo)
                    acc = _ZERO
                    for n in range(ns):
                        e = mant[n] * scale[n]
                        ex[t, n] = e
                        hn = e * hs[t, n] + du * bt[n]
                        hs[t + 1, n] = hn
                        acc += hn * ct[n]
                    ssm[t] = acc
                dh[:] = _ZERO
                dal[:] = _ZERO
                dd = _ZERO
                for t in range(nl - 1, -1, -1):
                    ut = u[b, t, d]
                    dtt = dt[b, t, d]
                    z = xz[b, t, nd + d]
                    sz = _sigmoid(z)
                    gout = dy[b, t, d]
                    yfull = ssm[t] + Dp[d] * ut
                    dxz[b, t, nd + d] = gout * yfull * sz * (_ONE + z * (_ONE - sz))
                    gy = gout * z * sz
                    dd += gy * ut
                    dtu = dtt * ut
                    bt = Bm[b, t]
                    ct = Cm[b, t]
                    dbp = dB_part[b, g, t]
                    dcp = dC_part[b, g, t]
                    acc_dt = _ZERO
                    acc_u = _ZERO
                    for n in range(ns):
                        dhn = dh[n] + gy * ct[n]
                        e = ex[t, n]
                        q = dhn * hs[t, n] * e
                        acc_dt += q * a[n] + dhn * bt[n] * ut
                        acc_u += dhn * bt[n]
                        dal[n] += q * dtt
                        dbp[n] += dhn * dtu
                        dcp[n] += gy * hs[t + 1, n]
                        dh[n] = dhn * e
                    du_out[b, t, d] = acc_u * dtt + gy * Dp[d]
                    ddt_out[b, t, d] = acc_dt
                for n in range(ns):
                    dA_part[b, d, n] = dal[n]
                dD_part[b, d] = dd


def _tasks_per_batch(dim: int) -> int:
    return (dim + _BLOCK - 1) // _BLOCK


class _ConvSilu(torch.autograd.Function):
    @staticmethod
    def forward(ctx, xz: Tensor, weight: Tensor, bias: Tensor) -> Tensor:  # type: ignore[override]
        xz = xz.detach().contiguous()
        w = weight.detach()[:, 0, :].contiguous()
        cb = bias.detach().contiguous()
        batch, length, two_d = xz.shape
        u = torch.empty(batch, length, two_d // 2, dtype=xz.dtype)
        if u.numel():
            _scan._run_split(_conv_fwd, batch, xz.numpy(), w.t().contiguous().numpy(), cb.numpy(), u.numpy())
        ctx.save_for_backward(xz, w, cb)
        return u

    @staticmethod
    def backward(ctx, du: Tensor):  # type: ignore[override]
        xz, w, cb = ctx.saved_tensors
        batch, _, two_d = xz.shape
        dim = two_d // 2
        dxz = torch.zeros_like(xz)
        dw_part = torch.zeros(batch, dim, w.shape[1], dtype=xz.dtype)
        db_part = torch.zeros(batch, dim, dtype=xz.dtype)
        if du.numel():
            _scan._run_split(
                _conv_bwd, batch * _tasks_per_batch(dim), xz.numpy(), w.numpy(), cb.numpy(),
                du.detach().contiguous().numpy(), dxz.numpy(), dw_part.numpy(), db_part.numpy(),
            )
        return dxz, dw_part.sum(0)[:, None, :], db_part.sum(0)


class _GatedScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u: Tensor, dt: Tensor, xz: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor) -> Tensor:  # type: ignore[override]
        u, dt, xz, A, B, C, D = (x.detach().contiguous() for x in (u, dt, xz, A, B, C, D))
        y = torch.empty_like(u)
        if u.numel():
            _scan._run_split(
                _gscan_fwd, u.shape[0] * _tasks_per_batch(u.shape[2]),
                u.numpy(), dt.numpy(), xz.numpy(), A.numpy(), B.numpy(), C.numpy(), D.numpy(), y.numpy(),
            )
        ctx.save_for_backward(u, dt, xz, A, B, C, D)
        return y

    @staticmethod
    def backward(ctx, dy: Tensor):  # type: ignore[override]
        u, dt, xz, A, B, C, D = ctx.saved_tensors
        batch, length, dim = u.shape
        ns = A.shape[1]
        groups = _scan._groups(batch, dim)
        du = torch.zeros_like(u)
        ddt = torch.zeros_like(dt)
        dxz = torch.zeros_like(xz)
        dA_part = torch.zeros(batch, dim, ns, dtype=u.dtype)
        dD_part = torch.zeros(batch, dim, dtype=u.dtype)
        dB_part = torch.zeros(batch, groups, length, ns, dtype=u.dtype)
        dC_part = torch.zeros(batch, groups, length, ns, dtype=u.dtype)
        if u.numel():
            _scan._run_split(
                _gscan_bwd, batch * groups, u.numpy(), dt.numpy(), xz.numpy(), A.numpy(), B.numpy(),
                C.numpy(), D.numpy(), dy.detach().contiguous().numpy(), du.numpy(), ddt.numpy(),
                dxz.numpy(), dA_part.numpy(), dD_part.numpy(), dB_part.numpy(), dC_part.numpy(),
            )
        return du, ddt, dxz, dA_part.sum(0), dB_part.sum(1), dC_part.sum(1), dD_part.sum(0)


def applicable(*tensors: Tensor) -> bool:
    """float32 CPU tensors and numba present."""
    return _nb is not None and all(t.device.type == "cpu" and t.dtype == torch.float32 for t in tensors)


def causal_conv_silu(xz: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """silu(causal depthwise conv) of xz[..., :D]; xz (B, L, 2D), weight (D, 1, K), bias (D)."""
    return _ConvSilu.apply(xz, weight, bias)


def gated_scan(u: Tensor, dt: Tensor, xz: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor) -> Tensor:
    """(SSM(u, dt, A, B, C) + D u) * silu(xz[..., D:]); u, dt (B, L, D), B, C (B, L, N)."""
    return _GatedScan.apply(u, dt, xz, A, B, C, D)
