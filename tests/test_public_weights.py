"""The authors' published weights (issue 13, part 5): all three layouts import, every tensor
lands where the forward reads it, anything else is refused, and a folder imports as a run.

The state dicts below are built from the published key names and shapes (facts of
zizheng-guo/ME-TST's network.py / network_sf.py, small widths), with random values, and saved
as the authors save them: ``torch.save`` of a DataParallel state dict. The reference forward
``public_forward`` reads those names directly, so it does not share the import's key map.
"""

from __future__ import annotations

import json
import math
import pickle
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from metst_engine.errors import CheckpointError, InputError
from metst_engine.models import import_public_metst, load_checkpoint
from metst_engine.models.mamba import Mamba

ROOT = Path(__file__).resolve().parent.parent
D_STATE, D_CONV, EXPAND = 4, 4, 2


# ------------------------------------------------------------------ published layouts (facts)
def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _rand(g: torch.Generator, *shape: int, scale: float = 0.3) -> torch.Tensor:
    return torch.randn(*shape, generator=g) * scale


def _conv_bn(sd: dict, prefix: str, conv: str, bn: str, c_in: int, c_out: int, g: torch.Generator) -> None:
    sd[f"{prefix}{conv}.weight"] = _rand(g, c_out, c_in, 3)
    sd[f"{prefix}{conv}.bias"] = _rand(g, c_out)
    sd[f"{prefix}{bn}.weight"] = 1 + _rand(g, c_out, scale=0.1)
    sd[f"{prefix}{bn}.bias"] = _rand(g, c_out)
    sd[f"{prefix}{bn}.running_mean"] = _rand(g, c_out)
    sd[f"{prefix}{bn}.running_var"] = 0.5 + torch.rand(c_out, generator=g)
    sd[f"{prefix}{bn}.num_batches_tracked"] = torch.tensor(1234)


def _block(sd: dict, prefix: str, dim: int, g: torch.Generator) -> None:
    """One MambaBlock / Block_mamba: norm1, norm2, attn.norm, attn.mamba (mamba_simple names)."""
    d_inner, rank = EXPAND * dim, math.ceil(dim / 16)
    for norm in ("norm1", "norm2", "attn.norm"):
        sd[f"{prefix}.{norm}.weight"] = 1 + _rand(g, dim, scale=0.1)
        sd[f"{prefix}.{norm}.bias"] = _rand(g, dim, scale=0.1)
    m = f"{prefix}.attn.mamba."
    sd[m + "A_log"] = torch.log(torch.arange(1, D_STATE + 1, dtype=torch.float32)).repeat(d_inner, 1) + _rand(g, d_inner, D_STATE, scale=0.05)
    sd[m + "D"] = 1 + _rand(g, d_inner, scale=0.1)
    sd[m + "in_proj.weight"] = _rand(g, 2 * d_inner, dim)
    sd[m + "conv1d.weight"] = _rand(g, d_inner, 1, D_CONV)
    sd[m + "conv1d.bias"] = _rand(g, d_inner, scale=0.1)
    sd[m + "x_proj.weight"] = _rand(g, rank + 2 * D_STATE, d_inner)
    sd[m + "dt_proj.weight"] = _rand(g, d_inner, rank)
    sd[m + "dt_proj.bias"] = _rand(g, d_inner, scale=0.5) - 3
    sd[m + "out_proj.weight"] = _rand(g, dim, d_inner)


def _stem(sd: dict, c_in: int, dim: int, g: torch.Generator) -> None:
    _conv_bn(sd, "Stem.", "0", "1", c_in, dim, g)
    _conv_bn(sd, "Stem.", "3", "4", dim, dim, g)


