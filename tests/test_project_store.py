"""Project store API: videos, imports that never overwrite human work, undo/redo, queue, progress, labels."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from dataset_shapes import write_workbook
from project_support import project_with, tiny_video, two_clips

from metst_engine.datasets import load_manifest
from metst_engine.errors import (
    EditConflictError,
    InputError,
    PendingIntervalsError,
    ProjectError,
    ReadOnlyError,
)
from metst_engine.project import Project


@pytest.fixture(scope="module")
def video_files(tmp_path_factory) -> dict[str, Path]:
    return two_clips(tmp_path_factory.mktemp("videos"))


@pytest.fixture
def project(tmp_path, video_files) -> Project:
    p = project_with(tmp_path / "proj", {name: (src, "S1" if name == "a" else "S2")
                                         for name, src in video_files.items()})
    yield p
    p.close()


def write_predictions(path: Path, rows: list[tuple[str, int, int, float | None]]) -> Path:
    lines = ["subject,video,onset,apex,offset,emotion,score"]
    lines += [f"S,{v},{on},,{off},,{'' if s is None else s}" for v, on, off, s in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def spans(records) -> list[tuple[int, int]]:
    return [(r.onset, r.offset) for r in records]


# ---------------------------------------------------------------- videos
def test_videos_are_stored_relative_with_their_own_timestamps(project, tmp_path):
    a = project.video("a")
    assert a.stored_path == "videos/a.mp4" and a.path == project.folder / "videos" / "a.mp4"
    assert (a.n_frames, a.fps, a.subject) == (60, 25.0, "S1")
    ts = project.timestamps("a")
    assert ts.shape == (60,) and ts[0] == 0.0 and np.allclose(np.diff(ts), 0.04)
    assert [s.name for s in project.subjects()] == ["S1", "S2"]
    with pytest.raises(ProjectError, match="already has a video 'a'"):
        project.add_video(a.path, "S1", "a")
    outside = tiny_video(tmp_path / "elsewhere" / "c.mp4", n_frames=10)
    assert Path(project.add_video(outside, "S3").stored_path).is_absolute()


def test_a_moved_video_is_reported_and_relocated(project, tmp_path):
    assert project.missing_videos() == []
    old = project.video("a").path
    new = tmp_path / "moved" / "a.mp4"
    new.parent.mkdir()
    shutil.move(old, new)
    (problem,) = project.missing_videos()
    assert problem.video == "a" and "not found" in problem.problem and "relocate" in problem.fix
    with pytest.raises(InputError, match="not the same video"):
        project.relocate_video("a", project.video("b").path)
    edit = project.relocate_video("a", new)
    assert project.video("a").path == new and project.missing_videos() == []
    project.undo(edit)
    assert project.video("a").path == old


def test_opening_something_that_is_not_a_project(tmp_path):
    with pytest.raises(ProjectError, match="not a metst project folder"):
        Project.open(tmp_path)
    Project.create(tmp_path / "p").close()
    with pytest.raises(ProjectError, match="already exists"):
        Project.create(tmp_path / "p")


# ---------------------------------------------------------------- imports
def test_import_never_overwrites_an_interval_a_human_touched(project, tmp_path):
    first = project.import_predictions(write_predictions(tmp_path / "p1.csv", [
        ("a", 5, 10, 0.9), ("a", 20, 25, 0.8), ("a", 40, 45, 0.7), ("b", 3, 8, 0.6)]), predictor="baseline")
    assert (first.added, first.replaced, first.skipped) == (4, 0, 0)
    ids = {(r.onset, r.offset): r.id for r in project.intervals()}
    assert all(r.state == "pending" and r.source == "predicted" for r in project.intervals())
    project.accept(ids[(5, 10)])
    project.correct(ids[(20, 25)], onset=19, emotion="surprise")
    project.set_note(ids[(3, 8)], "check again")
    touched_before = {r.id: r for r in project.intervals() if r.touched}
    second = project.import_predictions(write_predictions(tmp_path / "p2.csv", [
        ("a", 5, 11, 0.95), ("a", 30, 35, 0.5), ("b", 3, 8, 0.1)]), predictor="model")
    # (40, 45) untouched: replaced; (5, 11) overlaps the accepted one, (3, 8) the noted one: skipped
    assert (second.added, second.replaced, second.skipped) == (1, 1, 2)
    touched_after = {r.id: r for r in project.intervals() if r.touched}
    assert touched_after == touched_before
    assert spans(project.review_queue()) == [(30, 35), (3, 8)]     # a note touches it but leaves it pending
    assert [r.predictor for r in project.runs()] == ["baseline", "model"]
    # undo of the whole import brings the replaced prediction back
    project.undo(second.edit)
    assert spans(project.review_queue()) == [(40, 45), (3, 8)]


def test_a_bad_import_writes_nothing(project, tmp_path):
    bad = write_predictions(tmp_path / "bad.csv", [("a", 5, 10, 0.9), ("zzz", 1, 2, 0.5)])
    with pytest.raises(InputError, match="zzz") as err:
        project.import_predictions(bad)
    assert err.value.path == bad
    past_end = write_predictions(tmp_path / "end.csv", [("a", 55, 60, 0.9)])
    with pytest.raises(InputError, match="past the last frame 59"):
        project.import_predictions(past_end)
    assert project.intervals() == [] and project.runs() == []


def test_ground_truth_from_a_manifest(project, tmp_path):
    manifest = tmp_path / "gt" / "manifest.csv"
    manifest.parent.mkdir()
    def rel(name: str) -> Path:
        return Path("..") / "proj" / "videos" / name

    manifest.write_text("subject,video,path,fps,onset,apex,offset,type,emotion,raw_emotion\n"
                        f"S1,a,{rel('a.mp4')},25,4,6,9,micro,negative,disgust\n"
                        f"S1,a,{rel('a.mp4')},25,30,,50,macro,,\n", encoding="utf-8")
    res = project.import_ground_truth(load_manifest(manifest), annotator="gt")
    assert res.added == 2
    rows = project.intervals("a")
    assert [(r.onset, r.apex, r.offset, r.type, r.emotion, r.source, r.state, r.annotator) for r in rows] == [
        (4, 6, 9, "micro", "negative", "imported", "accepted", "gt"),
        (30, None, 50, "macro", None, "imported", "accepted", "gt")]
    again = project.import_ground_truth(load_manifest(manifest), annotator="gt")
    assert (again.added, again.skipped) == (0, 2)


def test_a_bad_ground_truth_import_adds_neither_videos_nor_intervals(project, tmp_path):
    from metst_engine.datasets import Dataset, LabelledInterval, VideoEntry

    new = VideoEntry("S9", "new", tiny_video(tmp_path / "new.mp4", n_frames=20), 25.0)
    new.intervals = [LabelledInterval("S9", "new", 2, None, 5)]
    bad = VideoEntry("S1", "a", project.video("a").path, 25.0)
    bad.intervals = [LabelledInterval("S1", "a", 50, None, 70)]          # past the 60 frames of "a"
    with pytest.raises(InputError, match="offset 70 is past the last frame 59"):
        project.import_ground_truth(Dataset("gt", [new, bad]))
    assert [v.name for v in project.videos()] == ["a", "b"] and project.intervals() == []
    with pytest.raises(ProjectError, match="video 'new' of gt is not in the project"):
        project.import_ground_truth(Dataset("gt", [new]), add_missing_videos=False)
    res = project.import_ground_truth(Dataset("gt", [new]))
    assert res.added == 1 and project.video("new").subject == "S9"


def _frames(folder: Path, names: list[str]) -> None:
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    for i, n in enumerate(names):
        cv2.imwrite(str(folder / n), np.full((16, 16, 3), i * 10 % 255, np.uint8))


def test_ground_truth_from_casme3_and_samm_lv_loaders(tmp_path):
    from metst_engine.datasets import load_casme3, load_samm_lv

    casme = tmp_path / "casme3"
    _frames(casme / "data" / "spNO.1" / "a" / "color", [f"{i}.jpg" for i in range(1, 41)])
    write_workbook(casme / "casme3_label.xlsx", {"ME": [
        ["Subject", "Filename", "Onset", "Apex", "Offset", "AU", "Objective class", "emotion"],
        ["spNO.1", "a", 5, 8, 12, "4", "1", "happy"]]})
    samm = tmp_path / "samm"
    _frames(samm / "SAMM_longvideos" / "006_1", [f"006_1_{i:05d}.jpg" for i in range(1, 31)])
    write_workbook(samm / "SAMM_LongVideos_V3_Release.xlsx", {"FACS_Movement_Only": [["SAMM"]] + [
        [f"n{i}"] for i in range(2, 10)] + [
        ["Subject", "Filename", "Inducement Code", "Onset", "Apex", "Offset", "Duration", "Type", "Action Units",
         "Notes"], [6, "006_1_1", 1, 3, 5, 9, 7, "Micro - 1/2", "4", ""]]})
    with Project.create(tmp_path / "proj") as p:
        p.import_ground_truth(load_casme3(casme))
        p.import_ground_truth(load_samm_lv(samm))
        got = {(r.video_id, r.onset, r.offset, r.emotion, r.annotator) for r in p.intervals()}
        a, s = p.video("spNO.1_a"), p.video("006_1")
        assert (a.fps, a.n_frames, s.fps, s.n_frames) == (30.0, 40, 200.0, 30)
        assert got == {(a.id, 4, 11, "positive", "CAS(ME)^3"), (s.id, 2, 8, None, "SAMM-LV")}


# ---------------------------------------------------------------- edits, undo, redo, log
def test_every_edit_undoes_and_redoes(project):
    add = project.add_interval("a", 10, 20, apex=15, emotion="positive", note="first")
    iid = add.interval_id
    assert add.before is None and add.after.source == "manual" and add.after.annotator == "alice"
    edits = [project.reject(iid), project.accept(iid), project.correct(iid, offset=22, apex=None, type="macro"),
             project.set_note(iid, "=1+1"), project.set_complete("a")]
    states = [project.interval(iid)]
    for e in reversed(edits):
        project.undo(e)
    assert project.interval(iid) == add.after and not project.video("a").complete
    for e in edits:
        project.redo(e)
    assert project.interval(iid) == states[0] and project.video("a").complete
    r = project.interval(iid)
    assert (r.offset, r.apex, r.type, r.note, r.state) == (22, None, "macro", "=1+1", "accepted")
    deleted = project.delete_interval(iid)
    assert project.intervals() == []
    project.undo(deleted)
    assert project.interval(iid) == r
    # undoing an old edit after later changes is refused and changes nothing
    with pytest.raises(EditConflictError):
        project.undo(edits[0])
    assert project.interval(iid) == r


def test_correct_marks_predictions_corrected_and_validates(project, tmp_path):
    project.import_predictions(write_predictions(tmp_path / "p.csv", [("a", 5, 10, 0.9)]))
    (iv,) = project.intervals()
    edit = project.correct(iv.id, onset=4, emotion="negative")
    assert (edit.before.state, edit.after.state, edit.after.onset, edit.after.emotion) == (
        "pending", "corrected", 4, "negative")
    project.accept(iv.id)
    assert project.interval(iv.id).state == "corrected"     # accepting a correction keeps it a correction
    with pytest.raises(InputError, match="past the last frame"):
        project.correct(iv.id, offset=60)
    with pytest.raises(InputError, match="apex 30 outside"):
        project.correct(iv.id, apex=30)
    with pytest.raises(InputError, match="type 'big'"):
        project.add_interval("a", 1, 2, type="big")
    assert (project.interval(iv.id).offset, project.interval(iv.id).apex) == (10, None)   # nothing written


def test_edit_log_records_everything_and_is_append_only(project):
    e = project.add_interval("b", 1, 4)
    project.reject(e.interval_id)
    log = project.edit_log()
    assert [x["action"] for x in log[:2]] == ["reject", "add"] and log[0]["who"] == "alice"
    assert log[0]["changes"][0]["before"]["state"] == "accepted"
    assert log[0]["changes"][0]["after"]["state"] == "rejected"
    conn = sqlite3.connect(project.db_path)
    for sql in ("UPDATE edit_log SET who = 'mallory'", "DELETE FROM edit_log"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute(sql)
    conn.close()


def test_a_closed_project_opens_read_only_on_request(project):
    project.add_interval("a", 1, 2)
    project.close()
    with Project.open(project.folder, read_only=True) as p:
        assert p.read_only and p.read_only_reason == "opened read-only as asked"
        assert [(r.onset, r.offset) for r in p.intervals()] == [(1, 2)]
    with Project.open(project.folder) as p:      # nobody else has it: editable
        assert not p.read_only and p.read_only_reason is None


def test_a_failed_commit_writes_nothing_and_says_so(project):
    before = project.intervals()
    conn = project._db()
    conn.execute("PRAGMA max_page_count = 1")       # the database file cannot grow: like a full disk
    saved = 0
    with pytest.raises(ProjectError, match="could not save .*nothing of this edit was written"):
        for i in range(200):
            project.add_interval("a", i % 50, i % 50 + 5, note="x" * 2000)
            saved += 1
    assert not conn.in_transaction
    conn.execute("PRAGMA max_page_count = 1073741823")
    assert len(project.intervals()) == len(before) + saved
    project.add_interval("a", 1, 2)                  # the project keeps working
    project.close()
    with pytest.raises(ProjectError, match="the project is closed"):
        project.add_interval("a", 1, 2)


def test_read_only_project_refuses_edits(project):
    with Project.open(project.folder) as other:
        assert other.read_only and "open for editing" in other.read_only_reason
        with pytest.raises(ReadOnlyError, match="open for editing"):
            other.add_interval("a", 1, 2)
        assert other.videos() == project.videos()


# ---------------------------------------------------------------- queue and progress
def test_review_queue_orders(project, tmp_path):
    run = project.import_predictions(write_predictions(tmp_path / "p.csv", [
        ("b", 40, 45, 0.95), ("a", 30, 33, 0.55), ("a", 10, 12, 0.2), ("a", 50, 52, None)]),
        params={"threshold": 0.5})
    assert run.run_id == project.runs()[0].id and project.runs()[0].params == {"threshold": 0.5}
    assert spans(project.review_queue("time")) == [(10, 12), (30, 33), (50, 52), (40, 45)]
    assert [r.score for r in project.review_queue("score")] == [0.95, 0.55, 0.2, None]
    assert [r.score for r in project.review_queue("uncertainty")] == [0.55, 0.2, 0.95, None]
    assert spans(project.review_queue("time", video="b")) == [(40, 45)]
    with pytest.raises(InputError, match="unknown queue order"):
        project.review_queue("random")  # type: ignore[arg-type]


def test_progress_per_video_and_subject(project, tmp_path):
    project.set_complete("b")                       # then a new analysis brings a pending proposal
    project.import_predictions(write_predictions(tmp_path / "p.csv", [
        ("a", 1, 3, 0.9), ("a", 10, 12, 0.9), ("a", 20, 22, 0.9), ("b", 5, 9, 0.9)]))
    a = project.intervals("a")
    project.accept(a[0].id)
    project.reject(a[1].id)
    project.add_interval("a", 40, 44)
    pa, pb = project.progress()
    assert (pa.video, pa.total, pa.pending, pa.accepted, pa.rejected, pa.manual, pa.complete) == (
        "a", 4, 1, 2, 1, 1, False)
    assert pa.reviewed_fraction == 0.75 and (pb.pending, pb.complete) == (1, True)
    s1, s2 = project.subject_progress()
    assert (s1.subject, s1.videos, s1.videos_complete, s1.pending) == ("S1", 1, 0, 1)
    assert (s2.subject, s2.videos_complete) == ("S2", 1)


# ---------------------------------------------------------------- training labels
def test_training_labels_come_only_from_complete_videos(project, tmp_path):
    project.import_predictions(write_predictions(tmp_path / "p.csv", [
        ("a", 1, 3, 0.9), ("a", 10, 12, 0.9), ("a", 20, 22, 0.9), ("a", 30, 34, 0.9), ("b", 5, 9, 0.9)]))
    a = project.intervals("a")
    project.accept(a[0].id)
    project.reject(a[1].id)
    project.correct(a[2].id, offset=24, emotion="surprise")
    project.add_interval("a", 40, 44, emotion="my own label")
    # a[3] stays pending; video b is not complete
    with pytest.raises(ProjectError, match="no video is marked review complete"):
        project.training_manifest(tmp_path / "none.csv")
    with pytest.raises(PendingIntervalsError, match="1 pending interval") as refused:
        project.set_complete("a")
    assert refused.value.interval_ids == (a[3].id,) and not project.video("a").complete
    project.reject(a[3].id)
    project.set_complete("a")
    project.add_interval("b", 20, 25)
    out = project.training_manifest(tmp_path / "train" / "manifest.csv")
    ds = load_manifest(out)
    assert [v.video for v in ds.videos] == ["a"]
    got = [(i.onset, i.offset, i.emotion, i.raw_emotion) for i in ds.videos[0].intervals]
    assert got == [(1, 3, None, None), (20, 24, "surprise", "surprise"), (40, 44, None, "my own label")]
    assert ds.videos[0].path.resolve() == project.video("a").path.resolve()


def test_training_labels_merge_imported_ground_truth(project, tmp_path):
    from metst_engine.datasets import Dataset, LabelledInterval, VideoEntry

    entry = VideoEntry("S1", "a", project.video("a").path, 25.0)
    entry.intervals = [LabelledInterval("S1", "a", 2, None, 8, "micro", "negative"),
                       LabelledInterval("S1", "a", 50, None, 55, "micro", "positive")]
    project.import_ground_truth(Dataset("gt", [entry]))
    project.add_interval("a", 2, 9, emotion="negative")       # the reviewer's version of the first one
    project.set_complete("a")
    plain = project.training_labels()
    merged = project.training_labels(include_ground_truth=True)
    assert spans(plain.videos[0].intervals) == [(2, 9)]
    assert spans(merged.videos[0].intervals) == [(2, 9), (50, 55)]


# ---------------------------------------------------------------- curves and agreement
def test_register_curves_copies_into_cache(project, tmp_path):
    src = tmp_path / "curves.npz"
    np.savez(src, spot_score=np.zeros(60, np.float32))
    rec = project.register_curves("a", src)
    assert rec.path.is_file() and project.cache_dir in rec.path.parents
    assert project.curves("a") == [rec]
    with np.load(rec.path, allow_pickle=False) as z:
        assert z["spot_score"].shape == (60,)


def test_agreement_between_two_annotators(project):
    from sklearn.metrics import cohen_kappa_score

    project.annotator = "alice"
    for on, off, emo in ((5, 14, "positive"), (30, 39, "negative")):
        project.add_interval("a", on, off, emotion=emo)
    project.annotator = "bob"
    project.add_interval("a", 6, 14, emotion="positive")      # IoU 0.9: a match
    project.add_interval("a", 45, 49, emotion="negative")     # no match
    rejected = project.add_interval("a", 30, 39, emotion="negative")
    project.reject(rejected.interval_id)                       # rejected ones do not count
    ag = project.agreement("alice", "bob")
    assert (ag.matched, ag.events_a, ag.events_b, ag.videos, ag.frames) == (1, 2, 2, 1, 60)
    assert ag.event_f1 == pytest.approx(0.5)
    la = ["none"] * 60
    lb = ["none"] * 60
    la[5:15] = ["positive"] * 10
    la[30:40] = ["negative"] * 10
    lb[6:15] = ["positive"] * 9
    lb[45:50] = ["negative"] * 5
    assert ag.kappa == pytest.approx(cohen_kappa_score(la, lb))
    same = project.agreement("alice", "alice", video="a")
    assert (same.kappa, same.event_f1) == (1.0, 1.0)


def test_record_run_keeps_a_trained_model_with_its_parameters(project):
    run = project.record_run("model /runs/r1/final/model.safetensors",
                             {"run_dir": "/runs/r1", "config": {"epochs": 3}, "outcome": "finished"}, "/runs/r1")
    assert run in project.runs()
    assert run.params["config"] == {"epochs": 3} and run.source_file == "/runs/r1"
    with Project.open(project.folder, read_only=True) as other:
        assert other.runs()[-1] == run


def test_ground_truth_only_labels_need_no_review(project, tmp_path):
    from metst_engine.datasets import Dataset, LabelledInterval, VideoEntry

    entry = VideoEntry("S1", "a", project.video("a").path, 25.0)
    entry.intervals = [LabelledInterval("S1", "a", 5, 7, 10, "micro", "positive", "positive")]
    project.import_ground_truth(Dataset("dataset", [entry]))
    project.add_interval("a", 30, 35)                           # reviewed, but the video is not complete
    labels = project.training_labels(reviewed=False)
    assert [(e.video, [(i.onset, i.offset) for i in e.intervals]) for e in labels.videos] == [("a", [(5, 10)])]
    with pytest.raises(ProjectError, match="review complete"):
        project.training_manifest(tmp_path / "m.csv")
    assert project.training_manifest(tmp_path / "gt.csv", reviewed=False).is_file()


def test_the_store_and_the_fingerprint_do_not_load_the_feature_extractor():
    """Opening the project package loads no decoder; fingerprinting a video (video/) loads neither
    features.py (OpenCV, dlib) nor cache.py, so video/ does not loop back through them."""
    for code, banned in (("import metst_engine.project", "'cv2', 'av', 'dlib', 'metst_engine.features'"),
                         ("from metst_engine.video import video_fingerprint as f; f(f.__code__.co_filename)",
                          "'dlib', 'metst_engine.features', 'metst_engine.cache'")):
        check = f"import sys; {code}; sys.exit(bool({{{banned}}} & set(sys.modules)))"
        assert subprocess.run([sys.executable, "-c", check]).returncode == 0, code
