"""Checkpoints: safetensors round trip, metadata, mismatches, bad files, public weights."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from metst_engine.errors import CheckpointError, InputError
from metst_engine.models import (
    build_model,
    load_checkpoint,
    read_checkpoint_meta,
    save_checkpoint,
)
from metst_engine.models.checkpoint import CheckpointMeta, Provenance, check_compatible

EMOTIONS = ["negative", "positive", "surprise", "others"]
CHANNELS = [f"roi{i}_{ax}" for i in range(5) for ax in "xy"]


def _meta(**kw) -> CheckpointMeta:
    base = dict(
        roi_set="metst5", channel_names=CHANNELS, window=50, frame_skip=1, fps=30.0,
        class_names=EMOTIONS, k_prime=6, threshold_p=0.55,
        provenance=Provenance(dataset="CAS(ME)^3", subjects=["1", "2"], epochs=30, seed=100, code_version="0.1.0"),
        metrics={"f1": 0.08},
    )
    base.update(kw)
    return CheckpointMeta(**base)


@pytest.fixture()
def small_metst():
    return build_model("metst", seed=0, depth=2, dim=16, d_state=4).eval()


def _trained_bn(model):
    """Give BatchNorm running stats non-default values so the round trip checks buffers."""
    model.train()
    with torch.no_grad():
        model(torch.randn(4, model.config.in_channels, 20) * 3 + 1)
    return model.eval()


@pytest.mark.parametrize("name", ["metst", "metst_plus"])
def test_round_trip_gives_identical_outputs(tmp_path: Path, name: str):
    if name == "metst":
        model = build_model(name, seed=0, depth=2, dim=16, d_state=4)
        meta = _meta()
    else:
        model = build_model(name, seed=0, dim=16, d_state=4, layers_per_block=1, upsample="linear")
        meta = _meta(channel_names=[f"c{i}" for i in range(36)])
    model = _trained_bn(model)
    path = tmp_path / "model.safetensors"
    save_checkpoint(path, model, meta)
    loaded, meta2 = load_checkpoint(path, backend="torch")
    assert type(loaded) is type(model) and not loaded.training
    x = torch.randn(3, model.config.in_channels, 17)
    with torch.no_grad():
        a, b = model(x), loaded(x)
    assert torch.equal(a.spot, b.spot) and torch.equal(a.recog, b.recog)
    assert meta2.model == name and meta2.config["dim"] == 16
    assert meta2.provenance == meta.provenance and meta2.metrics == {"f1": 0.08}
    assert meta2.class_names == EMOTIONS and meta2.k_prime == 6 and meta2.threshold_p == 0.55
    assert read_checkpoint_meta(path) == meta2


def test_file_holds_no_pickle_and_plain_json_metadata(tmp_path: Path, small_metst):
    path = tmp_path / "m.safetensors"
    save_checkpoint(path, small_metst, _meta())
    raw = path.read_bytes()
    header_len = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + header_len])
    meta = json.loads(header["__metadata__"]["metst"])
    assert meta["format"] == "metst-checkpoint" and meta["window"] == 50
    assert meta["provenance"]["subjects"] == ["1", "2"]


def test_mismatch_is_one_error_naming_expected_and_given(tmp_path: Path, small_metst):
    path = tmp_path / "m.safetensors"
    save_checkpoint(path, small_metst, _meta())
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, channels=36, classes=["negative", "positive", "surprise"], window=30)
    msg = str(info.value)
    assert str(path) in msg
    assert "channels: checkpoint expects 10, given 36" in msg
    assert "classes: checkpoint expects 4" in msg and "given 3" in msg
    assert "window: checkpoint expects k=50, given k=30" in msg
    assert isinstance(info.value, InputError)
    # channel names in a different order, same count
    with pytest.raises(CheckpointError, match="channel names differ"):
        load_checkpoint(path, channels=list(reversed(CHANNELS)))
    with pytest.raises(CheckpointError, match="class names"):
        load_checkpoint(path, classes=["a", "b", "c", "d"])
    model, _ = load_checkpoint(path, channels=CHANNELS, classes=EMOTIONS, window=50)
    assert model is not None


def test_save_validates_metadata_against_model(tmp_path: Path, small_metst):
    with pytest.raises(ValueError, match="class names"):
        save_checkpoint(tmp_path / "a.safetensors", small_metst, _meta(class_names=["x"]))
    with pytest.raises(ValueError, match="channel names"):
        save_checkpoint(tmp_path / "a.safetensors", small_metst, _meta(channel_names=["x"]))
    with pytest.raises(ValueError, match="names model"):
        save_checkpoint(tmp_path / "a.safetensors", small_metst, _meta(model="metst_plus"))
    assert not any(tmp_path.iterdir())  # nothing half-written


def _expect_error(path: Path, pattern: str) -> None:
    with pytest.raises(CheckpointError, match=pattern) as info:
        load_checkpoint(path)
    assert info.value.path == path


def test_bad_files(tmp_path: Path, small_metst):
    _expect_error(tmp_path / "missing.safetensors", "no such")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 100)
    _expect_error(junk, "not a safetensors")
    pkl = tmp_path / "weights.pkl"
    torch.save(small_metst.state_dict(), pkl)
    _expect_error(pkl, "import_public_metst")   # the hint names the reader of published weights
    bare = tmp_path / "bare.safetensors"
    save_file({"w": torch.zeros(2)}, bare)
    _expect_error(bare, "without the 'metst' metadata")
    badjson = tmp_path / "badjson.safetensors"
    save_file({"w": torch.zeros(2)}, badjson, metadata={"metst": "{not json"})
    _expect_error(badjson, "bad metadata")
    future = tmp_path / "future.safetensors"
    save_file({"w": torch.zeros(2)}, future, metadata={"metst": json.dumps({"format": "metst-checkpoint", "format_version": 99})})
    _expect_error(future, "newer")


def _resave(path: Path, out: Path, tensors=None, meta_edit=None):
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), "pt") as fh:
        meta = json.loads(fh.metadata()["metst"])
    state = load_file(str(path))
    if tensors:
        tensors(state)
    if meta_edit:
        meta_edit(meta)
    save_file(state, out, metadata={"metst": json.dumps(meta)})


def test_inconsistent_weights_or_config(tmp_path: Path, small_metst):
    good = tmp_path / "good.safetensors"
    save_checkpoint(good, small_metst, _meta())
    out = tmp_path / "x.safetensors"
    _resave(good, out, tensors=lambda s: s.pop("spot_head.weight"))
    _expect_error(out, re.escape("missing weights ['spot_head.weight']"))
    _resave(good, out, tensors=lambda s: s.__setitem__("extra.w", torch.zeros(1)))
    _expect_error(out, "unexpected weights")
    _resave(good, out, tensors=lambda s: s.__setitem__("spot_head.weight", torch.zeros(1, 17)))
    _expect_error(out, r"spot_head.weight: checkpoint \(1, 17\), model \(1, 16\)")
    _resave(good, out, meta_edit=lambda m: m.__setitem__("model", "transformer"))
    _expect_error(out, "cannot rebuild model.*unknown model")
    _resave(good, out, meta_edit=lambda m: m["config"].__setitem__("colour", 3))
    _expect_error(out, "cannot rebuild model.*no option")
    _resave(good, out, meta_edit=lambda m: m.__setitem__("surprise", 1))
    _expect_error(out, "unknown metadata field")


# ---- configs stored before a default changed (public weights: tests/test_public_weights.py) ----

def test_stored_config_without_a_field_loads_with_the_behaviour_it_was_trained_with(tmp_path: Path):
    """A checkpoint whose config lacks a field whose default changed (ME-TST's share_branches,
    dim; ME-TST+'s lateral_after_last) is rebuilt as it was trained: separate branches, three laterals."""
    old = _trained_bn(build_model("metst", seed=0, depth=2, dim=64, d_state=4, share_branches=False))
    path = tmp_path / "old.safetensors"
    save_checkpoint(path, old, _meta())
    stripped = tmp_path / "stripped.safetensors"
    _resave(path, stripped, meta_edit=lambda m: [m["config"].pop(k) for k in ("share_branches", "dim")])
    assert "share_branches" not in read_checkpoint_meta(stripped).config
    model, meta = load_checkpoint(stripped)
    assert model.recog_branch is not None and meta.config["share_branches"] is False and meta.config["dim"] == 64
    x = torch.randn(2, 10, 12)
    with torch.no_grad():
        assert torch.equal(model(x).recog, old(x).recog)
    plus = build_model("metst_plus", seed=0, dim=8, d_state=4, layers_per_block=1, lateral_after_last=True)
    save_checkpoint(tmp_path / "plus.safetensors", plus, _meta(channel_names=[f"c{i}" for i in range(36)]))
    _resave(tmp_path / "plus.safetensors", tmp_path / "plus_old.safetensors",
            meta_edit=lambda m: m["config"].pop("lateral_after_last"))
    model, meta = load_checkpoint(tmp_path / "plus_old.safetensors")
    assert len(model.spot_trunk.laterals) == 3 and meta.config["lateral_after_last"] is True


def test_check_compatible_accepts_matching_data():
    meta = _meta(config={"in_channels": 10, "n_classes": 4})
    check_compatible(meta, channels=CHANNELS, classes=EMOTIONS, window=50)
    check_compatible(meta, channels=10, classes=4)
