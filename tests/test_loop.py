"""The science loop on a tiny synthetic set, through the `metst` command as a user runs it."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest


def cli(*args: str) -> dict | list:
    r = subprocess.run([sys.executable, "-m", "metst_engine.cli", *args], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"{args[0]}: {r.stderr}"
    return json.loads(r.stdout)


@pytest.mark.slow
def test_synth_extract_train_predict_evaluate(tmp_path):
    data = tmp_path / "synth"
    summary = cli("synth", str(data), "--subjects", "2", "--videos-per-subject", "1", "--seconds", "8", "--seed", "3")
    manifest = data / "manifest.csv"
    assert manifest.is_file() and summary
    rows = list(csv.DictReader(open(manifest)))
    videos = sorted({(r["subject"], r["video"], r["path"]) for r in rows})
    assert len(videos) == 2
    feats = cli("extract", str(data), "--dataset", "-k", "30", "-o", str(tmp_path / "feats"), "--no-cache")
    assert [d["error"] for d in feats] == [None, None]
    run = tmp_path / "run"
    cli("train", "--dataset", str(manifest), "--model", "metst_plus", "--loso", "-o", str(run), "-k", "30",
        "--epochs", "2", "--model-overrides", '{"blocks": 1, "layers_per_block": 1, "dim": 16}', "--cache-dir", str(tmp_path / "cache"))
    for name in ("config.json", "progress.jsonl", "metrics.json", "final/model.safetensors"):
        assert (run / name).is_file(), name
    for subject, _, _ in videos:
        for name in ("model.safetensors", "metrics.json", "predictions.csv"):
            assert (run / "folds" / subject / name).is_file()
    assert {"tp", "fp", "fn", "f1", "strs"} <= set(json.loads((run / "metrics.json").read_text()).get("overall", json.loads((run / "metrics.json").read_text())))
    preds = []
    for subject, video, path in videos:
        out = tmp_path / f"{video}.csv"     # the model-free spotter, then the trained final model
        cli("predict", str(data / path), "--video-id", video, "--subject", subject, "-k", "30", "-o", str(out),
            "--no-cache")
        preds.append(str(out))
        cli("predict", str(data / path), "--video-id", video, "--subject", subject, "--model",
            str(run / "final" / "model.safetensors"), "-o", str(tmp_path / f"{video}_model.csv"), "--no-cache")
    m = cli("evaluate", "--gt", str(manifest), "--pred", *preds, "--per-subject")
    assert {"tp", "fp", "fn", "precision", "recall", "f1", "uf1", "uar", "recog_f1", "strs"} <= set(m)
    assert m["tp"] + m["fn"] == sum(1 for r in rows if r["type"] == "micro" and r["onset"])
    assert set(m["per_subject"]) == {v[0] for v in videos}
    mm = cli("evaluate", "--gt", str(manifest), "--pred", *[str(tmp_path / f"{v}_model.csv") for _, v, _ in videos])
    assert mm["tp"] + mm["fn"] == m["tp"] + m["fn"]
