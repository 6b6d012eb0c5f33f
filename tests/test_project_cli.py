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


# ---------------------------------------------------------------- public datasets as shipped
def _casme2_shipped(root: Path) -> Path:
    """A CAS(ME)^2 root as released (label sheet + naming-rule sheets, rawpic/s<NN>/<NN>_<code>...),
    its workbook under the name people download, with the kinds of inconsistent rows it holds."""
    from dataset_shapes import casme2_root

    rows = [[1, "anger1_1", 5, 8, 12, "4+10", "negative", "macro-expression", "anger"],
            [1, "anger1_2", "20", "24", "0", "", "others", "micro-expression", "sadness"],   # offset 0 -> apex
            [1, "disgust2_1", 3, 9, 7, "", "negative", "macro-expression", "disgust"],     # apex > offset
            [2, "anger1_1", 6, 0, 14, "24", "others", "macro-expression", "sadness"],      # apex 0
            [2, "happy4_3", "?", 9, 10, "", "positive", "micro-expression", "happiness"]]  # unusable
    return casme2_root(root, rows, ["15_0401girlcrashing", "15_0102eatingworms", "16_0401girlcrashing"],
                       frames=30, real_frames=True, sheet_name="CAS(ME)^2code_final (1).xlsx")


def test_ground_truth_casme2_as_shipped_with_sheet(tmp_path, capsys):
    root = _casme2_shipped(tmp_path / "CASME2")
    proj = tmp_path / "proj"
    run(capsys, "create", proj)
    code, _, err = run(capsys, "import", proj, "--ground-truth", "casme2", root)
    assert code == 1 and "--sheet" in err and err.count("\n") == 1
    code, res, _ = run(capsys, "import", proj, "--ground-truth", "casme2", root,
                       "--sheet", root / "CAS(ME)^2code_final (1).xlsx")
    assert code == 0 and res["added"] == 4 and res["dataset"] == "CAS(ME)^2"
    labels = res["labels"]
    assert (labels["rows"], labels["expressions"], labels["videos"], labels["subjects"]) == (5, 4, 3, 2)
    assert labels["repaired"] == {"apex outside the interval": 1, "apex 0": 1}
    assert labels["skipped"] == {"onset not a number": 1}
    assert any("sheet 'CASFEcode_final', row 5" in w and "(skipped)" in w for w in res["warnings"])
    with Project.open(proj) as p:
        assert sorted(v.name for v in p.videos()) == ["15_0102eatingworms", "15_0401girlcrashing",
                                                      "16_0401girlcrashing"]
        assert {v.subject for v in p.videos()} == {"s15", "s16"}
        name = {v.id: v.name for v in p.videos()}
        got = {(name[r.video_id], r.onset, r.apex, r.offset, r.type) for r in p.intervals()}
    assert got == {("15_0401girlcrashing", 4, 7, 11, "macro"), ("15_0401girlcrashing", 19, 23, 23, "micro"),
                   ("15_0102eatingworms", 2, None, 6, "macro"), ("16_0401girlcrashing", 5, None, 13, "macro")}


def test_ground_truth_sheet_paths_for_casme3_and_samm_lv(tmp_path, capsys):
    from dataset_shapes import (
        SAMM_HEADER,
        samm_emotion_rows,
        samm_title_block,
        touch_frames,
        write_workbook,
    )

    casme = tmp_path / "CASME3"
    touch_frames(casme / "data" / "spNO.14" / "j" / "color", [f"{i}.jpg" for i in range(1, 31)], real=True)
    sheet3 = write_workbook(tmp_path / "cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx", {"Sheet1": [
        ["Subject", "Filename", "Onset", "Apex", "Offset", "AU", "Objective class", "emotion"],
        ["spNO.14", "J", "5", "8", "12", "4", "1", "happy"]]})
    samm = tmp_path / "SAMM"
    touch_frames(samm / "SAMM_longvideos" / "006_1", [f"006_1_{i:05d}.jpg" for i in range(1, 31)], real=True)
    sheet_s = write_workbook(tmp_path / "SAMM_LongVideos_V3_Release (2).xlsx", {"FACS_Movement_Only": samm_title_block() + [
        SAMM_HEADER, [6, "006_1_1", 1, 3, 5, 9.000000000000002, 7, "Micro - 1/2", "4", ""]]})
    emo = write_workbook(tmp_path / "facs codes.xlsx", {"Sheet1": samm_emotion_rows([("006_1_1", "Anger")])})
    proj = tmp_path / "proj"
    run(capsys, "create", proj)
    code, res, _ = run(capsys, "import", proj, "--ground-truth", "casme3", casme, "--sheet", sheet3)
    assert code == 0 and res["added"] == 1 and res["labels"]["rows_repaired"] == 0
    code, res, _ = run(capsys, "import", proj, "--ground-truth", "samm_lv", samm, "--sheet", sheet_s,
                       "--emotion-sheet", emo)
    assert code == 0 and res["added"] == 1
    with Project.open(proj) as p:
        name = {v.id: v.name for v in p.videos()}
        got = {(name[r.video_id], r.onset, r.offset, r.emotion) for r in p.intervals()}
    assert got == {("spNO.14_j", 4, 11, "positive"), ("006_1", 2, 8, "negative")}


