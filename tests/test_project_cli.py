"""``metst project``: create, add, import, export, stats, complete, relocate, agreement from the command line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from project_support import tiny_video

from metst_engine.cli import main
from metst_engine.datasets import load_manifest
from metst_engine.project import Project


def run(capsys, *args: str) -> tuple[int, object, str]:
    code = main(["-q", "project", *map(str, args)])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else None), err


def test_project_verbs_end_to_end(tmp_path, capsys):
    proj = tmp_path / "proj"
    assert run(capsys, "create", proj)[0] == 0
    video = tiny_video(proj / "videos" / "p01_a.mp4", n_frames=60)
    code, added, _ = run(capsys, "--annotator", "alice", "add", proj, video, "--subject", "p01")
    assert code == 0 and added == [{"video": "p01_a", "subject": "p01", "n_frames": 60, "fps": 25.0,
                                    "path": "videos/p01_a.mp4"}]
    preds = tmp_path / "p.csv"
    preds.write_text("subject,video,onset,apex,offset,emotion,score\np01,p01_a,5,7,10,,0.9\n"
                     "p01,p01_a,30,,36,surprise,0.4\n", encoding="utf-8")
    code, imported, _ = run(capsys, "import", proj, "--predictions", preds, "--predictor", "baseline",
                            "--params", '{"threshold": 0.5}')
    assert code == 0 and imported[0]["added"] == 2 and imported[0]["run"] == 1
    one_based = tmp_path / "p1.csv"
    one_based.write_text("subject,video,onset,apex,offset,emotion,score\np01,p01_a,6,8,11,,0.9\n", encoding="utf-8")
    code, imported, _ = run(capsys, "import", proj, "--predictions", one_based, "--one-based", "--keep-untouched")
    assert code == 0 and imported[0]["added"] == 1
    with Project.open(proj) as p:
        dup = [r for r in p.intervals() if r.run_id == imported[0]["run"]]
        assert [(r.onset, r.apex, r.offset) for r in dup] == [(5, 7, 10)]   # 0-based inside the project
        p.delete_interval(dup[0].id)
    code, stats, _ = run(capsys, "stats", proj)
    assert stats["videos"][0]["pending"] == 2 and stats["subjects"][0]["videos_complete"] == 0
    assert stats["missing"] == []
    with Project.open(proj, annotator="alice") as p:             # a reviewer's work, through the API
        first, second = p.review_queue()
        p.accept(first.id)
        p.reject(second.id)
    assert run(capsys, "complete", proj, "p01_a")[0] == 0
    for name in ("labels.csv", "labels.xlsx"):
        code, out, _ = run(capsys, "export", proj, "-o", tmp_path / name)
        assert code == 0 and (tmp_path / name).is_file()
    assert run(capsys, "export", proj, "-o", tmp_path / "a.eaf", "--video", "p01_a")[0] == 0
    code, out, _ = run(capsys, "export", proj, "-o", tmp_path / "train" / "manifest.csv", "--format", "manifest")
    assert code == 0 and out["format"] == "manifest"
    ds = load_manifest(tmp_path / "train" / "manifest.csv")
    assert [(i.onset, i.offset) for i in ds.videos[0].intervals] == [(5, 10)]
    code, ag, _ = run(capsys, "agreement", proj, "alice", "alice")
    assert code == 0 and ag["kappa"] == 1.0 and ag["event_f1"] == 1.0
    # the exported CSV imports into a second project with the same video
    other = tmp_path / "other"
    run(capsys, "create", other)
    run(capsys, "add", other, video, "--subject", "p01")
    code, res, _ = run(capsys, "import", other, "--intervals", tmp_path / "labels.csv")
    assert code == 0 and res["added"] == 2


def test_ground_truth_manifest_and_relocate(tmp_path, capsys):
    proj = tmp_path / "proj"
    run(capsys, "create", proj)
    video = tiny_video(tmp_path / "data" / "v1.mp4", n_frames=40)
    manifest = tmp_path / "data" / "manifest.csv"
    manifest.write_text("subject,video,path,fps,onset,apex,offset,type,emotion,raw_emotion\n"
                        "s1,v1,v1.mp4,25,3,5,9,micro,positive,happy\n", encoding="utf-8")
    code, res, _ = run(capsys, "import", proj, "--ground-truth", "manifest", manifest)
    assert code == 0 and res["added"] == 1 and res["dataset"] == "manifest"
    moved = tmp_path / "moved" / "v1.mp4"
    moved.parent.mkdir()
    shutil.move(video, moved)
    code, stats, _ = run(capsys, "stats", proj)
    assert stats["missing"][0]["video"] == "v1" and "relocate" in stats["missing"][0]["fix"]
    code, out, _ = run(capsys, "relocate", proj, "v1", moved)
    assert code == 0 and out["path"] == str(moved)
    assert run(capsys, "stats", proj)[1]["missing"] == []


@pytest.mark.parametrize("args, message", [
    (["stats", "{tmp}/nowhere"], "not a metst project folder"),
    (["import", "{proj}", "--predictions", "{tmp}/missing.csv"], "predictions file not found"),
    (["export", "{proj}", "-o", "{tmp}/x.txt"], "pass --format"),
    (["export", "{proj}", "-o", "{tmp}/x.eaf"], "pass --video"),
    (["import", "{proj}", "--predictions", "{tmp}/p.csv", "--params", "[1]"], "JSON object"),
    (["export", "{proj}", "-o", "{tmp}/m.csv", "--format", "manifest"], "no video is marked review complete"),
])
def test_errors_are_one_line_with_the_file(tmp_path, capsys, args, message):
    proj = tmp_path / "proj"
    run(capsys, "create", proj)
    (tmp_path / "p.csv").write_text("subject,video,onset,apex,offset,emotion,score\n", encoding="utf-8")
    code, _, err = run(capsys, *[a.format(tmp=tmp_path, proj=proj) for a in args])
    assert code == 1 and err.startswith("error: ") and message in err and err.count("\n") == 1


def test_create_refuses_an_existing_project(tmp_path, capsys):
    run(capsys, "create", tmp_path / "p")
    code, _, err = run(capsys, "create", tmp_path / "p")
    assert code == 1 and "already exists" in err
    assert Path(tmp_path / "p" / "project.sqlite").is_file()
