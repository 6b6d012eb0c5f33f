"""A folder of the authors' per-subject weight files imports as a scored LOSO run folder
(issue 13, part 5): `metst evaluate`, run_report (the training panel's results view) and
"Use this model" (final/) work on it, and each fold holds its own subject's file."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from metst_engine.errors import InputError
from metst_engine.models import load_checkpoint
from metst_engine.run_report import read_run, reference_report

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_public_weights import metst_2025, public_forward, save_as_authors  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "metst_engine.cli", *args], capture_output=True, text=True,
                          timeout=600, env=env, cwd=ROOT)


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """Synthetic dataset s01..s03 and the authors' files subject_1..3.pkl (their numbering)."""
    from metst_engine.synth import SynthConfig, generate

    base = tmp_path_factory.mktemp("public_run")
    synth = base / "synth"
    generate(synth, SynthConfig(subjects=3, videos_per_subject=1, seconds=5, seed=1))
    weights = base / "ME-TST" / "weights" / "CASME_3_4emo"
    states = {}
    for n in (1, 2, 3):
        states[f"s0{n}"] = metst_2025(dim=16, depth=1, seed=n)
        save_as_authors(states[f"s0{n}"], weights / f"subject_{n}.pkl")
    run = base / "run"
    proc = _cli("import-weights", str(weights), "--dataset", str(synth), "-o", str(run),
                "--cache-dir", str(base / "cache"))
    return {"base": base, "synth": synth, "weights": weights, "states": states, "run": run, "proc": proc}


def test_folder_imports_as_a_finished_run_with_the_authors_settings(imported):
    proc, run = imported["proc"], imported["run"]
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["run_dir"] == str(run)
    report = read_run(run)
    assert report.finished and report.done_folds == ["s01", "s02", "s03"]
    cfg = report.config
    assert (cfg["model"], cfg["rois"], cfg["window"], cfg["skip"], cfg["strategy"]) == ("metst", "metst", 50, 1,
                                                                                        "spotting_mainly")
    assert (cfg["epochs"], cfg["lr"], cfg["batch"], cfg["ratio"]) == (50, 3e-4, 256, 4.0)   # the 2025 main.py
    assert cfg["model_overrides"] == {"dim": 16, "depth": 1, "d_state": 4}   # what differs from metst's defaults
    imp = report.extra["imported"]
    assert imp["authors_class"] == "METST" and imp["authors_dataset"] == "CASME_3" and imp["final_from"] == "s01"
    assert {s: f["file"] for s, f in imp["files"].items()} == {"s01": "subject_1.pkl", "s02": "subject_2.pkl",
                                                               "s03": "subject_3.pkl"}
    assert report.final_checkpoint is not None      # "Use this model" is enabled on it
    events = [json.loads(x)["event"] for x in (run / "progress.jsonl").read_text().splitlines()]
    assert events[0] == "run_start" and events[-1] == "run_end" and events.count("fold_end") == 3


def test_each_fold_holds_its_own_subjects_weights(imported):
    run, states = imported["run"], imported["states"]
    x = torch.randn(2, 10, 12, generator=torch.Generator().manual_seed(0))
    for subject, sd in states.items():
        model, meta = load_checkpoint(run / "folds" / subject / "model.safetensors")
        assert meta.provenance.subjects == sorted(set(states) - {subject}) and meta.k_prime is not None
        with torch.no_grad():
            got = model(x)
        _, recog = public_forward("metst_2025", sd, x)
        torch.testing.assert_close(got.recog, recog, rtol=1e-5, atol=1e-5)
    final, _ = load_checkpoint(run / "final" / "model.safetensors")
    with torch.no_grad():
        torch.testing.assert_close(final(x).recog, public_forward("metst_2025", states["s01"], x)[1],
                                   rtol=1e-5, atol=1e-5)


def test_metst_evaluate_and_the_reference_recount_read_the_imported_run(imported):
    run, synth = imported["run"], imported["synth"]
    pooled = json.loads((run / "metrics.json").read_text())
    assert pooled["tp"] + pooled["fp"] > 0          # the random weights do spot something
    preds = [str(p) for p in sorted((run / "folds").glob("*/predictions.csv"))]
    assert len(preds) == 3
    proc = _cli("evaluate", "--gt", str(synth / "manifest.csv"), "--pred", *preds)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert (out["tp"], out["fp"], out["fn"]) == (pooled["tp"], pooled["fp"], pooled["fn"])
    ref = reference_report(read_run(run))
    assert ref.pooled is not None and set(ref.per_subject) == {"s01", "s02", "s03"}


