"""Selective scan (the SSM recurrence of Mamba) on plain PyTorch and on CPU with numba.

Three implementations of the same recurrence, per batch b, channel d and state n::

    dt_t  = softplus(delta_t + delta_bias)          (if delta_softplus)
    h_t   = exp(dt_t * A[d, n]) * h_{t-1} + dt_t * B_t[n] * u_t
    y_t   = sum_n C_t[n] * h_t[n] + D[d] * u_t
    out_t = y_t * silu(z_t)                          (if z is given)

* ``selective_scan_reference``: a plain loop over time, clear and device-agnostic; the
  tests hold the others to it.
* ``selective_scan_materialized``: the formulation mamba-ssm ships as
  ``selective_scan_ref`` (exp(delta*A) and delta*B*u materialised for every step, then a loop);
  the benchmark baseline.
* ``selective_scan`` with ``impl="fused"``: a numba kernel that never materialises the
  (B, D, L, N) tensors, parallel over batch and channels, with a matching fused reverse-time
  backward (an ``autograd.Function``). Used automatically for float32 CPU tensors when numba
  is importable; otherwise ``selective_scan`` falls back to the reference loop.

Tensor layout follows mamba-ssm: u, delta, z are (B, D, L); A is (D, N); B, C are (B, N, L).
"""

from __future__ import annotations

import threading

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

try:  # numba is the CPU fast path; everything still works without it.
    import numba as _nb
except Exception:  # pragma: no cover - depends on the environment
    _nb = None

__all__ = [
    "fused_available",
    "scan_core",
    "selective_scan",
    "selective_scan_materialized",
    "selective_scan_reference",
]


def fused_available() -> bool:
    """True when the numba kernels can be used (numba imports)."""
    return _nb is not None


# --------------------------------------------------------------------------------------
# Reference implementations (pure torch, any device, autograd through torch ops).
# --------------------------------------------------------------------------------------


def _prepare_delta(delta: Tensor, delta_bias: Tensor | None, delta_softplus: bool) -> Tensor:
    if delta_bias is not None:
        delta = delta + delta_bias[..., None].to(delta.dtype)
    if delta_softplus:
        delta = F.softplus(delta)
    return delta


def _finish(y: Tensor, u: Tensor, D: Tensor | None, z: Tensor | None) -> Tensor:
    if D is not None:
        y = y + u * D[..., None].to(u.dtype)
    if z is not None:
        y = y * F.silu(z)
    return y


def selective_scan_reference(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    z: Tensor | None = None,
    delta_bias: Tensor | None = None,
    delta_softplus: bool = False,
) -> Tensor:
    """Plain sequential scan: one step per time index, state (B, D, N) carried along."""
    delta = _prepare_delta(delta, delta_bias, delta_softplus)
    batch, dim, length = u.shape
    h = u.new_zeros(batch, dim, A.shape[1])
    ys = []
    for t in range(length):
        dt_t = delta[:, :, t, None]  # (B, D, 1)
        h = torch.exp(dt_t * A) * h + (dt_t * u[:, :, t, None]) * B[:, None, :, t]
        ys.append((h * C[:, None, :, t]).sum(-1))
    y = torch.stack(ys, dim=-1) if ys else u.new_zeros(batch, dim, 0)
    return _finish(y, u, D, z)


def selective_scan_materialized(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    z: Tensor | None = None,
    delta_bias: Tensor | None = None,
    delta_softplus: bool = False,
) -> Tensor:
    """mamba-ssm's reference formulation: materialise exp(delta*A) and delta*B*u, then loop."""
    delta = _prepare_delta(delta, delta_bias, delta_softplus)
    delta_a = torch.exp(torch.einsum("bdl,dn->bdln", delta, A))
    delta_b_u = torch.einsum("bdl,bnl,bdl->bdln", delta, B, u)
    h = u.new_zeros(u.shape[0], u.shape[1], A.shape[1])
    ys = []
    for t in range(u.shape[2]):
        h = delta_a[:, :, t] * h + delta_b_u[:, :, t]
        ys.append(torch.einsum("bdn,bn->bd", h, C[:, :, t]))
    y = torch.stack(ys, dim=2) if ys else u.new_zeros(u.shape)
    return _finish(y, u, D, z)


# --------------------------------------------------------------------------------------
# Fused numba kernels (float32, CPU).
# --------------------------------------------------------------------------------------