def net_mamba_2024(dim: int = 16, depth: int = 2, c_in: int = 10, n_out: int = 5, seed: int = 0) -> dict:
    g, sd = _gen(seed), {}
    _stem(sd, c_in, dim, g)
    for i in range(depth):
        _block(sd, f"blocks_spot.{i}", dim, g)
        _block(sd, f"blocks_recog.{i}", dim, g)
    sd["fc_spot.0.weight"], sd["fc_spot.0.bias"] = _rand(g, 1, dim), _rand(g, 1)
    sd["fc_recog.0.weight"], sd["fc_recog.0.bias"] = _rand(g, n_out, dim), _rand(g, n_out)
    return sd


def metst_2025(dim: int = 16, depth: int = 2, c_in: int = 10, n_out: int = 5, seed: int = 0) -> dict:
    g, sd = _gen(seed), {}
    _stem(sd, c_in, dim, g)
    for path in ("spot_pathway", "recog_pathway"):
        for i in range(depth):
            _block(sd, f"{path}.block.{i}", dim, g)
    sd["fc_spot.weight"], sd["fc_spot.bias"] = _rand(g, 1, dim), _rand(g, 1)
    sd["fc_recog.weight"], sd["fc_recog.bias"] = _rand(g, n_out, dim), _rand(g, n_out)
    return sd


def metst_sf_2025(dim: int = 8, layers: int = 4, c_in: int = 36, n_out: int = 5, seed: int = 0) -> dict:
    g, sd = _gen(seed), {}
    _stem(sd, c_in, dim, g)
    for path in ("spot_pathway", "recog_pathway"):
        _conv_bn(sd, f"{path}.Stem_slow.", "0", "1", dim, 2 * dim, g)
        for b in (1, 2, 3):
            for i in range(layers):
                _block(sd, f"{path}.block{b}.{i}", 2 * dim, g)
                _block(sd, f"{path}.block{b}_fast.{i}", dim, g)
        for j in (1, 2):
            _conv_bn(sd, f"{path}.fuse_{j}.", "conv.0", "conv.1", dim, 2 * dim, g)
    sd["fc_spot.weight"], sd["fc_spot.bias"] = _rand(g, 1, 3 * dim), _rand(g, 1)
    sd["fc_recog.weight"], sd["fc_recog.bias"] = _rand(g, n_out, 3 * dim), _rand(g, n_out)
    return sd


LAYOUTS = {"net_mamba_2024": net_mamba_2024, "metst_2025": metst_2025, "metst_sf_2025": metst_sf_2025}


