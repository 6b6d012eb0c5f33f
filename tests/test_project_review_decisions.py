"""The reviewers' report on the review rules: completing with pending intervals, labels vs timing,
delete, where the reviewer left off, and the schema migration that holds the new facts.

Each test reads back what the store holds through a fresh read-only open of the folder, and
the training labels through the manifest file that ``metst train`` reads.
"""

from __future__ import annotations

import sqlite3

import pytest
from project_support import predicted_project, project_with

from metst_engine.datasets import load_manifest
from metst_engine.errors import InputError, PendingIntervalsError, ProjectError
from metst_engine.project import (
    PendingIntervals,
    Project,
    Review,
    ReviewError,
    ReviewPosition,
    schema,
)
from metst_engine.project.training_labels import TrainingLabelsPart


@pytest.fixture
def project(tmp_path, clips) -> Project:
    with predicted_project(tmp_path, clips, first_emotion="surprise") as p:
        yield p


def stored(project: Project, video: str = "a") -> list[tuple]:
    with Project.open(project.folder, read_only=True) as p:
        return [(r.onset, r.offset, r.emotion, r.state, r.source, r.label_edited) for r in p.intervals(video)]


# ---------------------------------------------------------------- 1. complete with pending intervals
def test_mark_complete_is_refused_with_the_pending_ids_and_nothing_changes(project):
    review = Review(project)
    review.open("a")
    review.select(review.interval_at(6).id)
    review.accept()
    pending = [r.id for r in project.intervals("a", states=["pending"])]
    with pytest.raises(PendingIntervals) as refused:
        review.set_complete(True)
    assert refused.value.count == 2 and refused.value.interval_ids == tuple(pending)
    assert refused.value.video.name == "a"
    assert "a still has 2 pending interval(s)" in str(refused.value)
    assert isinstance(refused.value, ReviewError)                    # the GUI's status-bar path still works
    assert not project.video("a").complete and review.history().index == 1   # nothing recorded
    with Project.open(project.folder, read_only=True) as p:
        assert not p.video("a").complete


def test_reject_all_pending_is_one_undoable_step_then_complete_works(project):
    review = Review(project)
    review.open("a")
    review.select(review.interval_at(6).id)
    review.accept()
    step = review.reject_all_pending()
    assert step.text == "Reject all pending" and step.edit.action == "reject pending"
    assert [s[3] for s in stored(project)] == ["accepted", "rejected", "rejected"]
    assert [s[3] for s in stored(project, "b")] == ["pending"]       # other videos untouched
    review.undo()                                                     # one undo puts both back
    assert [s[3] for s in stored(project)] == ["accepted", "pending", "pending"]
    review.redo()
    review.set_complete(True)
    with Project.open(project.folder, read_only=True) as p:
        assert p.video("a").complete and p.edit_log(1)[0]["action"] == "complete"
    with pytest.raises(ReviewError, match="nothing pending"):
        review.reject_all_pending()


def test_the_store_refuses_too_and_imports_into_a_complete_video_never_become_negatives(project, tmp_path):
    a = project.intervals("a")
    with pytest.raises(PendingIntervalsError) as refused:
        project.set_complete("a")
    assert refused.value.count == 3 and refused.value.interval_ids == tuple(r.id for r in a)
    project.accept(a[0].id)
    project.reject_pending("a")
    project.set_complete("a")
    out = project.training_manifest(tmp_path / "m1.csv")
    assert [(i.onset, i.offset) for v in load_manifest(out).videos for i in v.intervals] == [(5, 12)]

    # a new analysis brings a pending proposal into the complete video: the video is left out, so the
    # proposal's frames are not "no expression", and the exclusions say why
    more = tmp_path / "more.csv"
    more.write_text("subject,video,onset,apex,offset,emotion,score\nS1,a,50,,55,,0.9\n", encoding="utf-8")
    project.import_predictions(more, replace_untouched=False)
    assert project.video("a").complete
    assert project.training_labels().videos == []
    assert "1 pending interval(s)" in project.training_exclusions()["a"]
    assert project.training_exclusions()["b"] == "review not marked complete"
    with pytest.raises(ProjectError, match="no video is marked review complete with nothing pending"):
        project.training_manifest(tmp_path / "m2.csv")
    assert not (tmp_path / "m2.csv").exists()


def test_pending_imported_ground_truth_is_left_out_not_negative(project, tmp_path):
    csv = tmp_path / "gt.csv"                         # a project export: one decided, one undecided
    csv.write_text("subject,video,onset,apex,offset,type,emotion,state,source,annotator\n"
                   "S1,b,20,,25,micro,,accepted,imported,casme\nS1,b,30,,35,micro,,pending,imported,casme\n"
                   "S1,a,50,,55,micro,,accepted,imported,casme\n", encoding="utf-8")
    project.import_intervals(csv)
    ds = project.training_labels(reviewed=False)
    assert [v.video for v in ds.videos] == ["a"]
    assert "pending" in project.training_exclusions(reviewed=False)["b"]


