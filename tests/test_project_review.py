"""Reviewing without Qt: ``metst_engine.project.review`` alone, checked against what the store holds.

Every step is read back through a fresh read-only ``Project.open`` of the folder, so what
is asserted is what is on disk, not what the review object remembers.
"""

from __future__ import annotations

import sys

import pytest
from project_support import predicted_project

from metst_engine.project import PendingIntervals, Project, Review, ReviewError
from metst_engine.project.review import (
    MANUAL_SECONDS,
    History,
    edges_keeping_apex,
    interval_at,
    manual_span,
    pending_here,
)


@pytest.fixture
def project(tmp_path, clips) -> Project:
    with predicted_project(tmp_path, clips) as p:
        yield p


def on_disk(project: Project, video: str) -> list[tuple]:
    with Project.open(project.folder, read_only=True) as p:
        return [(r.onset, r.apex, r.offset, r.emotion, r.state, r.source) for r in p.intervals(video)]


def test_a_video_is_reviewed_with_undo_and_redo_through_the_model_alone(project):
    review = Review(project)
    review.open("a")
    first = review.next_pending(frame=0)
    assert first is not None and (first.onset, review.selected) == (5, first.id)

    review.accept()
    review.set_bound("offset", 14)                                   # correct an edge
    review.set_emotion("surprise")
    assert on_disk(project, "a")[0] == (5, 8, 14, "surprise", "corrected", "predicted")
    assert review.history().index == 3 and review.history().can_undo() and not review.history().can_redo()

    assert review.undo().text == "Emotion surprise"
    assert on_disk(project, "a")[0] == (5, 8, 14, None, "corrected", "predicted")
    review.undo()
    review.undo()
    assert on_disk(project, "a")[0] == (5, 8, 12, None, "pending", "predicted")
    with pytest.raises(ReviewError, match="nothing to undo"):
        review.undo()
    assert review.redo().text == "Accept"
    assert on_disk(project, "a")[0] == (5, 8, 12, None, "accepted", "predicted")

    nxt = review.next_pending(frame=first.onset)                     # the next one after the playhead
    assert (nxt.onset, review.selected) == (20, nxt.id)
    assert review.next_pending(frame=nxt.onset).onset == 40
    assert review.next_pending(frame=50).onset == 20                 # wraps round
    review.reject()
    review.select(review.next_pending(frame=0).id)
    review.reject()
    assert [s for *_, s, _src in on_disk(project, "a")] == ["accepted", "rejected", "rejected"]
    assert not review.history().can_redo()                            # a new step drops what was undone

    other = review.next_pending(frame=0)                              # none left here: the next video
    assert review.video.name == "b" and other.video_id == review.video.id and review.selected == other.id
    assert review.history().index == 0                                # each video has its own history
    assert review.history(project.video("a").id).index == 3


def test_moving_edges_past_the_apex_drops_it_and_add_delete_complete_undo(project):
    review = Review(project)
    review.open("a")
    target = review.interval_at(7)
    assert target is not None and target.apex == 8
    review.select(target.id)
    review.move_edges(5, 10)
    assert on_disk(project, "a")[0][:3] == (5, 8, 10)                # apex still inside: kept
    review.move_edges(9, 10)
    assert on_disk(project, "a")[0][:3] == (9, None, 10)             # an edge passed it: dropped

    step = review.add(frame=58)                                       # clipped to the last frame
    added = [r for r in on_disk(project, "a") if r[5] == "manual"]
    assert added == [(58, None, 59, None, "accepted", "manual")] and review.selected == step.edit.interval_id
    review.delete()
    assert review.selected is None and not [r for r in on_disk(project, "a") if r[5] == "manual"]
    review.undo()                                                     # the delete
    assert [r for r in on_disk(project, "a") if r[5] == "manual"]
    review.select(step.edit.interval_id)
    review.undo()                                                     # the add: the selection goes with it
    assert review.selected is None and not [r for r in on_disk(project, "a") if r[5] == "manual"]

    with pytest.raises(PendingIntervals) as refused:                 # two proposals still undecided
        review.set_complete(True)
    assert refused.value.count == 2 and not project.video("a").complete
    review.reject_all_pending()
    review.set_complete(True)
    assert review.video.complete and project.video("a").complete
    review.undo()
    assert not review.video.complete