@pytest.mark.parametrize("extra, message", [
    (["--ground-truth", "manifest", "{tmp}/m.csv", "--sheet", "{tmp}/x.xlsx"], "without --sheet"),
    (["--ground-truth", "casme3", "{tmp}", "--emotion-sheet", "{tmp}/x.xlsx"], "SAMM-LV"),
    (["--predictions", "{tmp}/p.csv", "--sheet", "{tmp}/x.xlsx"], "go with --ground-truth"),
    (["--ground-truth", "casme4", "{tmp}"], "unknown ground-truth format"),
])
def test_sheet_options_misused_are_usage_errors(tmp_path, capsys, extra, message):
    proj = tmp_path / "proj"
    run(capsys, "create", proj)
    code, _, err = run(capsys, "import", proj, *[e.format(tmp=tmp_path) for e in extra])
    assert code == 2 and message in err


def test_add_infers_subjects_from_folders_and_searches_folders(tmp_path, capsys):
    """One rule for the CLI and the GUI: a video's subject is the folder that holds it; a folder of
    videos is searched (frame folders stay videos, their subject is the folder above)."""
    from metst_engine.project.videos import infer_subject, videos_to_add

    rec = tmp_path / "recordings"
    tiny_video(rec / "p01" / "a.mp4", n_frames=30)
    tiny_video(rec / "p02" / "b.mp4", n_frames=30)
    (rec / "p02" / "notes.txt").write_text("not a video")
    frames = rec / "p03" / "c"
    frames.mkdir(parents=True)
    import cv2
    import numpy as np

    for i in range(3):
        cv2.imwrite(str(frames / f"{i:03d}.png"), np.full((16, 16, 3), i * 40, np.uint8))
    found = videos_to_add([rec])
    assert [(v.path.relative_to(rec).as_posix(), v.subject, v.video_id) for v in found] == [
        ("p01/a.mp4", "p01", "a"), ("p02/b.mp4", "p02", "b"), ("p03/c", "p03", "c")]
    assert infer_subject(rec / "p01" / "a.mp4") == "p01" and infer_subject(frames) == "p03"
    proj = tmp_path / "proj"
    run(capsys, "create", proj)
    code, added, _ = run(capsys, "add", proj, rec / "p01", rec / "p02" / "b.mp4")
    assert code == 0 and [(v["video"], v["subject"]) for v in added] == [("a", "p01"), ("b", "p02")]
    code, added, _ = run(capsys, "add", proj, frames, "--subject", "other", "--fps", "25")
    assert code == 0 and [(v["video"], v["subject"]) for v in added] == [("c", "other")]
    with Project.open(proj, read_only=True) as p:
        assert {(v.name, v.subject) for v in p.videos()} == {("a", "p01"), ("b", "p02"), ("c", "other")}


def test_videos_of_the_same_name_in_subject_folders_get_ids_that_name_the_subject(tmp_path, capsys):
    """Interviews are often saved under one name per participant folder: both are added, each id says whose."""
    rec = tmp_path / "recordings"
    for subject in ("p01", "p02"):
        tiny_video(rec / subject / "interview.mp4", n_frames=30)
    tiny_video(rec / "p02" / "followup.mp4", n_frames=30)
    proj = tmp_path / "proj"
    run(capsys, "create", proj)
    code, added, _ = run(capsys, "add", proj, rec)
    assert code == 0
    assert sorted((v["video"], v["subject"]) for v in added) == [
        ("followup", "p02"), ("p01_interview", "p01"), ("p02_interview", "p02")]
    with Project.open(proj, read_only=True) as p:
        assert {v.name for v in p.videos()} == {"p01_interview", "p02_interview", "followup"}


def test_scratch_project_for_one_video_is_made_once_and_reused(tmp_path, monkeypatch):
    from metst_engine.errors import InputError
    from metst_engine.project.scratch import ensure_scratch_project, scratch_root

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    video = tiny_video(tmp_path / "p07" / "interview.mp4", n_frames=30)
    folder = ensure_scratch_project(video, annotator="alice")
    assert folder.parent == scratch_root() and str(folder).startswith(str(tmp_path / "data"))
    with Project.open(folder, read_only=True) as p:
        assert [(v.name, v.subject, v.path) for v in p.videos()] == [("interview", "p07", video)]
    assert ensure_scratch_project(video) == folder            # reused, the video is not added twice
    with Project.open(folder, read_only=True) as p:
        assert len(p.videos()) == 1
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video")
    with pytest.raises(InputError, match="broken.mp4"):
        ensure_scratch_project(bad)
    assert sorted(x.name for x in scratch_root().iterdir()) == [folder.name]   # nothing left for the bad one
