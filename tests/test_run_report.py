"""Run folders read back (issue 7): `metst train` stops cleanly on SIGTERM, the reference recount
equals `metst evaluate --mode reference`, the pooled confusion matrix, formula-safe CSV."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from metst_engine.tables import safe_cell, write_report_csv
from metst_engine.run_report import METRIC_KEYS, read_run, reference_report

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    from metst_engine.synth import SynthConfig, generate

    out = tmp_path_factory.mktemp("synth")
    generate(out, SynthConfig(subjects=3, videos_per_subject=1, seconds=6, seed=0))
    return out


def _train_cmd(synth: Path, run: Path, cache: Path, epochs: int) -> list[str]:
    return [sys.executable, "-m", "metst_engine.cli", "train", "--dataset", str(synth), "--model", "metst", "--loso",
            "-o", str(run), "--window", "30", "--epochs", str(epochs), "--batch", "8", "--seed", "2",
            "--model-overrides", '{"depth": 1, "dim": 16}', "--cache-dir", str(cache)]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


@pytest.fixture(scope="module")
def cancelled_then_resumed(synth, tmp_path_factory):
    """A CLI run stopped with SIGTERM during fold s02, then resumed to the end."""
    base = tmp_path_factory.mktemp("cli")
    run = base / "run"
    cmd = _train_cmd(synth, run, base / "cache", epochs=10)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    progress = run / "progress.jsonl"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        lines = progress.read_text().splitlines() if progress.is_file() else []
        events = [json.loads(ln) for ln in lines if ln.endswith("}")]
        if any(e["event"] == "epoch" and e["fold"] == "s02" for e in events):
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=300)
    cancelled = {"rc": proc.returncode, "stdout": out, "stderr": err,
                 "done": sorted(p.parent.name for p in (run / "folds").glob("*/metrics.json"))}
    resumed = subprocess.run(cmd + ["--resume"], check=False, capture_output=True, text=True, timeout=300, env=_env())
    return run, cancelled, resumed


@pytest.mark.slow        # a 10-epoch CLI run, cancelled and resumed
def test_sigterm_stops_train_at_a_safe_point_and_resume_finishes(cancelled_then_resumed):
    run, cancelled, resumed = cancelled_then_resumed
    assert cancelled["rc"] == 4, cancelled["stderr"]
    assert "SIGTERM: stopping at the next safe point" in cancelled["stderr"]
    assert cancelled["stderr"].strip().splitlines()[-1].startswith("error: ")
    assert "training cancelled" in cancelled["stderr"] and "--resume" in cancelled["stderr"]
    assert cancelled["stdout"] == ""
    assert cancelled["done"] == ["s01"]                     # s02 was in flight: no metrics.json
    assert resumed.returncode == 0, resumed.stderr
    assert (run / "metrics.json").is_file() and (run / "final" / "model.safetensors").is_file()


@pytest.mark.slow
def test_pooled_metrics_carry_the_confusion_matrix(cancelled_then_resumed):
    run, _, _ = cancelled_then_resumed
    metrics = json.loads((run / "metrics.json").read_text())
    conf = metrics["confusion"]
    assert conf["rows"] == metrics["recog_classes"] and conf["columns"] == [*metrics["recog_classes"], "unscored"]
    matched = sum(map(sum, conf["matrix"]))
    assert matched <= metrics["tp"]                          # one sample per TP whose GT class is scored
    report = read_run(run)
    assert report.finished and report.confusion == conf and report.done_folds == ["s01", "s02", "s03"]
    assert report.per_subject["s02"]["f1"] == metrics["per_subject"]["s02"]["f1"]


@pytest.mark.slow
def test_reference_report_equals_metst_evaluate_reference(cancelled_then_resumed, synth, capsys):
    from metst_engine.cli import main

    run, _, _ = cancelled_then_resumed
    ref = reference_report(read_run(run))
    preds = [str(run / "folds" / s / "predictions.csv") for s in ("s01", "s02", "s03")]
    assert main(["evaluate", "--gt", str(synth / "manifest.csv"), "--pred", *preds, "--mode", "reference",
                 "--per-subject"]) == 0
    cli = json.loads(capsys.readouterr().out)
    assert {k: ref.pooled[k] for k in METRIC_KEYS} == {k: cli[k] for k in METRIC_KEYS}
    for s in ("s01", "s02", "s03"):
        assert {k: ref.per_subject[s][k] for k in METRIC_KEYS} == {k: cli["per_subject"][s][k] for k in METRIC_KEYS}
    assert ref.mode == "reference" and ref.pooled["mode"] == "metst_code"


def test_csv_cells_are_safe_against_formulas(tmp_path):
    assert safe_cell("=HYPERLINK(\"x\")") == "'=HYPERLINK(\"x\")"
    assert [safe_cell(v) for v in ("+1", "-2", "@SUM(A1)", "\tx", "s01", "")] == ["'+1", "'-2", "'@SUM(A1)", "'\tx",
                                                                                  "s01", ""]
    assert [safe_cell(v) for v in (-0.5, 3, None, float("nan"), True)] == ["-0.5", "3", "", "", "true"]
    out = write_report_csv(tmp_path / "r.csv", ["run", "f1"], [["=cmd|' /C calc'!A0", 0.25], []])
    rows = list(csv.reader(out.open(newline="")))
    assert rows == [["run", "f1"], ["'=cmd|' /C calc'!A0", "0.25"], []]
