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

_BLOCK = 16  # channels per task in the gated-scan forward
_G = 4  # channels whose recurrences the gated-scan kernels interleave (_bc_grads spells out 4)


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
    )

    @_intrinsic
    def _bits_as_f32(typingctx, bits):  # pragma: no cover - compiled
        """Reinterpret an int32 as float32 (to build 2^k from its exponent bits)."""
        sig = _types.float32(_types.int32)

        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], _ir.FloatType())

        return sig, codegen

    @_nb.njit(inline="always", fastmath=True, error_model="numpy")
    def _fexp(x):  # pragma: no cover - compiled
        """float32 exp, same polynomial as the scan's; exact enough for gates (rel < 2e-7)."""
        x = min(max(x, _XLO), _XHI)
        kf = np.floor(x * _LOG2E + _HALF)
        r = x - kf * _LN2_HI - kf * _LN2_LO
        p = _ONE + r * (_ONE + r * (_C2 + r * (_C3 + r * (_C4 + r * (_C5 + r * _C6)))))
        return p * _bits_as_f32((np.int32(kf) + np.int32(127)) << np.int32(23))

    @_nb.njit(inline="always", fastmath=True, error_model="numpy")
    def _sigmoid(x):  # pragma: no cover - compiled
        return _ONE / (_ONE + _fexp(-x))

    # ---- causal depthwise conv + silu ------------------------------------------------

    @_nb.njit(nogil=True, fastmath=True, cache=True, boundscheck=False, error_model="numpy")
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

    @_nb.njit(nogil=True, fastmath=True, cache=True, boundscheck=False, error_model="numpy")
    def _conv_bwd(task0, task1, xz, wT, cb, du, dxz, dwT_part, db_part):  # pragma: no cover
        """Gradients of _conv_fwd; task = b, whole rows of channels (each loop over channels
        stores into one array, so all of them vectorise). dwT_part (B, K, D), db_part (B, D)."""
        nl, nd = du.shape[1], du.shape[2]
        nk = wT.shape[0]
        pre = np.empty(nd, np.float32)
        g = np.empty(nd, np.float32)
        for b in range(task0, task1):
            dbp = db_part[b]
            for t in range(nl):
                for d in range(nd):
                    pre[d] = cb[d]
                k0 = max(0, nk - 1 - t)
                for k in range(k0, nk):
                    xrow = xz[b, t - nk + 1 + k]
                    wk = wT[k]
                    for d in range(nd):
                        pre[d] += wk[d] * xrow[d]
                gout = du[b, t]
                for d in range(nd):
                    a = pre[d]
                    sg = _sigmoid(a)
                    g[d] = gout[d] * sg * (_ONE + a * (_ONE - sg))
                for d in range(nd):
                    dbp[d] += g[d]
                for k in range(k0, nk):
                    s = t - nk + 1 + k
                    dxrow = dxz[b, s]
                    wk = wT[k]
                    for d in range(nd):
                        dxrow[d] += wk[d] * g[d]
                    xrow = xz[b, s]
                    dwk = dwT_part[b, k]
                    for d in range(nd):
                        dwk[d] += g[d] * xrow[d]

    # ---- gated selective scan ---------------------------------------------------------
    #
    # Every loop below is over the state axis n (or over channels) and stores into ONE array:
    # LLVM vectorises a loop only when it can rule out aliasing between the arrays it reads
    # and writes with a handful of run-time checks; a loop that updates four arrays (as a
    # straightforward backward would) stays scalar, ~10x slower.

    # exp(x) = 2^y, y = x log2(e) = k + f, |f| <= 1/2: 2^f by a degree-5 Chebyshev interpolant
    # (relative error 2.4e-7), 2^k from its exponent bits. Cheaper than the scan's exp (no
    # Cody-Waite split, one degree less); the scan's exponentials are most of the kernels'
    # arithmetic. The kernels multiply dt by A log2(e) (``_log2_rates``, once per channel), and
    # dt A <= 0 (dt >= 0, A <= 0), so y needs no upper clamp.
    _P0, _P1, _P2, _P3, _P4, _P5 = (np.float32(c) for c in (
        1.0000001192092896, 0.6931471824645996, 0.2402210682630539, 0.055503569543361664,
        0.009676031768321991, 0.0013390863314270973))
    _YCUT = np.float32(-40.0 * 1.4426950408889634)

    @_nb.njit(inline="always", fastmath=True, error_model="numpy")
    def _exp2_cut(y):  # pragma: no cover - compiled
        """2^y for y <= 0, 0 below e^-40 (as the scan: no denormal states). No lower clamp:
        whatever 2^k a very negative y builds is replaced by the 0."""
        kf = np.rint(y)
        f = y - kf
        p = _P0 + f * (_P1 + f * (_P2 + f * (_P3 + f * (_P4 + f * _P5))))
        e = p * _bits_as_f32((np.int32(kf) + np.int32(127)) << np.int32(23))
        return _ZERO if y < _YCUT else e

    @_nb.njit(inline="always", fastmath=True, error_model="numpy")
    def _log2_rates(A, c0, m, a2):  # pragma: no cover - compiled
        """a2[g] = min(A[c0 + g], 0) log2(e); padding rows repeat the last channel."""
        for g in range(_G):
            ar = A[c0 + min(g, m - 1)]
            row = a2[g]
            for n in range(row.shape[0]):
                row[n] = min(ar[n], _ZERO) * _LOG2E

    @_nb.njit(inline="always", fastmath=True, error_model="numpy")
    def _exp_table(dtl, a2, ex):  # pragma: no cover - compiled
        """ex[t, n] = exp(dtl[t] * A[n]) for t < len(dtl), a2 = A log2(e)."""
        for t in range(dtl.shape[0]):
            dtt = max(dtl[t], _ZERO)
            et = ex[t]
            for n in range(a2.shape[0]):
                et[n] = _exp2_cut(dtt * a2[n])

    @_nb.njit(inline="always", fastmath=True, error_model="numpy")
    def _load_group(b, c0, m, u, dt, ul, dl):  # pragma: no cover - compiled
        """Channels c0 .. c0+m-1 of batch item b into time-contiguous scratch; rows m .. _G-1
        are padding (dt = u = 0: zero states, no output)."""
        for g in range(_G):
            if g < m:
                for t in range(dl.shape[1]):
                    ul[g, t] = u[b, t, c0 + g]
                    dl[g, t] = dt[b, t, c0 + g]
            else:
                ul[g, :] = _ZERO
                dl[g, :] = _ZERO

    @_nb.njit(inline="always", fastmath=True, error_model="numpy")
    def _states(ex, dl, ul, bm, hs):  # pragma: no cover - compiled
        """hs[g, t + 1] = ex[g, t] * hs[g, t] + dt u B_t, hs[g, 0] = 0 (bm: B of one batch item).
        The _G channels' recurrences are interleaved: one alone is latency-bound."""
        hs[:, 0, :] = _ZERO
        for t in range(dl.shape[1]):
            bt = bm[t]
            for g in range(_G):
                dut = dl[g, t] * ul[g, t]
                et = ex[g, t]
                hp = hs[g, t]
                hn = hs[g, t + 1]
                for n in range(hn.shape[0]):
                    hn[n] = et[n] * hp[n] + dut * bt[n]

    @_nb.njit(nogil=True, fastmath=True, cache=True, boundscheck=False, error_model="numpy")
    def _gscan_fwd(task0, task1, u, dt, xz, A, Bm, Cm, Dp, y, ys):  # pragma: no cover - compiled
        """y = (ys + D u) * silu(z), ys = sum_n C h; tasks (b, block of _BLOCK channels), run _G
        channels at a time. Channels are gathered to time-contiguous scratch first: walking
        the token-major arrays along time (a 1-2 KiB stride) thrashes a few L1 sets."""
        nl, nd = u.shape[1], u.shape[2]
        ns = A.shape[1]
        nblk = (nd + _BLOCK - 1) // _BLOCK
        ul = np.empty((_G, nl), np.float32)
        dl = np.empty((_G, nl), np.float32)
        a2 = np.empty((_G, ns), np.float32)
        h = np.empty((_G, ns), np.float32)
        for task in range(task0, task1):
            b = task // nblk
            d0 = (task % nblk) * _BLOCK
            d1 = min(nd, d0 + _BLOCK)
            for c0 in range(d0, d1, _G):
                m = min(_G, d1 - c0)
                _load_group(b, c0, m, u, dt, ul, dl)
                _log2_rates(A, c0, m, a2)
                h[:] = _ZERO
                for t in range(nl):
                    bt = Bm[b, t]
                    ct = Cm[b, t]
                    for g in range(_G):
                        dtt = dl[g, t]
                        dut = dtt * ul[g, t]
                        dte = max(dtt, _ZERO)
                        ag = a2[g]
                        hg = h[g]
                        acc = _ZERO
                        for n in range(ns):  # exp inline: no table to write and read back
                            hn = _exp2_cut(dte * ag[n]) * hg[n] + dut * bt[n]
                            hg[n] = hn
                            acc += hn * ct[n]
                        if g < m:
                            ys[b, t, c0 + g] = acc
            for t in range(nl):  # D skip and gate along the block's channels (contiguous)
                yr = ys[b, t]
                ur = u[b, t]
                zr = xz[b, t, nd:]
                out = y[b, t]
                for d in range(d0, d1):
                    z = zr[d]
                    out[d] = (yr[d] + Dp[d] * ur[d]) * z * _sigmoid(z)

    @_nb.njit(inline="always", fastmath=True, error_model="numpy")
    def _gate_grads(b, d0, d1, u, xz, Dp, dy, ys, dxz, gy, dDp):  # pragma: no cover - compiled
        """Through the silu(z) gate, channels d0..d1-1 of batch item b along whole rows:
        dL/dz into dxz, gy = dL/d(ys), dDp += dL/dD."""
        nd = u.shape[2]
        for t in range(u.shape[1]):
            zr = xz[b, t, nd:]
            gout = dy[b, t]
            gr = gy[b, t]
            for d in range(d0, d1):
                z = zr[d]
                gr[d] = gout[d] * z * _sigmoid(z)
            ur = u[b, t]
            yr = ys[b, t]
            dzr = dxz[b, t, nd:]
            for d in range(d0, d1):
                z = zr[d]
                sz = _sigmoid(z)
                dzr[d] = gout[d] * (yr[d] + Dp[d] * ur[d]) * sz * (_ONE + z * (_ONE - sz))
            for d in range(d0, d1):
                dDp[d] += gr[d] * ur[d]

    @_nb.njit(inline="always", fastmath=True, error_model="numpy")
    def _adjoint(ex, gy, cm, dh):  # pragma: no cover - compiled
        """dh[g, t] = dL/dh_t = dh[g, t + 1] * ex[g, t + 1] + gy_t C_t over reverse time,
        the _G channels interleaved."""
        nl = gy.shape[1]
        for g in range(_G):
            last = dh[g, nl - 1]
            for n in range(last.shape[0]):
                last[n] = gy[g, nl - 1] * cm[nl - 1, n]
        for i in range(nl - 1):
            t = nl - 2 - i
            ct = cm[t]
            for g in range(_G):
                nxt = dh[g, t + 1]
                e1 = ex[g, t + 1]
                cur = dh[g, t]
                gt = gy[g, t]
                for n in range(cur.shape[0]):
                    cur[n] = nxt[n] * e1[n] + gt * ct[n]

    @_nb.njit(inline="always", fastmath=True, error_model="numpy")
    def _bc_grads(dl, ul, gy, hs, dh, dbp, dcp):  # pragma: no cover - compiled
        """dB_t += sum_g dh[g, t] dt u, dC_t += sum_g gy h_t over the _G (= 4) channels."""
        for t in range(dl.shape[1]):
            w0, w1, w2, w3 = dl[0, t] * ul[0, t], dl[1, t] * ul[1, t], dl[2, t] * ul[2, t], dl[3, t] * ul[3, t]
            h0, h1, h2, h3 = dh[0, t], dh[1, t], dh[2, t], dh[3, t]
            row = dbp[t]
            for n in range(row.shape[0]):
                row[n] += h0[n] * w0 + h1[n] * w1 + h2[n] * w2 + h3[n] * w3
        for t in range(dl.shape[1]):
            w0, w1, w2, w3 = gy[0, t], gy[1, t], gy[2, t], gy[3, t]
            h0, h1, h2, h3 = hs[0, t + 1], hs[1, t + 1], hs[2, t + 1], hs[3, t + 1]
            row = dcp[t]
            for n in range(row.shape[0]):
                row[n] += h0[n] * w0 + h1[n] * w1 + h2[n] * w2 + h3[n] * w3

    @_nb.njit(nogil=True, fastmath=True, cache=True, boundscheck=False, error_model="numpy")
    def _gscan_bwd(task0, task1, u, dt, xz, A, Bm, Cm, Dp, dy, ys, gy_all,
                   du_out, ddt_out, dxz, dA_part, dD_part, dB_part, dC_part):  # pragma: no cover
        """States recomputed, then the adjoint dh_t = dL/dh_t over reverse time, then every
        gradient as a sum over n or t of dh, h and exp(dt A); _G channels at a time. Tasks
        (b, channel group) own the group's partial sums of dB, dC. ys: the forward's
        sum_n C h; gy_all: scratch (B, L, D)."""
        nl, nd = u.shape[1], u.shape[2]
        ns = A.shape[1]
        ng = dB_part.shape[1]
        hs = np.empty((_G, nl + 1, ns), np.float32)
        ex = np.empty((_G, nl, ns), np.float32)
        dh = np.empty((_G, nl, ns), np.float32)
        ul = np.empty((_G, nl), np.float32)
        dl = np.empty((_G, nl), np.float32)
        gy = np.empty((_G, nl), np.float32)
        a2 = np.empty((_G, ns), np.float32)
        for task in range(task0, task1):
            b = task // ng
            grp = task % ng
            bm = Bm[b]
            cm = Cm[b]
            d0 = (grp * nd) // ng
            d1 = ((grp + 1) * nd) // ng
            _gate_grads(b, d0, d1, u, xz, Dp, dy, ys, dxz, gy_all, dD_part[b])
            for c0 in range(d0, d1, _G):
                m = min(_G, d1 - c0)
                _load_group(b, c0, m, u, dt, ul, dl)
                _log2_rates(A, c0, m, a2)
                for g in range(_G):
                    _exp_table(dl[g], a2[g], ex[g])
                _states(ex, dl, ul, bm, hs)
                for g in range(_G):
                    for t in range(nl):
                        gy[g, t] = gy_all[b, t, c0 + g] if g < m else _ZERO
                _adjoint(ex, gy, cm, dh)
                for g in range(m):
                    d = c0 + g
                    a = A[d]
                    dal = dA_part[b, d]
                    dal[:] = _ZERO
                    for t in range(nl):
                        dht = dh[g, t]
                        hp = hs[g, t]
                        et = ex[g, t]
                        bt = bm[t]
                        dtt = dl[g, t]
                        q = _ZERO
                        s = _ZERO
                        for n in range(ns):
                            w = dht[n] * hp[n] * et[n]  # dh_t h_{t-1} exp(dt a): the path through dt a
                            q += w * a[n]
                            s += dht[n] * bt[n]
                            dal[n] += w * dtt
                        ddt_out[b, t, d] = q + s * ul[g, t]
                        du_out[b, t, d] = s * dtt + gy[g, t] * Dp[d]
                _bc_grads(dl, ul, gy, hs, dh, dB_part[b, grp], dC_part[b, grp])


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
        dwT_part = torch.zeros(batch, w.shape[1], dim, dtype=xz.dtype)
        db_part = torch.zeros(batch, dim, dtype=xz.dtype)
        if du.numel():
            _scan._run_split(
                _conv_bwd, batch, xz.numpy(), w.t().contiguous().numpy(), cb.numpy(),
                du.detach().contiguous().numpy(), dxz.numpy(), dwT_part.numpy(), db_part.numpy(),
            )
        return dxz, dwT_part.sum(0).t()[:, None, :], db_part.sum(0)