if _nb is not None:
    _f32 = np.float32
    # exp(x) = 2^k * exp(r), r = x - k ln2, |r| <= ln2/2; Cody-Waite split of ln2 and a
    # degree-6 Taylor polynomial (relative error < 2e-7). Written out so that LLVM
    # vectorises it (a libm call per element would not be), 2^k built from its bits.
    _LOG2E = _f32(1.4426950408889634)
    _LN2_HI = _f32(0.693359375)
    _LN2_LO = _f32(-2.12194440e-4)
    _C2 = _f32(1.0 / 2.0)
    _C3 = _f32(1.0 / 6.0)
    _C4 = _f32(1.0 / 24.0)
    _C5 = _f32(1.0 / 120.0)
    _C6 = _f32(1.0 / 720.0)
    _ONE = _f32(1.0)
    _HALF = _f32(0.5)
    _ZERO = _f32(0.0)
    _XLO = _f32(-87.0)
    # exp(x) < 4.3e-18 is flushed to 0: it cannot change a float32 state measurably, and
    # the tiny factors would otherwise breed denormals, which are ~100x slower on x86.
    _XCUT = _f32(-40.0)
    _XHI = _f32(88.0)

    @_nb.njit(inline="always", fastmath=True)
    def _exp_row(dtt, a, mant, expo):  # pragma: no cover - compiled
        """mant * view(expo) = exp(dtt * a), elementwise over the state axis (0 below e^-40)."""
        for n in range(a.shape[0]):
            x = min(max(dtt * a[n], _XLO), _XHI)
            kf = np.floor(x * _LOG2E + _HALF)
            r = x - kf * _LN2_HI - kf * _LN2_LO
            p = _ONE + r * (_ONE + r * (_C2 + r * (_C3 + r * (_C4 + r * (_C5 + r * _C6)))))
            mant[n] = _ZERO if x < _XCUT else p
            expo[n] = (np.int32(kf) + np.int32(127)) << np.int32(23)

    @_nb.njit(nogil=True, fastmath=True, cache=True, boundscheck=False)
    def _fwd_kernel(task0, task1, u, dt, A, Bm, Cm, y):  # pragma: no cover - compiled
        """y[b, d, t] = sum_n C h for tasks (b, d) = divmod(task, D) in [task0, task1).
        u, dt, y: (B, D, L); A: (D, N); Bm, Cm: (B, L, N)."""
        nd, nl = u.shape[1], u.shape[2]
        ns = A.shape[1]
        for task in range(task0, task1):
            b = task // nd
            d = task % nd
            h = np.zeros(ns, np.float32)
            mant = np.empty(ns, np.float32)
            expo = np.empty(ns, np.int32)
            scale = expo.view(np.float32)
            a = A[d]
            for t in range(nl):
                dtt = dt[b, d, t]
                du = dtt * u[b, d, t]
                bt = Bm[b, t]
                ct = Cm[b, t]
                _exp_row(dtt, a, mant, expo)
                acc = _ZERO
                for n in range(ns):
                    hn = mant[n] * scale[n] * h[n] + du * bt[n]
                    h[n] = hn
                    acc += hn * ct[n]
                y[b, d, t] = acc

    @_nb.njit(nogil=True, fastmath=True, cache=True, boundscheck=False)
    def _bwd_kernel(task0, task1, u, dt, A, Bm, Cm, dy, du_out, ddt_out, dA_part, dB_part, dC_part):  # pragma: no cover
        """Reverse-time pass for tasks (b, g) = divmod(task, G) in [task0, task1). Each task
        owns batch b and a group of channels, so the per-group partial sums of dB, dC
        (reduced over channels) need no atomics."""
        nd, nl = u.shape[1], u.shape[2]
        ns = A.shape[1]
        ng = dB_part.shape[1]
        for task in range(task0, task1):
            b = task // ng
            g = task % ng
            d0 = (g * nd) // ng
            d1 = ((g + 1) * nd) // ng
            hs = np.empty((nl + 1, ns), np.float32)
            ex = np.empty((nl, ns), np.float32)
            mant = np.empty(ns, np.float32)
            expo = np.empty(ns, np.int32)
            scale = expo.view(np.float32)
            dh = np.empty(ns, np.float32)
            dal = np.empty(ns, np.float32)
            for d in range(d0, d1):
                a = A[d]
                hs[0, :] = _ZERO
                for t in range(nl):  # recompute the states (never stored by the forward)
                    dtt = dt[b, d, t]
                    du = dtt * u[b, d, t]
                    bt = Bm[b, t]
                    _exp_row(dtt, a, mant, expo)
                    for n in range(ns):
                        e = mant[n] * scale[n]
                        ex[t, n] = e
                        hs[t + 1, n] = e * hs[t, n] + du * bt[n]
                dh[:] = _ZERO
                dal[:] = _ZERO
                for t in range(nl - 1, -1, -1):
                    gy = dy[b, d, t]
                    dtt = dt[b, d, t]
                    ut = u[b, d, t]
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
                    du_out[b, d, t] = acc_u * dtt
                    ddt_out[b, d, t] = acc_dt
                for n in range(ns):
                    dA_part[b, d, n] = dal[n]