def save_as_authors(sd: dict, path: Path) -> Path:
    """train.py: torch.save(nn.DataParallel(model).state_dict(), path)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(OrderedDict((f"module.{k}", v) for k, v in sd.items()), path)
    return path


# ------------------------------------------------------------------ the public forward, from the names
def _conv_bn_relu(sd: dict, x: torch.Tensor, conv: str, bn: str, stride: int = 1) -> torch.Tensor:
    x = F.conv1d(x, sd[f"{conv}.weight"], sd[f"{conv}.bias"], stride=stride, padding=1)
    x = F.batch_norm(x, sd[f"{bn}.running_mean"], sd[f"{bn}.running_var"], sd[f"{bn}.weight"], sd[f"{bn}.bias"],
                     training=False)
    return F.relu(x)


def _run_block(sd: dict, prefix: str, x: torch.Tensor) -> torch.Tensor:
    """x + drop_path(norm1(attn.mamba(attn.norm(x)))), eval mode (drop path off)."""
    dim = x.shape[-1]
    mamba = Mamba(dim, d_state=D_STATE, d_conv=D_CONV, expand=EXPAND)
    m = f"{prefix}.attn.mamba."
    mamba.load_state_dict({k[len(m):]: v for k, v in sd.items() if k.startswith(m)})
    h = F.layer_norm(x, (dim,), sd[f"{prefix}.attn.norm.weight"], sd[f"{prefix}.attn.norm.bias"])
    h = mamba(h)
    return x + F.layer_norm(h, (dim,), sd[f"{prefix}.norm1.weight"], sd[f"{prefix}.norm1.bias"])


def _stem_forward(sd: dict, x: torch.Tensor) -> torch.Tensor:
    return _conv_bn_relu(sd, _conv_bn_relu(sd, x, "Stem.0", "Stem.1"), "Stem.3", "Stem.4")


def _slowfast(sd: dict, path: str, x: torch.Tensor) -> torch.Tensor:
    fast = x.transpose(1, 2)
    slow = _conv_bn_relu(sd, x, f"{path}.Stem_slow.0", f"{path}.Stem_slow.1", stride=2).transpose(1, 2)
    layers = len({k.split(".")[2] for k in sd if k.startswith(f"{path}.block1.")})
    for b in (1, 2, 3):
        for i in range(layers):
            slow = _run_block(sd, f"{path}.block{b}.{i}", slow)
            fast = _run_block(sd, f"{path}.block{b}_fast.{i}", fast)
        if b < 3:  # fuse_1, fuse_2 only
            lat = _conv_bn_relu(sd, fast.transpose(1, 2), f"{path}.fuse_{b}.conv.0", f"{path}.fuse_{b}.conv.1", stride=2)
            slow = slow + lat.transpose(1, 2)
    slow = F.interpolate(slow.transpose(1, 2), scale_factor=2, mode="nearest").transpose(1, 2)
    return torch.cat((slow, fast), dim=2)


@torch.no_grad()
def public_forward(layout: str, sd: dict, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(spot probabilities, recognition logits) as the authors' forward computes them."""
    h = _stem_forward(sd, x)
    if layout == "metst_sf_2025":
        spot_f, recog_f = _slowfast(sd, "spot_pathway", h), _slowfast(sd, "recog_pathway", h)
        heads = ("fc_spot", "fc_recog")
    else:
        blocks = "blocks_spot" if layout == "net_mamba_2024" else "spot_pathway.block"
        depth = len([k for k in sd if k.startswith(blocks + ".") and k.endswith(".norm1.weight")])
        f = h.transpose(1, 2)
        for i in range(depth):
            f = _run_block(sd, f"{blocks}.{i}", f)
        spot_f = recog_f = f                      # both heads read the spotting blocks
        heads = ("fc_spot.0", "fc_recog.0") if layout == "net_mamba_2024" else ("fc_spot", "fc_recog")
    spot = torch.sigmoid(F.linear(spot_f, sd[f"{heads[0]}.weight"], sd[f"{heads[0]}.bias"])).squeeze(-1)
    return spot, F.linear(recog_f, sd[f"{heads[1]}.weight"], sd[f"{heads[1]}.bias"])


def _channels(layout: str) -> int:
    return 36 if layout == "metst_sf_2025" else 10


# ------------------------------------------------------------------ tests
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_every_published_tensor_lands_where_the_forward_reads_it(tmp_path: Path, layout: str):
    sd = LAYOUTS[layout]()
    path = save_as_authors(sd, tmp_path / "CASME_3_4emo" / "subject_1.pkl")
    model, meta = import_public_metst(path)
    x = torch.randn(3, _channels(layout), 12, generator=_gen(7))
    with torch.no_grad():
        out = model(x)
    spot, recog = public_forward(layout, sd, x)
    torch.testing.assert_close(out.spot, spot, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out.recog, recog, rtol=1e-5, atol=1e-5)
    # the metadata of the authors' CAS(ME)^3 setting and the network they ran
    assert (meta.window, meta.frame_skip, meta.fps, meta.threshold_p) == (50, 1, 30.0, 0.55)
    assert meta.class_names == ["negative", "positive", "surprise", "others"] and meta.config["n_classes"] == 4
    if layout == "metst_sf_2025":
        assert meta.model == "metst_plus" and meta.roi_set == "metst_plus" and len(meta.channel_names) == 36
        assert meta.config["lateral_after_last"] is False and meta.config["layers_per_block"] == 4
    else:
        assert meta.model == "metst" and meta.roi_set == "metst" and len(meta.channel_names) == 10
        assert meta.config["share_branches"] is True and meta.config["depth"] == 2 and meta.config["dim"] == 16
    assert meta.provenance.code_version.startswith("zizheng-guo/ME-TST")


