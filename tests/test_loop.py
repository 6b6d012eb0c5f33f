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
def test_synth_extract_predict_evaluate(tmp_path):
    data = tmp_path / "synth"
    summary = cli("synth", str(data), "--subjects", "2", "--videos-per-subject", "1", "--seconds", "8", "--seed", "3")
    manifest = data / "manifest.csv"
    assert manifest.is_file() and summary
    rows = list(csv.DictReader(open(manifest)))
    videos = sorted({(r["subject"], r["video"], r["path"]) for r in rows})
    assert len(videos) == 2
    feats = cli("extract", str(data), "--dataset", "-k", "30", "-o", str(tmp_path / "feats"), "--no-cache")
    assert [d["error"] for d in feats] == [None, None]
    preds = []
    for subject, video, path in videos:
        out = tmp_path / f"{video}.csv"
        cli("predict", str(data / path), "--video-id", video, "--subject", subject, "-k", "30", "-o", str(out),
            "--no-cache")
        preds.append(str(out))
    m = cli("evaluate", "--gt", str(manifest), "--pred", *preds, "--per-subject")
    assert {"tp", "fp", "fn", "precision", "recall", "f1", "uf1", "uar", "recog_f1", "strs"} <= set(m)
    assert m["tp"] + m["fn"] == sum(1 for r in rows if r["type"] == "micro" and r["onset"])
    assert set(m["per_subject"]) == {v[0] for v in videos}