def test_training_cannot_resume_an_imported_run_and_the_import_refuses_a_used_folder(imported):
    run, synth = imported["run"], imported["synth"]
    proc = _cli("train", "--dataset", str(synth), "--model", "metst", "--loso", "-o", str(run), "--resume",
                "--window", "50", "--epochs", "50", "--lr", "3e-4", "--strategy", "spotting_mainly",
                "--model-overrides", '{"dim": 16, "depth": 1, "d_state": 4}')
    assert proc.returncode == 1 and "import-weights" in proc.stderr, proc.stderr
    again = _cli("import-weights", str(imported["weights"]), "--dataset", str(synth), "-o", str(run))
    assert again.returncode == 1 and "already holds a run" in again.stderr


def test_a_dataset_subject_without_a_weight_file_is_named(imported, tmp_path: Path):
    from metst_engine.public_import import import_public_run

    partial = tmp_path / "CASME_3_4emo"
    partial.mkdir()
    for n in (1, 3):
        (partial / f"subject_{n}.pkl").write_bytes((imported["weights"] / f"subject_{n}.pkl").read_bytes())
    with pytest.raises(InputError, match="s02"):
        import_public_run(partial, tmp_path / "run", imported["synth"])
    assert not (tmp_path / "run").exists()
    nameless = tmp_path / "weights"
    nameless.mkdir()
    (nameless / "subject_1.pkl").write_bytes(b"")
    with pytest.raises(InputError, match="casme3"):     # which dataset's window and skip?
        import_public_run(nameless, tmp_path / "run", imported["synth"])


def test_training_panel_shows_the_imported_run_and_offers_its_model(qtbot, imported):
    from test_gui_training import _table_values, _wait_results

    from metst_engine.run_report import METRIC_KEYS
    from metst_gui.training.training_panel import TrainingPanel

    run = imported["run"]
    panel = TrainingPanel()
    qtbot.addWidget(panel)
    assert panel.attach(run)
    qtbot.waitUntil(lambda: panel.outcome is not None, timeout=10_000)
    assert panel.outcome == "finished"
    _wait_results(qtbot, panel)
    metrics = json.loads((run / "metrics.json").read_text())
    assert [row[0] for row in _table_values(panel.results.summary_table)] == [metrics[k] for k in METRIC_KEYS]
    assert panel.use_button.isEnabled() and not panel.resume_button.isEnabled()
    with qtbot.waitSignal(panel.use_model_requested) as sig:
        panel.use_button.click()
    assert sig.args == [str(run / "final" / "model.safetensors"), str(run)]


def test_predict_reads_a_published_file_as_its_fold_does(imported, tmp_path: Path):
    """`metst predict --model subject_2.pkl` (with the fold's k') gives the fold's predictions."""
    run, synth = imported["run"], imported["synth"]
    k_prime = json.loads((run / "folds" / "s02" / "metrics.json").read_text())["k_prime"]
    with open(synth / "manifest.csv", newline="") as fh:
        entry = next(r for r in csv.DictReader(fh) if r["subject"] == "s02")
    video = synth / entry["path"]
    out = tmp_path / "pred.csv"
    env_cache = {"METST_CACHE_DIR": str(imported["base"] / "cache")}
    proc = subprocess.run([sys.executable, "-m", "metst_engine.cli", "predict", str(video), "-o", str(out),
                           "--model", str(imported["weights"] / "subject_2.pkl"), "--k-prime", str(k_prime),
                           "--strategy", "spotting_mainly", "--subject", "s02", "--video-id", entry["video"]],
                          capture_output=True, text=True, timeout=600, cwd=ROOT,
                          env={**os.environ, **env_cache,
                               "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])})
    assert proc.returncode == 0, proc.stderr
    assert out.read_text() == (run / "folds" / "s02" / "predictions.csv").read_text()
    assert out.read_text().count("\n") > 1
