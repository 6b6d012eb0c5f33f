"""ME-TST and ME-TST+: shapes, branch wiring, initialisation, registry, options."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from metst_engine.models import (
    METST,
    METSTPlus,
    build_model,
    default_config,
    model_name_of,
    model_names,
)
from metst_engine.models.layers import DropPath, drop_path_rates
from metst_engine.models.mamba import Mamba

SMALL_PLUS = dict(dim=16, d_state=4, layers_per_block=2)


@pytest.fixture(scope="module")
def metst() -> torch.nn.Module:
    return build_model("metst", seed=0, depth=3).eval()


@pytest.fixture(scope="module")
def metst_plus() -> torch.nn.Module:
    return build_model("metst_plus", seed=0).eval()


@pytest.mark.parametrize("length", [1, 2, 3, 4, 7, 50])
def test_metst_shapes(metst, length):
    with torch.no_grad():
        spot, recog = metst(torch.randn(2, 10, length))
    assert spot.shape == (2, length) and recog.shape == (2, length, 5)
    assert torch.all((spot > 0) & (spot < 1))


@pytest.mark.parametrize("length", [1, 2, 3, 5, 50, 51])
def test_metst_plus_shapes_including_odd_and_short_windows(metst_plus, length):
    with torch.no_grad():
        out = metst_plus(torch.randn(2, 36, length))
    assert out.spot.shape == (2, length) and out.recog.shape == (2, length, 5)
    assert torch.all((out.spot > 0) & (out.spot < 1))
    assert torch.isfinite(out.recog).all()


def test_wrong_input_shape_is_a_clear_error(metst_plus):
    with pytest.raises(ValueError, match=r"\(B, 36, T\)"):
        metst_plus(torch.randn(2, 10, 50))


def test_metst_plus_architecture_follows_the_paper(metst_plus):
    cfg = metst_plus.config
    assert cfg.in_channels == 36 and cfg.dim == 128
    assert metst_plus.stem[0].in_channels == 36 and metst_plus.stem[3].out_channels == 128
    for trunk in (metst_plus.spot_trunk, metst_plus.recog_trunk):
        assert len(trunk.fast_blocks) == 3 and all(len(b) == 4 for b in trunk.fast_blocks)
        assert len(trunk.slow_blocks) == 3 and all(len(b) == 4 for b in trunk.slow_blocks)
        assert trunk.fast_blocks[0][0].mamba.d_model == 128
        assert trunk.slow_blocks[0][0].mamba.d_model == 256
        lat = trunk.laterals[0][0]
        assert (lat.in_channels, lat.out_channels, lat.stride) == (128, 256, (2,))
        assert len(trunk.laterals) == 2          # METST_SF: fuse_1, fuse_2; none after the last block
        for blocks in (trunk.fast_blocks, trunk.slow_blocks):   # per block of 4: 0, 0, 0.067, 0.133
            for block in blocks:
                rates = [layer.drop_path.rate for layer in block]
                assert rates == pytest.approx([0.0, 0.0, 0.2 / 3, 0.4 / 3], abs=1e-6)
    assert metst_plus.spot_head.in_features == 384 and metst_plus.recog_head.in_features == 384
    # per-task trunks have their own weights
    a = metst_plus.spot_trunk.fast_blocks[0][0].mamba.in_proj.weight
    b = metst_plus.recog_trunk.fast_blocks[0][0].mamba.in_proj.weight
    assert a.data_ptr() != b.data_ptr() and not torch.equal(a, b)


def test_metst_plus_paper_variant_adds_a_lateral_after_the_last_block():
    public = build_model("metst_plus", seed=0, **SMALL_PLUS).eval()
    paper = build_model("metst_plus", seed=0, lateral_after_last=True, **SMALL_PLUS).eval()
    assert len(public.spot_trunk.laterals) == 2 and len(paper.spot_trunk.laterals) == 3
    x = torch.randn(1, 36, 10)
    with torch.no_grad():
        last = paper.spot_trunk.laterals[2]
        base = paper(x).spot
        last[1].bias.fill_(5.0)              # the third lateral is on the spotting output's path
        assert not torch.allclose(base, paper(x).spot)


def test_slow_path_sees_the_fast_path_through_laterals():
    model = build_model("metst_plus", seed=0, **SMALL_PLUS).eval()
    trunk = model.spot_trunk
    x = torch.randn(1, 16, 10)
    base = trunk(x)
    with torch.no_grad():
        for lat in trunk.laterals:
            lat[0].weight.zero_()
            lat[0].bias.zero_()
            lat[1].bias.fill_(-100.0)  # ReLU(.) = 0: laterals switched off
    cut = trunk(x)
    assert not torch.allclose(base[..., :32], cut[..., :32])  # slow half changes
    torch.testing.assert_close(base[..., 32:], cut[..., 32:])  # fast half does not


@pytest.mark.parametrize(
    "overrides",
    [
        dict(slow_input="avgpool"),
        dict(upsample="linear"),
        dict(lateral_after_last=False),
        dict(lateral_kernel=5),
        dict(shared_trunk=True),
        dict(init="mamba"),
    ],
)
@pytest.mark.parametrize("length", [1, 3, 8])
def test_metst_plus_options(overrides, length):
    model = build_model("metst_plus", seed=0, **SMALL_PLUS, **overrides).eval()
    out = model(torch.randn(2, 36, length))
    assert out.spot.shape == (2, length) and out.recog.shape == (2, length, 5)
    if overrides.get("lateral_after_last") is False:
        assert len(model.spot_trunk.laterals) == 2
    if overrides.get("shared_trunk"):
        assert model.recog_trunk is None


def test_bad_options_are_rejected():
    with pytest.raises(ValueError, match="lateral_kernel"):
        build_model("metst_plus", lateral_kernel=4, **SMALL_PLUS)
    with pytest.raises(ValueError, match="slow_input"):
        build_model("metst_plus", slow_input="stride", **SMALL_PLUS)
    with pytest.raises(ValueError, match="no option"):
        build_model("metst", widht=3)
    with pytest.raises(ValueError, match="unknown model"):
        build_model("resnet")
    with pytest.raises(ValueError, match="unknown init"):
        build_model("metst", depth=1, init="xavier")


def test_metst_public_forward_by_default_and_the_papers_branches_as_option():
    shared = build_model("metst", seed=0, depth=2).eval()      # public forward: one stack, both heads
    assert isinstance(shared, METST) and shared.recog_branch is None and shared.config.dim == 128
    x = torch.randn(2, 10, 9)
    with torch.no_grad():
        before = shared(x)
        shared.recog_head.weight.add_(0.5)
        after = shared(x)
    assert torch.equal(before.spot, after.spot) and not torch.equal(before.recog, after.recog)
    sep = build_model("metst", seed=0, depth=2, share_branches=False)     # the paper's two branches
    assert sep.recog_branch is not None
    assert not torch.equal(sep.spot_branch[0].mamba.in_proj.weight, sep.recog_branch[0].mamba.in_proj.weight)
    assert not any(k.startswith("recog_branch") for k in shared.state_dict())
    x = torch.randn(2, 10, 9)
    spot, recog = shared(x)
    feats = shared.stem(x).transpose(1, 2)
    for blk in shared.spot_branch:
        feats = blk(feats)
    torch.testing.assert_close(recog, shared.recog_head(feats))
    torch.testing.assert_close(spot, shared.spot_head(feats).squeeze(-1).sigmoid())


def test_public_initialisation():
    model = build_model("metst", seed=3)
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear):
            if module.bias is not None:
                assert torch.all(module.bias == 0), name  # dt_proj.bias too
            if not name.endswith("out_proj"):
                assert module.weight.abs().max() <= 2.0 and abs(float(module.weight.detach().std()) - 0.02) < 0.006, name
    mam = model.spot_branch[0].mamba
    bound = 1.0 / mam.d_inner**0.5 / 2  # kaiming_uniform(a=sqrt5) bound / sqrt(4)
    w = mam.out_proj.weight
    assert w.abs().max() <= bound and w.abs().max() > 0.8 * bound
    rates = [blk.drop_path.rate for blk in model.spot_branch]
    assert rates[0] == 0 and rates[1] == 0 and abs(rates[-1] - 0.2 * 10 / 11) < 1e-6
    assert max(rates) == pytest.approx(0.1818, abs=1e-3)


def test_mamba_initialisation_option_keeps_dt_bias():
    model = build_model("metst", seed=3, depth=2, init="mamba")
    dt = torch.nn.functional.softplus(model.spot_branch[0].mamba.dt_proj.bias)
    assert dt.min() >= 0.0009 and dt.max() <= 0.1001


def test_drop_path_schedule_and_behaviour():
    assert drop_path_rates(4, 0.2) == pytest.approx([0.0, 0.0, 0.2 / 3, 0.4 / 3])
    assert drop_path_rates(4, 0.2, shifted=False) == pytest.approx([0.0, 0.2 / 3, 0.4 / 3, 0.2])
    assert drop_path_rates(1, 0.2) == [0.0]
    dp = DropPath(0.5)
    x = torch.ones(2000, 3)
    dp.eval()
    assert torch.equal(dp(x), x)
    dp.train()
    torch.manual_seed(0)
    y = dp(x)
    kept = (y[:, 0] != 0).float().mean()
    assert 0.4 < kept < 0.6 and set(y.unique().tolist()) <= {0.0, 2.0}


def test_seeded_builds_are_deterministic_and_leave_global_rng_alone():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = build_model("metst", seed=7, depth=2)
    after = torch.rand(1)
    assert torch.equal(before, after)
    b = build_model("metst", seed=7, depth=2)
    c = build_model("metst", seed=8, depth=2)
    for (k, va), vb, vc in zip(a.state_dict().items(), b.state_dict().values(), c.state_dict().values()):
        assert torch.equal(va, vb), k
    assert any(not torch.equal(va, vc) for va, vc in zip(a.state_dict().values(), c.state_dict().values()))


def test_training_step_reaches_every_parameter():
    model = build_model("metst_plus", seed=0, **SMALL_PLUS).train()
    spot, recog = model(torch.randn(3, 36, 12))
    (spot.mean() + recog.square().mean()).backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert no_grad == []


def test_registry():
    assert model_names() == ["metst", "metst_plus"]
    cfg = default_config("metst_plus")
    assert cfg["in_channels"] == 36 and cfg["dim"] == 128 and cfg["slow_input"] == "conv"
    assert default_config("metst")["in_channels"] == 10
    m = build_model("metst_plus", **SMALL_PLUS)
    assert isinstance(m, METSTPlus) and model_name_of(m) == "metst_plus"
    assert dataclasses.asdict(m.config)["dim"] == 16


def test_backend_argument_reaches_every_layer():
    model = build_model("metst", depth=2, backend="torch")
    backends = {m.backend for m in model.modules() if isinstance(m, Mamba)}
    assert backends == {"torch"}


@pytest.mark.parametrize("preset, expected", [
    ({}, "PASSIVE 300"), ({"OMP_WAIT_POLICY": "ACTIVE"}, "ACTIVE 300"),
    ({"GOMP_SPINCOUNT": "0"}, "PASSIVE 0"),
])
def test_openmp_workers_wait_passively_unless_the_user_chose(preset, expected):
    # torch's spinning OpenMP workers starve the numba kernel threads; the package sets the
    # defaults (a short spin, then sleep) before torch loads, and a user's own setting wins
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env.update(preset)
    code = "import metst_engine, os; print(os.environ['OMP_WAIT_POLICY'], os.environ['GOMP_SPINCOUNT'])"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == expected
