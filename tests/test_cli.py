"""The `metst` command: results on stdout / files, one-line errors naming the file, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from metst_engine.cli import VERBS, main
from metst_engine.resources_path import resource_path

DEMO = Path(str(resource_path("demo", "demo_face.mp4")))


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "metst_engine.cli", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def test_every_verb_has_help_with_examples(capsys):
    for name in VERBS:
        with pytest.raises(SystemExit) as exc:
            main([name, "--help"])
        assert exc.value.code == 0
        assert "examples:" in capsys.readouterr().out


def test_extract_demo_video_writes_npz_and_json_summary(tmp_path):
    out = tmp_path / "demo.npz"
    # the demo face is small (a 108 px crop box): metst's improved alignment follows its drift
    r = run_cli("extract", str(DEMO), "--rois", "metst", "-k", "30", "-o", str(out), "--no-cache",
                "--alignment", "improved")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["output"] == str(out) and summary["channels"] == 10 and summary["windows_without_face"] == 0
    with np.load(out, allow_pickle=False) as z:
        feats, starts = z["features"], z["starts"]
    # the demo's brow raise peaks at frame 64: the brow_r_y channel is most negative there
    w, t = np.unravel_index(np.argmin(feats[:, 1]), feats[:, 1].shape)
    assert abs(int(starts[w]) + int(t) - 64) <= 1


def test_extract_dataset_folder_one_npz_per_video(tmp_path):
    import shutil

    root = tmp_path / "data"
    (root / "sub1").mkdir(parents=True)
    shutil.copy(DEMO, root / "sub1" / "a.mp4")
    shutil.copy(DEMO, root / "b.mp4")
    (root / "notes.txt").write_text("not a video")
    r = run_cli("extract", str(root), "--dataset", "-k", "30", "-o", str(tmp_path / "feats"), "--workers", "2",
                "--no-cache")
    assert r.returncode == 0, r.stderr
    listed = {d["video"] for d in json.loads(r.stdout)}
    assert listed == {"sub1_a", "b"}
    assert sorted(p.name for p in (tmp_path / "feats").iterdir()) == ["b.npz", "sub1_a.npz"]


def test_dataset_with_a_broken_video_reports_it_and_keeps_the_others(tmp_path):
    import shutil

    root = tmp_path / "data"
    root.mkdir()
    shutil.copy(DEMO, root / "good.mp4")
    (root / "broken.mp4").write_bytes(DEMO.read_bytes()[:5000])
    r = run_cli("extract", str(root), "--dataset", "-k", "30", "-o", str(tmp_path / "feats"), "--no-cache")
    assert r.returncode == 1
    by_id = {d["video"]: d for d in json.loads(r.stdout)}
    assert by_id["good"]["error"] is None and by_id["good"]["n_windows"] == 15
    assert "broken.mp4" in by_id["broken"]["error"]
    assert "error: " in r.stderr and "broken.mp4" in r.stderr
    assert [p.name for p in (tmp_path / "feats").iterdir()] == ["good.npz"]


@pytest.mark.parametrize("make, problem", [
    (lambda d: d / "missing.mp4", "does not exist"),
    (lambda d: (d / "notes.mp4").write_text("hello") and d / "notes.mp4", ""),
    (lambda d: (d / "empty").mkdir() or d / "empty", ""),
])
def test_bad_input_is_one_error_line_naming_the_file(tmp_path, make, problem):
    path = make(tmp_path)
    r = run_cli("extract", str(path), "-o", str(tmp_path / "x.npz"))
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(path) in lines[0], r.stderr
    assert problem in lines[0] and "Traceback" not in r.stderr
    assert not (tmp_path / "x.npz").exists()


def test_bad_usage_exits_2(tmp_path):
    r = run_cli("extract", str(DEMO), "-k", "31", "-o", str(tmp_path / "x.npz"))
    assert r.returncode == 2 and r.stderr.startswith("error: ") and "even" in r.stderr


def test_debug_shows_traceback(tmp_path):
    r = run_cli("--debug", "info", str(tmp_path / "nope.mp4"))
    assert r.returncode == 1 and "Traceback" in r.stderr and r.stderr.strip().splitlines()[-1].startswith("error: ")


def test_info_reports_frames_and_fps():
    r = run_cli("info", str(DEMO), "--validate")
    info = json.loads(r.stdout)
    assert info["n_frames"] == 240 and info["usable_frames"] == 240 and info["fps"] == pytest.approx(30)
    assert (info["width"], info["height"]) == (320, 320)


def test_demo_verb_reports_the_known_events():
    r = run_cli("demo")
    assert r.returncode == 0, r.stderr
    assert "brow" in r.stdout and "at frame 64" in r.stdout


def test_dataset_loads_the_landmark_model_once_for_all_videos(tmp_path, monkeypatch):
    """A dataset of many short clips spends no second per clip loading the landmark model again."""
    import shutil

    from metst_engine import extraction
    from metst_engine.features import ExtractParams

    root = tmp_path / "data"
    root.mkdir()
    for name in ("a", "b", "c"):
        shutil.copy(DEMO, root / f"{name}.mp4")
    loads = []
    real = extraction.default_landmark_model
    monkeypatch.setattr(extraction, "default_landmark_model", lambda: loads.append(1) or real())
    results = extraction.extract_dataset(extraction.discover_videos(root), ExtractParams(window=30), tmp_path / "feats",
                                         processes=1, use_cache=False)
    assert [r.error for r in results] == [None, None, None]
    assert len(loads) == 1
    with np.load(results[0].output) as one, np.load(results[2].output) as three:
        assert np.array_equal(one["features"], three["features"])     # the reused model changes nothing