def test_training_labels_document_the_rule():
    doc = TrainingLabelsPart.training_labels.__doc__ or ""
    assert "no pending interval" in doc and "negative" in doc


# ---------------------------------------------------------------- 4. labelling is not correcting
def test_setting_the_emotion_keeps_accepted_and_marks_the_label_edited(project):
    review = Review(project)
    review.open("a")
    first = review.interval_at(6)
    review.select(first.id)
    review.accept()
    review.set_emotion("negative")
    assert stored(project)[0] == (5, 12, "negative", "accepted", "predicted", True)
    review.set_bound("offset", 14)                                    # the timing: now corrected
    assert stored(project)[0] == (5, 14, "negative", "corrected", "predicted", True)
    review.set_emotion("positive")                                    # a corrected one stays corrected
    assert stored(project)[0][2:4] == ("positive", "corrected")

    second = review.interval_at(22)                                   # pending: the emotion decides it
    review.select(second.id)
    review.set_emotion("surprise")
    assert stored(project)[1] == (20, 30, "surprise", "accepted", "predicted", True)
    review.undo()
    assert stored(project)[1] == (20, 30, None, "pending", "predicted", False)


def test_a_timing_change_alone_is_corrected_without_a_label_flag(project):
    iid = project.intervals("a")[0].id
    project.correct(iid, onset=6, emotion="surprise")                 # same emotion as proposed
    assert stored(project)[0] == (6, 12, "surprise", "corrected", "predicted", False)


# ---------------------------------------------------------------- 5. delete
def test_delete_removes_an_added_interval_and_keeps_a_proposal_as_rejected(project):
    review = Review(project)
    review.open("a")
    added = review.add(frame=50).edit.interval_id
    assert added is not None
    step = review.delete()
    assert step.edit.action == "delete" and review.selected is None
    assert [s for s in stored(project) if s[4] == "manual"] == []
    with Project.open(project.folder, read_only=True) as p:
        log = p.edit_log(1)[0]
        assert log["action"] == "delete" and log["changes"][0]["before"]["onset"] == 50   # the log keeps it
    review.undo()
    assert [s[:2] for s in stored(project) if s[4] == "manual"] == [(50, 57)]

    proposal = review.interval_at(22).id
    review.select(proposal)
    step = review.delete()
    assert step.edit.action == "reject" and "kept as rejected" in step.text
    assert stored(project)[1][3] == "rejected" and review.selected == proposal
    review.undo()
    assert stored(project)[1][3] == "pending"


# ---------------------------------------------------------------- 6. where the reviewer left off
def test_the_last_position_is_kept_per_annotator_across_reopening(project):
    folder = project.folder
    assert project.last_position() is None
    review = Review(project)
    review.open("b")
    assert review.remember(33) is True
    project.close()

    with Project.open(folder, annotator="alice") as p:
        pos = p.last_position()
        assert isinstance(pos, ReviewPosition) and (pos.video, pos.frame) == ("b", 33)
        again = Review(p)
        assert again.resume() == pos and again.video is not None and again.video.name == "b"
        p.set_last_position("a", 7)
    with Project.open(folder, annotator="bob") as p:
        assert p.last_position() is None and Review(p).resume() is None
        assert p.last_position("alice").video == "a"
        with pytest.raises(InputError, match="frame 999 is outside video 'a'"):
            p.set_last_position("a", 999)
    with Project.open(folder, read_only=True, annotator="alice") as ro:
        assert ro.last_position().frame == 7
        assert ro.set_last_position("b", 1) is False                  # read-only: nothing saved
        assert ro.last_position().video == "a"


# ---------------------------------------------------------------- the migration
def test_a_schema_2_project_is_migrated_with_a_backup_and_keeps_its_reviews(tmp_path, clips):
    p = project_with(tmp_path / "old", {"a": (clips["a"], "S1")})
    p.add_interval("a", 10, 15, emotion="positive")
    p.close()
    db = tmp_path / "old" / "project.sqlite"
    conn = sqlite3.connect(db)                         # make it the schema 2 an older metst wrote
    conn.executescript("DROP TABLE review_positions; ALTER TABLE intervals DROP COLUMN label_edited; "
                       "PRAGMA user_version = 2;")
    conn.close()
    with pytest.raises(ProjectError, match="schema 2 is older .* open it once for editing"):
        Project.open(tmp_path / "old", read_only=True)
    with Project.open(tmp_path / "old") as p:
        assert any("migrated from schema 2 to 3" in n for n in p.notes)
        (iv,) = p.intervals("a")
        assert (iv.onset, iv.emotion, iv.state, iv.label_edited) == (10, "positive", "accepted", False)
        assert p.set_last_position("a", 3) and p.last_position().frame == 3
    backups = list((tmp_path / "old").glob("project.sqlite.schema2-*.bak"))
    assert len(backups) == 1
    old = sqlite3.connect(backups[0])
    assert old.execute("PRAGMA user_version").fetchone()[0] == 2
    old.close()
    assert schema.SCHEMA_VERSION == 3