@pytest.mark.parametrize("layout, used, unused", [
    ("net_mamba_2024", "blocks_spot.1.attn.mamba.dt_proj.bias", "blocks_recog.0.attn.mamba.in_proj.weight"),
    ("metst_2025", "spot_pathway.block.0.norm1.weight", "spot_pathway.block.1.norm2.weight"),
    ("metst_sf_2025", "recog_pathway.fuse_2.conv.1.running_mean", "spot_pathway.block3.1.norm2.bias"),
])
def test_a_perturbed_tensor_changes_the_output_only_if_the_forward_reads_it(tmp_path: Path, layout, used, unused):
    sd = LAYOUTS[layout](**({"layers": 2} if layout == "metst_sf_2025" else {}))
    x = torch.randn(2, _channels(layout), 8, generator=_gen(3))
    with torch.no_grad():
        base = import_public_metst(save_as_authors(sd, tmp_path / "a" / "subject_1.pkl"))[0](x)
        changed = import_public_metst(save_as_authors({**sd, used: sd[used] + 0.5}, tmp_path / "b" / "subject_1.pkl"))[0](x)
        same = import_public_metst(save_as_authors({**sd, unused: sd[unused] + 0.5}, tmp_path / "c" / "subject_1.pkl"))[0](x)
    assert not torch.allclose(base.recog, changed.recog)
    assert torch.equal(base.recog, same.recog) and torch.equal(base.spot, same.spot)


def test_imported_file_saved_as_checkpoint_via_cli_gives_the_same_outputs(tmp_path: Path):
    sd = metst_sf_2025()
    src = save_as_authors(sd, tmp_path / "weights" / "subject_006.pkl")
    out = tmp_path / "samm_006.safetensors"
    proc = subprocess.run([sys.executable, "-m", "metst_engine.cli", "import-weights", str(src), "-o", str(out),
                           "--authors-dataset", "samm_lv", "--k-prime", "9"], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert (summary["model"], summary["window"], summary["skip"], summary["k_prime"]) == ("metst_plus", 30, 7, 9)
    model, meta = load_checkpoint(out)
    assert meta.fps == 200.0 and meta.config["lateral_after_last"] is False
    x = torch.randn(2, 36, 10, generator=_gen(1))
    with torch.no_grad():
        got = model(x)
    spot, recog = public_forward("metst_sf_2025", sd, x)
    torch.testing.assert_close(got.recog, recog, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got.spot, spot, rtol=1e-5, atol=1e-6)


def _refused(path: Path, *needles: str) -> str:
    with pytest.raises(CheckpointError) as info:
        import_public_metst(path)
    msg = str(info.value)
    assert str(path) in msg and "refused" in msg and "published weight files" in msg, msg
    for needle in needles:
        assert needle in msg, msg
    return msg


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_missing_extra_or_misshaped_tensors_are_refused(tmp_path: Path, layout: str):
    sd = LAYOUTS[layout](**({"layers": 1} if layout == "metst_sf_2025" else {}))
    used = next(k for k in sd if "out_proj" in k)
    unused = next(k for k in sd if k.endswith("norm2.weight"))
    cases = {
        "missing_used": ({k: v for k, v in sd.items() if k != used}, ["missing", used]),
        "missing_unused": ({k: v for k, v in sd.items() if k != unused}, ["missing", unused]),
        "extra": ({**sd, "classifier.weight": torch.zeros(3)}, ["unexpected", "module.classifier.weight"]),
        "misshaped": ({**sd, used: sd[used][:, :-1]}, ["mis-shaped", used]),
        "nan": ({**sd, used: sd[used] * float("nan")}, ["NaN", used]),
        "int": ({**sd, used: sd[used].long()}, ["expected floating point"]),
    }
    for name, (bad, needles) in cases.items():
        _refused(save_as_authors(bad, tmp_path / name / "subject_1.pkl"), *needles)


def test_files_that_are_not_published_weights_are_refused(tmp_path: Path):
    sd = metst_2025()
    cases = {
        "noprefix.pkl": ({k: v for k, v in sd.items()}, "prefix"),
        "list.pkl": ([torch.zeros(2)], "list"),
        "nested.pkl": ({"state_dict": {f"module.{k}": v for k, v in sd.items()}}, "name -> tensor"),
        "other_net.pkl": ({"module.conv.weight": torch.zeros(2, 2)}, "none of the three layouts"),
        "both.pkl": ({**{f"module.{k}": v for k, v in sd.items()}, "module.blocks_spot.0.norm1.weight": torch.ones(16)},
                     "several layouts"),
        "gap.pkl": ({f"module.{k.replace('block.1.', 'block.2.')}": v for k, v in sd.items()}, "consecutively"),
        "empty.pkl": ({}, "mapping"),
    }
    for name, (obj, needle) in cases.items():
        torch.save(obj, tmp_path / name)
        _refused(tmp_path / name, needle)
    (tmp_path / "text.pkl").write_text("not a pickle at all")
    _refused(tmp_path / "text.pkl", "not a plain tensor state dict")
    with pytest.raises(CheckpointError, match="no such weight file"):
        import_public_metst(tmp_path / "absent.pkl")


class _Evil:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))    # would create the marker file if unpickled


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_a_pickle_that_would_run_code_is_refused_without_running_it(tmp_path: Path, protocol: int):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pkl"
    with open(evil, "wb") as fh:
        pickle.dump({"module.Stem.0.weight": _Evil(marker)}, fh, protocol=protocol)
    _refused(evil, "not a plain tensor state dict")
    zipped = tmp_path / "evil_zip.pkl"
    torch.save({"module.Stem.0.weight": _Evil(marker)}, zipped)    # torch's zip format, same payload
    _refused(zipped, "not a plain tensor state dict")
    assert not marker.exists()