def _groups(batch: int, dim: int) -> int:
    """Channel groups per batch item in the backward: enough tasks to keep cores busy
    for small batches; a function of the shapes only, so results are deterministic."""
    return max(1, min(dim, 32 // max(batch, 1)))


def _run_split(kernel, n_tasks: int, *arrays: np.ndarray) -> None:
    """Run ``kernel(task0, task1, *arrays)`` over [0, n_tasks) on torch.get_num_threads()
    threads (the kernels release the GIL). Plain short-lived threads rather than numba's
    parallel runtime: a second OpenMP pool next to torch's makes both spin against each
    other (measured 2-3x slower end to end on 2 cores)."""
    n_threads = max(1, min(torch.get_num_threads(), n_tasks))
    bounds = [(i * n_tasks) // n_threads for i in range(n_threads + 1)]
    workers = [
        threading.Thread(target=kernel, args=(bounds[i], bounds[i + 1], *arrays))
        for i in range(1, n_threads)
    ]
    for w in workers:
        w.start()
    kernel(bounds[0], bounds[1], *arrays)
    for w in workers:
        w.join()


class _FusedScan(torch.autograd.Function):
    """y = SSM(u, dt, A, B, C) with dt already positive; B, C in (B, L, N) layout."""

    @staticmethod
    def forward(ctx, u: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor) -> Tensor:  # type: ignore[override]
        u, dt, A, B, C = (x.detach().contiguous() for x in (u, dt, A, B, C))
        y = torch.empty_like(u)
        if u.numel() > 0 and A.shape[1] > 0:
            _run_split(_fwd_kernel, u.shape[0] * u.shape[1], u.numpy(), dt.numpy(), A.numpy(), B.numpy(), C.numpy(), y.numpy())
        else:
            y.zero_()
        ctx.save_for_backward(u, dt, A, B, C)
        return y

    @staticmethod
    def backward(ctx, dy: Tensor):  # type: ignore[override]
        u, dt, A, B, C = ctx.saved_tensors
        batch, dim, length = u.shape
        ns = A.shape[1]
        groups = _groups(batch, dim)
        du = torch.zeros_like(u)
        ddt = torch.zeros_like(dt)
        dA_part = torch.zeros(batch, dim, ns, dtype=u.dtype)
        dB_part = torch.zeros(batch, groups, length, ns, dtype=u.dtype)
        dC_part = torch.zeros(batch, groups, length, ns, dtype=u.dtype)
        if u.numel() > 0 and ns > 0:
            _run_split(
                _bwd_kernel, batch * groups, u.numpy(), dt.numpy(), A.numpy(), B.numpy(), C.numpy(),
                dy.detach().contiguous().numpy(), du.numpy(), ddt.numpy(),
                dA_part.numpy(), dB_part.numpy(), dC_part.numpy(),
            )
        return du, ddt, dA_part.sum(0), dB_part.sum(1), dC_part.sum(1)


def _fused_applicable(*tensors: Tensor) -> bool:
    return _nb is not None and all(t.device.type == "cpu" and t.dtype == torch.float32 for t in tensors)


def _loop_core(u: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor) -> Tensor:
    """Reference loop on the (B, L, N) layout used by ``scan_core``."""
    return selective_scan_reference(u, dt, A, B.transpose(1, 2), C.transpose(1, 2))


def scan_core(u: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor, impl: str = "auto") -> Tensor:
    """SSM output without the D skip and the z gate.

    u, dt: (B, D, L) with dt > 0 (softplus already applied); A: (D, N); B, C: (B, L, N),
    the layout the Mamba layer produces without transposing. impl: auto | fused | loop.
    """
    if impl == "auto":
        impl = "fused" if _fused_applicable(u, dt, A, B, C) else "loop"
    if impl == "fused":
        if not _fused_applicable(u, dt, A, B, C):
            raise ValueError("the fused scan needs numba and float32 CPU tensors")
        return _FusedScan.apply(u, dt, A, B, C)
    if impl == "loop":
        return _loop_core(u, dt, A, B, C)
    raise ValueError(f"unknown scan implementation {impl!r} (auto, fused, loop)")


def selective_scan(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    z: Tensor | None = None,
    delta_bias: Tensor | None = None,
    delta_softplus: bool = False,
    impl: str = "auto",
) -> Tensor:
    """Same contract as mamba-ssm's ``selective_scan_fn`` (B, C as (B, N, L))."""
    dt = _prepare_delta(delta, delta_bias, delta_softplus)
    y = scan_core(u, dt, A, B.transpose(1, 2), C.transpose(1, 2), impl=impl)
    return _finish(y, u, D, z)

