"""Mamba layer: mamba-ssm parameter layout and initialisation, backend choice, CUDA parity."""

from __future__ import annotations

import logging
import math

import pytest
import torch

from metst_engine.models import mamba as mamba_mod
from metst_engine.models.mamba import (
    ENV_BACKEND,
    Mamba,
    cuda_backend_available,
    resolve_backend,
)
from metst_engine.models.scan import fused_available

EXPECTED_SHAPES = {  # mamba_ssm.modules.mamba_simple.Mamba(d_model=20, d_state=16)
    "A_log": (40, 16),
    "D": (40,),
    "in_proj.weight": (80, 20),
    "conv1d.weight": (40, 1, 4),
    "conv1d.bias": (40,),
    "x_proj.weight": (2 + 32, 40),
    "dt_proj.weight": (40, 2),
    "dt_proj.bias": (40,),
    "out_proj.weight": (20, 40),
}


def test_parameter_names_and_shapes_match_mamba_ssm():
    layer = Mamba(20, d_state=16)
    shapes = {k: tuple(v.shape) for k, v in layer.state_dict().items()}
    assert shapes == EXPECTED_SHAPES
    assert layer.dt_rank == math.ceil(20 / 16)


def test_mamba_ssm_initialisation():
    torch.manual_seed(0)
    layer = Mamba(64, d_state=8, dt_min=0.001, dt_max=0.1)
    n = torch.arange(1, 9, dtype=torch.float32)
    torch.testing.assert_close(layer.A_log, torch.log(n).repeat(128, 1))
    assert torch.all(layer.D == 1)
    dt = torch.nn.functional.softplus(layer.dt_proj.bias)
    assert dt.min() >= 0.001 * 0.999 and dt.max() <= 0.1 * 1.001
    assert dt.std() > 0  # log-uniform draw, not a constant
    bound = layer.dt_rank**-0.5
    assert layer.dt_proj.weight.abs().max() <= bound


def test_state_dict_loads_across_instances_and_outputs_agree():
    torch.manual_seed(1)
    a, b = Mamba(16, d_state=4), Mamba(16, d_state=4)
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, 11, 16)
    torch.testing.assert_close(a(x), b(x))


@pytest.mark.skipif(not fused_available(), reason="numba not installed")
def test_layer_fused_and_loop_scans_agree_with_gradients():
    torch.manual_seed(2)
    layer = Mamba(16, d_state=8)
    x = torch.randn(3, 25, 16, requires_grad=True)
    outs, grads = [], []
    for impl in ("fused", "loop"):
        layer.scan_impl = impl
        y = layer(x)
        outs.append(y)
        grads.append(torch.autograd.grad(y.square().sum(), [x, *layer.parameters()]))
    torch.testing.assert_close(outs[0], outs[1], rtol=1e-4, atol=1e-5)
    for g0, g1 in zip(*grads):
        torch.testing.assert_close(g0, g1, rtol=1e-3, atol=1e-3 * float(g1.abs().max().clamp_min(1e-6)))


def test_output_is_causal():
    torch.manual_seed(3)
    layer = Mamba(8, d_state=4)
    x = torch.randn(1, 12, 8)
    x2 = x.clone()
    x2[:, 7:] += 1.0
    y, y2 = layer(x), layer(x2)
    torch.testing.assert_close(y[:, :7], y2[:, :7])
    assert not torch.allclose(y[:, 7:], y2[:, 7:])


def test_backend_resolution_argument_env_and_errors(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.delenv(ENV_BACKEND, raising=False)
    assert resolve_backend(None, cpu) == "torch"
    assert resolve_backend("auto", cpu) == "torch"
    monkeypatch.setenv(ENV_BACKEND, "cuda")
    with pytest.raises(RuntimeError, match="CUDA tensors"):
        resolve_backend(None, cpu)
    assert resolve_backend("torch", cpu) == "torch"  # the argument wins over the variable
    monkeypatch.setenv(ENV_BACKEND, "bogus")
    with pytest.raises(ValueError, match="unknown Mamba backend"):
        resolve_backend(None, cpu)
    monkeypatch.setenv(ENV_BACKEND, "cuda")
    with pytest.raises(RuntimeError):
        Mamba(8, d_state=4)(torch.randn(1, 3, 8))


def test_backend_choice_is_logged_once(monkeypatch, caplog):
    monkeypatch.setattr(mamba_mod, "_logged", set())
    with caplog.at_level(logging.INFO, logger=mamba_mod.__name__):
        layer = Mamba(8, d_state=4)
        for _ in range(3):
            layer(torch.randn(1, 5, 8))
    msgs = [r.getMessage() for r in caplog.records if "Mamba backend" in r.getMessage()]
    assert msgs == ["Mamba backend: torch on cpu"]


def test_mamba_ssm_import_is_guarded():
    # Released mamba-ssm cannot be imported without CUDA; probing must not raise.
    available = cuda_backend_available()
    assert isinstance(available, bool)
    if not torch.cuda.is_available():
        assert available is False


@pytest.mark.cuda
@pytest.mark.skipif(not cuda_backend_available(), reason="needs a CUDA GPU and mamba-ssm")
def test_cuda_and_torch_backends_agree_on_gpu():  # pragma: no cover - runs on GPU machines
    torch.manual_seed(4)
    layer = Mamba(64, d_state=16).cuda()
    x = torch.randn(4, 50, 64, device="cuda", requires_grad=True)
    layer.backend = "cuda"
    y_cuda = layer(x)
    g_cuda = torch.autograd.grad(y_cuda.square().sum(), [x, *layer.parameters()])
    layer.backend = "torch"
    y_torch = layer(x)
    g_torch = torch.autograd.grad(y_torch.square().sum(), [x, *layer.parameters()])
    torch.testing.assert_close(y_cuda, y_torch, rtol=1e-3, atol=1e-4)
    for a, b in zip(g_cuda, g_torch):
        torch.testing.assert_close(a, b, rtol=1e-2, atol=1e-2 * float(b.abs().max().clamp_min(1e-6)))
    # and the CPU fused path on the same weights
    y_cpu = layer.cpu()(x.detach().cpu())
    torch.testing.assert_close(y_cpu, y_cuda.detach().cpu(), rtol=1e-3, atol=1e-4)


def test_layer_works_without_numba(monkeypatch):
    from metst_engine.models import fused, scan

    torch.manual_seed(5)
    layer = Mamba(16, d_state=4)
    x = torch.randn(2, 13, 16)
    with_numba = layer(x)
    monkeypatch.setattr(scan, "_nb", None)
    monkeypatch.setattr(fused, "_nb", None)
    assert not scan.fused_available() and not fused.available()
    without = layer(x)
    torch.testing.assert_close(without, with_numba, rtol=1e-4, atol=1e-5)
    layer.scan_impl = "fused"
    with pytest.raises(ValueError, match="numba"):
        layer(x)