class _GatedScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u: Tensor, dt: Tensor, xz: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor) -> Tensor:  # type: ignore[override]
        u, dt, xz, A, B, C, D = (x.detach().contiguous() for x in (u, dt, xz, A, B, C, D))
        y = torch.empty_like(u)
        ys = torch.empty_like(u)  # sum_n C h, kept for the backward (as small as u)
        if u.numel():
            _scan._run_split(
                _gscan_fwd, u.shape[0] * _tasks_per_batch(u.shape[2]),
                u.numpy(), dt.numpy(), xz.numpy(), A.numpy(), B.numpy(), C.numpy(), D.numpy(), y.numpy(),
                ys.numpy(),
            )
        ctx.save_for_backward(u, dt, xz, A, B, C, D, ys)
        return y

    @staticmethod
    def backward(ctx, dy: Tensor):  # type: ignore[override]
        u, dt, xz, A, B, C, D, ys = ctx.saved_tensors
        batch, length, dim = u.shape
        ns = A.shape[1]
        groups = _scan._groups(batch, dim)
        du = torch.empty_like(u)
        ddt = torch.empty_like(dt)
        dxz = torch.zeros_like(xz)
        dA_part = torch.empty(batch, dim, ns, dtype=u.dtype)
        dD_part = torch.zeros(batch, dim, dtype=u.dtype)
        dB_part = torch.zeros(batch, groups, length, ns, dtype=u.dtype)
        dC_part = torch.zeros(batch, groups, length, ns, dtype=u.dtype)
        if u.numel():
            _scan._run_split(
                _gscan_bwd, batch * groups, u.numpy(), dt.numpy(), xz.numpy(), A.numpy(), B.numpy(),
                C.numpy(), D.numpy(), dy.detach().contiguous().numpy(), ys.numpy(), torch.empty_like(u).numpy(),
                du.numpy(), ddt.numpy(), dxz.numpy(), dA_part.numpy(), dD_part.numpy(), dB_part.numpy(),
                dC_part.numpy(),
            )
        else:
            du.zero_()
            ddt.zero_()
            dA_part.zero_()
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