def test_a_file_claiming_huge_sizes_is_refused_before_allocating(tmp_path: Path):
    sd = metst_sf_2025()
    big = 20_000   # ~10 MB of tensors here; the model they imply: ~10^11 weights
    sd["Stem.0.weight"] = torch.zeros(big, 36, 3)
    sd["spot_pathway.block1_fast.0.attn.mamba.A_log"] = torch.zeros(EXPAND * big, D_STATE)
    sd["spot_pathway.block1_fast.0.attn.mamba.conv1d.weight"] = torch.zeros(EXPAND * big, 1, D_CONV)
    _refused(save_as_authors(sd, tmp_path / "big" / "subject_1.pkl"), "mis-shaped")


def test_unknown_dataset_and_channel_mismatch_are_clear(tmp_path: Path):
    path = save_as_authors(metst_2025(), tmp_path / "elsewhere" / "subject_1.pkl")
    _, meta = import_public_metst(path)          # a folder name that says nothing: no window / skip
    assert meta.window is None and meta.fps is None
    with pytest.raises(CheckpointError, match="casme3 or samm_lv"):
        import_public_metst(path, dataset="casme2")
    odd = save_as_authors(metst_2025(c_in=12), tmp_path / "odd" / "subject_1.pkl")
    with pytest.raises(CheckpointError, match="12 input channels"):
        import_public_metst(odd)


def test_subject_ids_of_the_authors_files_match_the_datasets_names():
    from metst_engine.public_import import match_subjects

    where = Path("weights")
    assert match_subjects(["1", "10", "2"], ["spNO.1", "spNO.2", "spNO.10"], where) == \
        {"spNO.1": "1", "spNO.2": "2", "spNO.10": "10"}
    assert match_subjects(["006", "007"], ["006", "007"], where) == {"006": "006", "007": "007"}
    with pytest.raises(InputError, match="spNO.3"):
        match_subjects(["1", "2"], ["spNO.1", "spNO.3"], where)
