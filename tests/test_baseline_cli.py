"""Model-free spotter and the predict / evaluate verbs on the demo video (events at frames 60-69 and 150-162)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from metst_engine.analysis import SPOTTER_ALIGNMENT
from metst_engine.baseline import BaselineParams, spot
from metst_engine.evaluation import interval_iou
from metst_engine.extraction import extract_video
from metst_engine.features import ExtractParams
from metst_engine.intervals import Interval
from metst_engine.resources_path import resource_path

DEMO = Path(str(resource_path("demo", "demo_face.mp4")))
TRUTH = json.loads(Path(str(resource_path("demo", "demo_face.json"))).read_text())


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "metst_engine.cli", *args], capture_output=True, text=True, timeout=300)


def test_baseline_finds_both_demo_events_and_nothing_else(tmp_path):
    feats = extract_video(DEMO, ExtractParams(rois="metst_plus", window=30, alignment=SPOTTER_ALIGNMENT), cache_dir=tmp_path)
    found = spot(feats)
    gts = [Interval(e["onset"], e["offset"], e["apex"]) for e in TRUTH["events"]]
    assert len(found) == 2
    for gt, iv in zip(gts, found):
        assert interval_iou(gt, iv) >= 0.5 and abs(iv.apex - gt.apex) <= 1
    # a threshold above every peak: nothing is reported
    assert spot(feats, BaselineParams(threshold=1e4)) == []


def test_predict_then_evaluate(tmp_path):
    pred, curves = tmp_path / "pred.csv", tmp_path / "curves.npz"
    r = cli("predict", str(DEMO), "-o", str(pred), "--curves", str(curves), "--rois", "metst_plus", "-k", "30",
            "--subject", "astro", "--no-cache")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(open(pred)))
    assert [(row["subject"], row["video"]) for row in rows] == [("astro", "demo_face")] * 2
    with np.load(curves, allow_pickle=False) as z:
        assert z["spot_score"].shape == (240,) and z["flow"].shape == (240, 36)
        assert np.isnan(z["spot_score"]).sum() == 0          # 15 windows of 30 cover all 240 frames
        assert int(np.nanargmax(z["spot_score"])) in range(60, 70) or int(np.nanargmax(z["spot_score"])) in range(150, 163)
    gt = tmp_path / "gt.csv"
    with open(gt, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["subject", "video", "path", "fps", "onset", "apex", "offset", "type", "emotion", "raw_emotion"])
        for e in TRUTH["events"]:
            w.writerow(["astro", "demo_face", str(DEMO), 30, e["onset"], e["apex"], e["offset"], "micro", e["emotion"], e["au"]])
    r = cli("evaluate", "--gt", str(gt), "--pred", str(pred), "--per-subject")
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout)
    assert (m["tp"], m["fp"], m["fn"], m["f1"]) == (2, 0, 0, 1.0)
    assert {"precision", "recall", "uf1", "uar", "recog_f1", "strs"} <= set(m) and m["strs"] == 0.0   # no emotions
    assert m["per_subject"]["astro"]["tp"] == 2


def test_evaluate_refuses_predictions_for_unknown_videos(tmp_path):
    gt, pred = tmp_path / "gt.csv", tmp_path / "pred.csv"
    gt.write_text("subject,video,path,fps,onset,apex,offset,type,emotion,raw_emotion\ns1,v1,v1.mp4,30,10,12,15,micro,positive,\n")
    pred.write_text("subject,video,onset,apex,offset,emotion,score\ns1,v9,10,12,15,,1\n")
    r = cli("evaluate", "--gt", str(gt), "--pred", str(pred))
    assert r.returncode == 1 and r.stderr.startswith("error: ") and "v9" in r.stderr


def test_malformed_predictions_name_file_and_line(tmp_path):
    gt, pred = tmp_path / "gt.csv", tmp_path / "pred.csv"
    gt.write_text("subject,video,path,fps,onset,apex,offset,type,emotion,raw_emotion\ns1,v1,v1.mp4,30,10,12,15,micro,positive,\n")
    pred.write_text("subject,video,onset,apex,offset,emotion,score\ns1,v1,10,12,15,,1\ns1,v1,abc,12,15,,1\n")
    r = cli("evaluate", "--gt", str(gt), "--pred", str(pred))
    assert r.returncode == 1 and str(pred) in r.stderr and "line 3" in r.stderr


def test_one_based_export_round_trips_through_evaluate(tmp_path):
    """predict --one-based counts from 1; evaluate --one-based reads it back to the same scores."""
    from metst_engine.intervals_io import read_predictions, write_predictions

    ivs = [Interval(60, 69, 64, emotion="positive", score=0.9), Interval(0, 5, 2)]
    zero, one = tmp_path / "zero.csv", tmp_path / "one.csv"
    write_predictions(zero, [("astro", "demo_face", iv) for iv in ivs])
    write_predictions(one, [("astro", "demo_face", iv) for iv in ivs], one_based=True)
    assert [r["onset"] for r in csv.DictReader(open(one))] == ["61", "1"]
    assert read_predictions([one], one_based=True) == read_predictions([zero])
    gt = tmp_path / "gt.csv"
    gt.write_text("subject,video,path,fps,onset,apex,offset,type,emotion,raw_emotion\n"
                  f"astro,demo_face,{DEMO},30,60,64,69,micro,positive,\n")
    scores = [json.loads(cli("evaluate", "--gt", str(gt), "--pred", *args).stdout)
              for args in ([str(zero)], [str(one), "--one-based"])]
    assert scores[0] == scores[1] and scores[0]["tp"] == 1 and scores[0]["fp"] == 1
    # a 0-based file read as one-based has a frame 0: named, not shifted to -1
    r = cli("evaluate", "--gt", str(gt), "--pred", str(zero), "--one-based")
    assert r.returncode == 1 and str(zero) in r.stderr and "frame 0" in r.stderr


def test_predict_one_based_shifts_every_frame(tmp_path):
    zero, one = tmp_path / "zero.csv", tmp_path / "one.csv"
    for out, extra in ((zero, []), (one, ["--one-based"])):
        r = cli("predict", str(DEMO), "-o", str(out), "--rois", "metst_plus", "-k", "30", "--no-cache", *extra)
        assert r.returncode == 0, r.stderr
    rows0, rows1 = list(csv.DictReader(open(zero))), list(csv.DictReader(open(one)))
    assert len(rows0) == len(rows1) == 2
    for a, b in zip(rows0, rows1):
        assert [int(b[c]) - int(a[c]) for c in ("onset", "apex", "offset")] == [1, 1, 1]
