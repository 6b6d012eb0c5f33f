"""Training (issue 4 §3): labels, class weights, down-sampling, LOSO run folder, resume determinism, metst train."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from metst_engine.datasets import LabelledInterval, k_prime, load_manifest
from metst_engine.intervals import EMOTIONS
from metst_engine.models import load_checkpoint
from metst_engine.training import (
    NEUTRAL_INDEX,
    TrainConfig,
    class_weights,
    downsample,
    fold_seed,
    frame_labels,
    loss_fn,
    run_loso,
    window_labels,
)

ROOT = Path(__file__).resolve().parent.parent
#: Seed 5 of a 3 x 1 x 8 s synth set: leaving s01 out gives k' 6 and leaving s03 out 4, while
#: k' over all subjects is 5, so a leak of the test subject into k' would show.
SYNTH_SEED = 5
METRIC_KEYS = {"tp", "fp", "fn", "precision", "recall", "f1", "uf1", "uar", "recog_f1", "strs"}


def _iv(onset, offset, emotion="negative", type="micro"):
    return LabelledInterval("s", "v", onset, None, offset, type, emotion)


# ------------------------------------------------------------------------------- units
def test_frame_labels_inside_onset_plus_one_to_offset_minus_one_after_skip():
    # source 10..21 with skip 2 -> after skip 5..10 -> positive frames 6..9
    spot, recog = frame_labels([_iv(10, 21, "surprise")], 14, skip=2)
    assert np.flatnonzero(spot).tolist() == [6, 7, 8, 9]
    assert recog[6:10].tolist() == [EMOTIONS.index("surprise")] * 4
    assert (recog[:6] == NEUTRAL_INDEX).all() and (recog[10:] == NEUTRAL_INDEX).all()
    # skip 1: [onset+1, offset-1]; macros are not labelled; unknown emotion is ignored by the CE
    spot, recog = frame_labels([_iv(2, 5, "positive"), _iv(8, 12, None), _iv(14, 18, "positive", "macro")], 20)
    assert np.flatnonzero(spot).tolist() == [3, 4, 9, 10, 11]
    assert recog[3] == EMOTIONS.index("positive") and recog[9] == -100 and recog[15] == NEUTRAL_INDEX
    # an ME of two frames after the skip has no inner frame
    spot, _ = frame_labels([_iv(4, 5)], 10)
    assert spot.sum() == 0


def test_window_labels_start_at_the_window_first_frame_after_skip():
    spot = np.arange(10, dtype=np.float32)
    recog = np.arange(10, dtype=np.int64)
    ws, wr = window_labels(np.array([0, 4, 8]), 2, 4, spot, recog)     # source starts -> 0, 2, 4 after skip
    assert ws.tolist() == [[0, 1, 2, 3], [2, 3, 4, 5], [4, 5, 6, 7]]
    assert wr.dtype == np.int64


def test_downsample_keeps_every_positive_and_ratio_times_negatives():
    positive = np.array([True] * 4 + [False] * 30)
    rng = np.random.default_rng(0)
    idx = downsample(positive, 0.5, rng)
    assert set(range(4)) <= set(idx.tolist()) and len(idx) == 4 + 2
    assert len(downsample(positive, 4, rng)) == 4 + 16
    assert len(downsample(positive, 100, rng)) == 34                   # never more than there are
    assert len(downsample(np.zeros(5, bool), 4, rng)) == 5             # no positives: keep everything


def test_class_weights_balanced_absent_zero_neutral_times_six():
    from sklearn.utils.class_weight import compute_class_weight

    y = np.array([0] * 10 + [1] * 30 + [3] * 20 + [4] * 140 + [-100] * 7)   # surprise (2) absent
    w = class_weights(y, synergy=True)
    present = np.array([0, 1, 3, 4])
    ref = compute_class_weight("balanced", classes=present, y=y[y >= 0])
    assert w[2] == 0
    np.testing.assert_allclose(w[[0, 1, 3]], ref[:3], rtol=1e-6)
    np.testing.assert_allclose(w[4], ref[3] * 6, rtol=1e-6)
    np.testing.assert_allclose(w[0], 200 / (4 * 10), rtol=1e-6)
    w_off = class_weights(y, synergy=False)
    assert w_off[4] == 0 and np.allclose(w_off[:4], w[:4])


def test_loss_is_finite_when_every_frame_has_weight_zero():
    class Out:
        spot = torch.full((2, 3), 0.5, requires_grad=True)
        recog = torch.zeros(2, 3, 5, requires_grad=True)

    weights = torch.tensor([1.0, 1.0, 1.0, 1.0, 0.0])                 # no synergy, all frames neutral
    total, _, ce = loss_fn(Out, torch.zeros(2, 3), torch.full((2, 3), NEUTRAL_INDEX), weights)
    assert torch.isfinite(total) and ce.item() == 0.0
    assert total.item() == pytest.approx(0.9 * 0.25)


def test_recognition_loss_is_pytorchs_weighted_ce_with_one_hot_targets():
    """batch_mean (the public code's): PyTorch's weighted CE with one-hot float targets,
    which divides by the number of frames; weight_mean divides by the sum of their weights."""
    gen = torch.Generator().manual_seed(0)

    class Out:
        spot = torch.rand(4, 6, generator=gen)
        recog = torch.randn(4, 6, 5, generator=gen)

    target = torch.randint(0, 5, (4, 6), generator=gen)
    weights = torch.tensor([2.0, 0.5, 3.0, 1.0, 6.0])
    logits, flat = Out.recog.reshape(-1, 5), target.reshape(-1)
    one_hot = torch.nn.functional.one_hot(flat, 5).float()
    _, _, ce = loss_fn(Out, torch.zeros(4, 6), target, weights)
    assert ce.item() == pytest.approx(torch.nn.functional.cross_entropy(logits, one_hot, weight=weights).item(), rel=1e-6)
    _, _, ce_w = loss_fn(Out, torch.zeros(4, 6), target, weights, "weight_mean")
    assert ce_w.item() == pytest.approx(torch.nn.functional.cross_entropy(logits, flat, weight=weights).item(), rel=1e-6)
    assert ce.item() != pytest.approx(ce_w.item())


def test_only_videos_with_a_labelled_micro_expression_by_default():
    from metst_engine.datasets.base import Dataset, VideoEntry
    from metst_engine.training import selected_videos

    def video(name, *ivs):
        return VideoEntry(subject="s1", video=name, path=Path(name), fps=30.0, intervals=list(ivs))

    ds = Dataset("d", [video("with_micro", _iv(10, 20)), video("macro_only", _iv(10, 40, type="macro")), video("none")])
    assert [v.video for v in selected_videos(TrainConfig(dataset="d"), ds)] == ["with_micro"]
    assert len(selected_videos(TrainConfig(dataset="d", videos="all"), ds)) == 3


def test_fold_seed_depends_on_seed_and_subject_only():
    assert fold_seed(0, "s01") == fold_seed(0, "s01")
    assert len({fold_seed(0, "s01"), fold_seed(0, "s02"), fold_seed(1, "s01")}) == 3


# ------------------------------------------------------------------------------- LOSO runs
@pytest.fixture(scope="module")
def synth_set(tmp_path_factory):
    from metst_engine.synth import SynthConfig, generate

    out = tmp_path_factory.mktemp("synth")
    generate(out, SynthConfig(subjects=3, videos_per_subject=1, seconds=8, seed=SYNTH_SEED))
    return out


def _config(synth_set: Path, cache: Path, **kw) -> TrainConfig:
    base = dict(dataset=str(synth_set), model="metst", rois="metst", window=30, epochs=2, batch=16, ratio=4.0,
                seed=3, model_overrides={"depth": 2, "dim": 32}, cache_dir=str(cache))
    return TrainConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def run(synth_set, tmp_path_factory):
    base = tmp_path_factory.mktemp("runs")
    events = []
    out = run_loso(_config(synth_set, base / "cache"), base / "run", progress=events.append)
    return base, out, events


def test_run_folder_layout_and_contents(run, synth_set):
    base, out, events = run
    rd = base / "run"
    ds = load_manifest(synth_set / "manifest.csv")
    subjects = ds.subjects()
    assert subjects == ["s01", "s02", "s03"]
    cfg = json.loads((rd / "config.json").read_text())
    assert cfg["threads"] == 1 and cfg["config"]["epochs"] == 2 and cfg["config"]["lr"] == 3e-4
    assert cfg["subjects"] == subjects
    for s in subjects:
        for name in ("model.safetensors", "metrics.json", "predictions.csv"):
            assert (rd / "folds" / s / name).is_file(), (s, name)
        with open(rd / "folds" / s / "predictions.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert all(r["subject"] == s and r["video"].startswith(s) for r in rows)
        fm = json.loads((rd / "folds" / s / "metrics.json").read_text())
        assert METRIC_KEYS <= set(fm) and fm["subject"] == s
    assert (rd / "final" / "model.safetensors").is_file()
    metrics = json.loads((rd / "metrics.json").read_text())
    assert METRIC_KEYS <= set(metrics) and set(metrics["per_subject"]) == set(subjects)
    assert metrics == json.loads(json.dumps(out))
    assert sum(m["tp"] + m["fn"] for m in metrics["per_subject"].values()) == metrics["tp"] + metrics["fn"]
    assert metrics["tp"] + metrics["fn"] == len(ds.intervals("micro"))
    # progress.jsonl: the same events as the callback, every line with the common keys
    lines = [json.loads(line) for line in (rd / "progress.jsonl").read_text().splitlines()]
    assert [e["event"] for e in lines] == [e["event"] for e in events]
    assert all({"event", "fold", "epoch", "losses", "metrics", "time"} <= set(e) for e in lines)
    for fold in subjects + ["final"]:
        epochs = [e["epoch"] for e in lines if e["event"] == "epoch" and e["fold"] == fold]
        assert epochs == [1, 2], fold
        assert all(np.isfinite(e["losses"]["loss"]) for e in lines if e["event"] == "epoch")
    assert [e["fold"] for e in lines if e["event"] == "fold_end"] == subjects
    assert lines[-1]["event"] == "run_end" and lines[-1]["metrics"]["f1"] == metrics["f1"]


def test_fold_checkpoints_carry_k_prime_of_the_training_subjects_only(run, synth_set):
    base, _, _ = run
    ds = load_manifest(synth_set / "manifest.csv")
    everyone = k_prime(ds.intervals("micro"))
    differs = 0
    for s in ds.subjects():
        _, meta = load_checkpoint(base / "run" / "folds" / s / "model.safetensors")
        train = [iv for v in ds.videos if v.subject != s for iv in v.intervals if iv.type == "micro"]
        assert meta.k_prime == k_prime(train)
        assert meta.provenance.subjects == [x for x in ds.subjects() if x != s]
        assert meta.window == 30 and meta.roi_set == "metst" and meta.class_names == list(EMOTIONS)
        assert meta.threshold_p == 0.55 and meta.config["depth"] == 2
        differs += meta.k_prime != everyone
    assert differs >= 1, "the synth seed should make a leaked k' visible"
    _, final = load_checkpoint(base / "run" / "final" / "model.safetensors")
    assert final.k_prime == everyone and final.provenance.subjects == ds.subjects()


def _tensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path))


def test_resumed_run_gives_bit_identical_tensors(run, synth_set):
    base, out, _ = run
    rd, rd2 = base / "run", base / "resumed"
    shutil.copytree(rd, rd2)
    for name in ("metrics.json", "model.safetensors", "predictions.csv"):
        (rd2 / "folds" / "s02" / name).unlink()
    (rd2 / "final" / "model.safetensors").unlink()
    (rd2 / "metrics.json").unlink()
    with pytest.raises(Exception, match="already holds a run"):
        run_loso(_config(synth_set, base / "cache"), rd2)
    with pytest.raises(Exception, match="settings differ in epochs"):
        run_loso(_config(synth_set, base / "cache", epochs=3), rd2, resume=True)
    if not torch.cuda.is_available():
        with pytest.raises(Exception, match="no CUDA device"):
            run_loso(_config(synth_set, base / "cache", device="cuda"), rd2, resume=True)
    out2 = run_loso(_config(synth_set, base / "cache"), rd2, resume=True)
    for rel in ("folds/s02/model.safetensors", "final/model.safetensors"):
        a, b = _tensors(rd / rel), _tensors(rd2 / rel)
        assert a.keys() == b.keys()
        for k in a:
            assert torch.equal(a[k], b[k]), (rel, k)
    assert out2 == out
    lines = [json.loads(line) for line in (rd2 / "progress.jsonl").read_text().splitlines()]
    last = max(i for i, e in enumerate(lines) if e["event"] == "run_start")
    assert {e["fold"] for e in lines[last:] if e["event"] == "fold_skipped"} == {"s01", "s03"}
    assert [e["fold"] for e in lines[last:] if e["event"] == "fold_start"] == ["s02"]      # really retrained


def test_cancel_leaves_the_fold_unfinished_and_resume_completes_it(run, synth_set):
    from metst_engine.errors import Cancelled

    base, out, _ = run
    rd = base / "cancelled"
    seen = []

    def cancel() -> bool:
        return any(e["event"] == "epoch" and e["fold"] == "s02" for e in seen)

    with pytest.raises(Cancelled):
        run_loso(_config(synth_set, base / "cache"), rd, progress=seen.append, cancel=cancel)
    assert (rd / "folds" / "s01" / "metrics.json").is_file()
    assert not (rd / "folds" / "s02").exists() and not (rd / "metrics.json").exists()
    assert run_loso(_config(synth_set, base / "cache"), rd, resume=True) == out


def test_cli_train_no_final(run, synth_set):
    base, _, _ = run
    out = base / "cli_run"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "metst_engine.cli", "train", "--dataset", str(synth_set), "--model", "metst", "--loso",
           "-o", str(out), "--window", "30", "--epochs", "1", "--batch", "16", "--no-synergy", "--seed", "1",
           "--model-overrides", '{"depth": 1, "dim": 16}', "--cache-dir", str(base / "cache"), "--no-final"]
    r = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert METRIC_KEYS <= set(summary) and summary["final"] is None
    assert not (out / "final").exists() and (out / "metrics.json").is_file()
    cfg = json.loads((out / "config.json").read_text())["config"]
    assert cfg["synergy"] is False and cfg["final"] is False and cfg["model_overrides"] == {"depth": 1, "dim": 16}
    fm = json.loads((out / "folds" / "s01" / "metrics.json").read_text())
    assert fm["class_weights"][NEUTRAL_INDEX] == 0
    r = subprocess.run(cmd[:-1] + ["--ray-address", "auto"], check=False, capture_output=True, text=True, timeout=120,
                       env=env)
    assert r.returncode == 2 and "--ray-address needs --executor ray" in r.stderr


@pytest.mark.parametrize("model, overrides, channels", [
    ("metst", {"depth": 1, "dim": 16}, 10),
    ("metst_plus", {"dim": 16, "blocks": 1, "layers_per_block": 1}, 36),
])
def test_train_fold_is_deterministic_and_learns_shapes(model, overrides, channels):
    from metst_engine.training import FoldData, train_fold

    rng = np.random.default_rng(0)
    n, k = 12, 30
    spot = np.zeros((n, k), np.float32)
    recog = np.full((n, k), NEUTRAL_INDEX, np.int64)
    spot[:3, 10:15] = 1
    recog[:3, 10:15] = [[0], [1], [2]]
    data = FoldData(rng.normal(size=(n, channels, k)).astype(np.float32), spot, recog, spot.max(1) > 0, ["a"], 3)
    cfg = TrainConfig(dataset="-", model=model, epochs=2, batch=4, ratio=2.0, model_overrides=overrides)
    events = []
    m1, info = train_fold(cfg, data, "b", n_channels=channels, progress=events.append)
    m2, _ = train_fold(cfg, data, "b", n_channels=channels)
    m3, _ = train_fold(cfg, data, "c", n_channels=channels)
    s1, s2, s3 = m1.state_dict(), m2.state_dict(), m3.state_dict()
    assert all(torch.equal(s1[key], s2[key]) for key in s1)
    assert not all(torch.equal(s1[key], s3[key]) for key in s1)      # another subject, another seed
    assert info["n_sampled"] == 3 + 6 and len(events) == 2
    assert info["class_weights"][3] == 0                              # "others" absent
    expected_lr = 3e-4                          # the 2025 code trains both models at 3e-4
    assert cfg.resolved().lr == expected_lr


def test_resume_refuses_a_run_whose_folds_were_built_under_other_network_defaults(tmp_path: Path):
    """A run started before ME-TST's defaults became the public code's (dim 64, separate branches)
    must not be finished with networks of another architecture."""
    from metst_engine.errors import InputError
    from metst_engine.models import CheckpointMeta, build_model, save_checkpoint
    from metst_engine.training import TrainConfig, run_loso

    run = tmp_path / "old_run"
    cfg = TrainConfig(dataset=str(tmp_path / "absent.csv"), model="metst", window=30, epochs=1,
                      model_overrides={"depth": 1})
    (run / "folds" / "s01").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"config": cfg.resolved().to_dict(), "subjects": ["s01", "s02"]}))
    old = build_model("metst", depth=1, dim=64, share_branches=False)
    save_checkpoint(run / "folds" / "s01" / "model.safetensors", old, CheckpointMeta())
    with pytest.raises(InputError, match=r"dim 64 -> 128.*share_branches False -> True"):
        run_loso(cfg, run, resume=True)