def test_next_pending_from_inside_an_unselected_pending_interval_takes_that_one(project):
    review = Review(project)
    review.open("a")
    inside = review.next_pending(frame=25)                            # the playhead is in 20-30, nothing selected
    assert (inside.onset, review.selected) == (20, inside.id)
    assert review.next_pending(frame=25).onset == 40                  # selected now: N moves on
    review.select(None)
    assert review.next_pending(frame=13).onset == 20                  # between intervals: the next one, as before
    review.select(review.interval_at(8).id)                           # another interval selected, playhead in 40-45
    assert review.next_pending(frame=42).onset == 40


def test_nudge_moves_an_edge_by_one_frame_and_undoes(project):
    review = Review(project)
    review.open("a")
    review.select(review.interval_at(6).id)                           # 5-12, apex 8
    review.nudge("onset", -1)
    review.nudge("offset", +1)
    assert on_disk(project, "a")[0][:3] == (4, 8, 13)
    review.undo()
    assert on_disk(project, "a")[0][:3] == (4, 8, 12)
    review.select(review.interval_at(42).id)                          # 40-45, no apex
    with pytest.raises(ReviewError, match="no apex"):
        review.nudge("apex", 1)
    with pytest.raises(ReviewError, match="not one of"):
        review.nudge("middle", 1)


def test_refused_actions_change_nothing_and_say_why(project):
    review = Review(project)
    with pytest.raises(ReviewError, match="open a video first"):
        review.add(frame=0)
    review.open("a")
    with pytest.raises(ReviewError, match="Accept: select an interval first"):
        review.accept()
    review.select(review.interval_at(6).id)
    before = on_disk(project, "a")
    with pytest.raises(ReviewError, match="Set onset to 50: .*onset"):
        review.set_bound("onset", 50)                                 # past the offset
    with pytest.raises(ReviewError, match="not one of"):
        review.set_emotion("angry")
    assert on_disk(project, "a") == before and review.history().index == 0
    review.accept()
    project.reject(review.selected)                                   # changed outside the review since
    with pytest.raises(ReviewError, match="undo of 'Accept' not applied"):
        review.undo()
    assert len(review.history()) == 0 and on_disk(project, "a")[0][4] == "rejected"


def test_a_read_only_project_refuses_every_review_action(project):
    folder = project.folder
    project.close()
    with Project.open(folder, read_only=True) as ro:
        review = Review(ro)
        review.open("a")
        review.select(review.interval_at(6).id)
        with pytest.raises(ReviewError, match="^Accept: "):
            review.accept()


def test_the_rules_as_functions():
    a = _rec(1, 10, 20, 15)
    b = _rec(2, 12, 14, None)
    assert interval_at([a, b], 13) is b and interval_at([a, b], 18) is a and interval_at([a, b], 30) is None
    assert edges_keeping_apex(a, 10, 16) == 15 and edges_keeping_apex(a, 16, 20) is None
    assert pending_here([a, b], 13, None) is b and pending_here([a, b], 13, a.id) is None   # a holds 13 too
    assert pending_here([a, b], 18, b.id) is a and pending_here([a, b], 30, None) is None
    h = History()
    assert not h.can_undo() and not h.can_redo() and len(h) == 0
    assert MANUAL_SECONDS == 0.3


def test_a_manual_interval_is_three_tenths_of_a_second(project):
    video = project.video("a")                                        # 25 fps: 8 frames
    assert manual_span(video, 10) == (10, 17) and manual_span(video, 100) == (59, 59)


def test_the_review_model_imports_no_qt():
    import subprocess

    code = ("import sys, metst_engine.project.review; "
            "sys.exit(any(m.startswith(('PySide6', 'PyQt', 'shiboken')) for m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def _rec(iid: int, onset: int, offset: int, apex: int | None):
    from metst_engine.project import IntervalRecord

    return IntervalRecord(iid, 1, onset, apex, offset, None, "micro", "predicted", "pending", None, None, "", None,
                          False, "", "")
