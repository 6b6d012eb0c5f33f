"""Reviewing a project video by video: the review rules and each video's undo history, without Qt.

A :class:`Review` over an open :class:`~metst_engine.project.Project` holds the current
video and the selected interval. Each action (accept, reject, emotion, onset / apex /
offset, move edges, add, delete, reject all pending, mark complete) is written to the store at once, so it is
on disk when it returns, and recorded as a :class:`Step` in the video's :class:`History`;
undo and redo replay the store's edit (``Project.undo`` / ``Project.redo``). A refused
action raises :class:`ReviewError` with a message for the user and changes nothing; mark
complete with intervals still pending raises its subclass :class:`PendingIntervals`, which
carries their ids.

The GUI's undo stack only mirrors these histories; scripts and tests review through this
module alone::

    review = Review(project)
    review.open(project.video("s01_v01").id)
    review.next_pending(frame=0)
    review.accept()
    review.undo()
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from metst_engine.errors import MetstError, PendingIntervalsError
from metst_engine.intervals import EMOTIONS
from metst_engine.project.records import (
    Edit,
    IntervalRecord,
    ReviewPosition,
    VideoRecord,
)
from metst_engine.project.store import Project

#: Length of a manual interval added at the playhead (seconds); its edges are then set or dragged.
MANUAL_SECONDS = 0.3
#: The edges and the apex, each settable to a frame.
BOUNDS: tuple[str, ...] = ("onset", "apex", "offset")


class ReviewError(MetstError):
    """A review action that cannot be done as asked (nothing was changed); the text says why."""


class PendingIntervals(ReviewError):
    """Mark complete was refused: the video still has pending intervals (their ids, in time order).

    The GUI can offer to jump to them (``Review.select(interval_ids[0])``) or to reject them
    all (:meth:`Review.reject_all_pending`), then mark the video complete again.
    """

    def __init__(self, video: VideoRecord, interval_ids: Sequence[int]) -> None:
        self.video = video
        self.interval_ids = tuple(interval_ids)
        super().__init__(f"Mark complete: {video.name} still has {self.count} pending interval(s); accept or "
                         "reject each (N jumps to the next), or reject them all, then mark it complete")

    @property
    def count(self) -> int:
        return len(self.interval_ids)


@dataclass(frozen=True)
class Step:
    """One review action as made: its description (``"Set onset to 12"``) and the store's edit."""

    text: str
    edit: Edit


class History:
    """One video's undo history: the steps done (oldest first), then those undone (to redo).

    A step whose undo or redo the store refuses (its rows changed since) is dropped from
    the history, as a Qt undo stack drops an obsolete command.
    """

    def __init__(self) -> None:
        self._steps: list[Step] = []
        self._done = 0

    def __len__(self) -> int:
        return len(self._steps)

    @property
    def index(self) -> int:
        """How many steps are done (the rest can be redone)."""
        return self._done

    def can_undo(self) -> bool:
        return self._done > 0

    def can_redo(self) -> bool:
        return self._done < len(self._steps)

    def record(self, step: Step) -> None:
        """A new step: what was undone can no longer be redone."""
        del self._steps[self._done:]
        self._steps.append(step)
        self._done += 1

    def undo(self, project: Project) -> Step:
        if not self.can_undo():
            raise ReviewError("Undo: nothing to undo in this video")
        at = self._done - 1
        self._replay(project.undo, at, "undo")
        self._done = at
        return self._steps[at]

    def redo(self, project: Project) -> Step:
        if not self.can_redo():
            raise ReviewError("Redo: nothing to redo in this video")
        at = self._done
        self._replay(project.redo, at, "redo")
        self._done = at + 1
        return self._steps[at]

    def _replay(self, apply: Callable[[Edit], Edit], at: int, what: str) -> None:
        step = self._steps[at]
        try:
            apply(step.edit)
        except MetstError as exc:     # e.g. the interval changed elsewhere since: keep the store as it is
            del self._steps[at]
            self._done = min(self._done, at)
            raise ReviewError(f"{what} of '{step.text}' not applied: {exc}") from exc


def interval_at(records: Sequence[IntervalRecord], frame: int) -> IntervalRecord | None:
    """The shortest of ``records`` containing ``frame`` (the first such in order), or None."""
    inside = [r for r in records if r.onset <= frame <= r.offset]
    return min(inside, key=lambda r: r.offset - r.onset) if inside else None


def pending_here(pending: Sequence[IntervalRecord], frame: int, selected: int | None) -> IntervalRecord | None:
    """The pending interval "next pending" takes first when the playhead is inside one.

    ``pending`` are the video's pending intervals; when ``frame`` lies in one of them (the
    shortest, as a click there picks) and the selection is not already an interval containing
    ``frame``, that one is the target, so N from inside an unselected interval reviews it
    rather than skipping it. None: the usual "next after the playhead" rule applies.
    """
    here = interval_at(pending, frame)
    if here is None or selected in {r.id for r in pending if r.onset <= frame <= r.offset}:
        return None
    return here


def edges_keeping_apex(current: IntervalRecord, onset: int, offset: int) -> int | None:
    """The apex after moving the edges to (onset, offset): kept inside them, dropped when an edge passes it."""
    apex = current.apex
    return apex if apex is not None and onset <= apex <= offset else None


def manual_span(video: VideoRecord, frame: int) -> tuple[int, int]:
    """(onset, offset) of a manual interval from ``frame``: MANUAL_SECONDS long, clipped to the video."""
    last = video.n_frames - 1
    onset = min(frame, last)
    return onset, min(onset + max(1, round(MANUAL_SECONDS * video.fps)) - 1, last)


class Review:
    """The review of one project: current video, selected interval, and one :class:`History` per video."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.video: VideoRecord | None = None
        self.selected: int | None = None
        self._histories: dict[int, History] = {}

    # -- state -----------------------------------------------------------------------------
    def open(self, video: int | str) -> VideoRecord:
        """Make ``video`` (id or name) the current one; nothing is selected."""
        self.video = self.project.video(video)
        self.selected = None
        return self.video

    def history(self, video_id: int | None = None) -> History:
        """The undo history of ``video_id`` (default: the current video)."""
        vid = self._current().id if video_id is None else video_id
        return self._histories.setdefault(vid, History())

    def intervals(self) -> list[IntervalRecord]:
        """The current video's intervals in time order; a selection no longer among them is dropped."""
        if self.video is None:
            return []
        records = self.project.intervals(self.video.id)
        if self.selected not in {r.id for r in records}:
            self.selected = None
        return records

    def select(self, interval_id: int | None) -> None:
        self.selected = interval_id

    def interval_at(self, frame: int) -> IntervalRecord | None:
        """The shortest interval of the current video containing ``frame`` (what a click there picks)."""
        return interval_at(self.intervals(), frame)

    def next_pending(self, frame: int) -> IntervalRecord | None:
        """Select the pending interval under ``frame`` when one is there and not selected
        (:func:`pending_here`), else the next pending interval after ``frame`` in this video (wrapping round); when
        none is left here, open the first video with one pending and select that. None: nothing
        pending in the project (the selection is kept)."""
        video = self._current()
        here = self.project.review_queue("time", video=video.id)
        if here:
            after = [r for r in here if r.onset > frame and r.id != self.selected]
            target = pending_here(here, frame, self.selected) or (after or here)[0]
        else:
            elsewhere = self.project.review_queue("time")
            if not elsewhere:
                return None
            target = elsewhere[0]
            self.open(target.video_id)
        self.selected = target.id
        return target

    # -- actions -----------------------------------------------------------------------------
    def accept(self) -> Step:
        iid = self._selected("Accept")
        return self._do("Accept", lambda: self.project.accept(iid))

    def reject(self) -> Step:
        iid = self._selected("Reject")
        return self._do("Reject", lambda: self.project.reject(iid))

    def set_emotion(self, emotion: str) -> Step:
        """One of the engine's emotion classes (``EMOTIONS``)."""
        if emotion not in EMOTIONS:
            raise ReviewError(f"Emotion {emotion}: not one of {', '.join(EMOTIONS)}")
        iid = self._selected(f"Emotion {emotion}")
        return self._do(f"Emotion {emotion}", lambda: self.project.correct(iid, emotion=emotion))

    def set_bound(self, which: str, frame: int) -> Step:
        """``which`` (onset, apex or offset) of the selected interval to ``frame``."""
        if which not in BOUNDS:
            raise ReviewError(f"Set {which}: not one of {', '.join(BOUNDS)}")
        iid = self._selected(f"Set {which}")
        kwargs = {which: frame}
        return self._do(f"Set {which} to {frame}", lambda: self.project.correct(iid, **kwargs))

    def nudge(self, which: str, frames: int) -> Step:
        """Move ``which`` (onset, apex or offset) of the selected interval by ``frames`` (e.g. -1, +1)."""
        if which not in BOUNDS:
            raise ReviewError(f"Nudge {which}: not one of {', '.join(BOUNDS)}")
        iid = self._selected(f"Nudge {which}")
        try:
            current = self.project.interval(iid)
        except MetstError as exc:          # gone meanwhile
            raise ReviewError(f"Nudge {which}: {exc}") from exc
        frame = getattr(current, which)
        if frame is None:
            raise ReviewError(f"Nudge {which}: the interval has no {which}; set it at the playhead first")
        return self.set_bound(which, frame + frames)

    def move_edges(self, onset: int, offset: int) -> Step:
        """The selected interval's edges to (onset, offset); its apex is dropped when an edge passes it."""
        iid = self._selected("Move edges")
        apex = edges_keeping_apex(self.project.interval(iid), onset, offset)
        return self._do(f"Move edges to {onset}-{offset}",
                        lambda: self.project.correct(iid, onset=onset, offset=offset, apex=apex))

    def add(self, frame: int) -> Step:
        """A manual interval from ``frame`` (MANUAL_SECONDS long, clipped to the video); it is selected."""
        video = self._current()
        onset, offset = manual_span(video, frame)
        step = self._do(f"Add {onset}-{offset}", lambda: self.project.add_interval(video.id, onset, offset))
        if step.edit.interval_id is not None:
            self.selected = step.edit.interval_id
        return step

    def delete(self) -> Step:
        """Delete the selected interval; undo restores it.

        An interval the annotator added (source "manual") is removed (the edit log keeps the
        row). A model proposal or an imported interval is not erased but rejected: the record
        that the model proposed it and a person said no stays in the project, its exports and
        the agreement figures (the step's edit is then a "reject").
        """
        iid = self._selected("Delete")
        try:
            manual = self.project.interval(iid).source == "manual"
        except MetstError as exc:          # gone meanwhile (undone elsewhere)
            raise ReviewError(f"Delete: {exc}") from exc
        if manual:
            step = self._do("Delete", lambda: self.project.delete_interval(iid))
            self.selected = None
            return step
        return self._do("Delete (proposal kept as rejected)", lambda: self.project.reject(iid))

    def pending(self, video: int | str | None = None) -> list[IntervalRecord]:
        """The pending intervals of ``video`` (default: the current one), in time order."""
        return self.project.intervals(self._current().id if video is None else video, states=["pending"])

    def reject_all_pending(self, video: int | str | None = None) -> Step:
        """Reject every pending interval of ``video`` (default: the current one) as one step of its history."""
        vid = self._current().id if video is None else self.project.video(video).id
        if not self.pending(vid):
            raise ReviewError("Reject all pending: nothing pending in this video")
        return self._do("Reject all pending", lambda: self.project.reject_pending(vid), vid)

    def set_complete(self, complete: bool) -> Step:
        """Mark the current video's review complete (or reopen it).

        Refused with :class:`PendingIntervals` (their count and ids) while intervals are pending.
        """
        video = self._current()
        try:
            return self._do("Mark complete" if complete else "Reopen",
                            lambda: self.project.set_complete(video.id, complete))
        except ReviewError as exc:          # the store's refusal (its rule), with the ids, as the review's
            if isinstance(exc.__cause__, PendingIntervalsError):
                raise PendingIntervals(video, exc.__cause__.interval_ids) from None
            raise

    # -- where the reviewer left off ---------------------------------------------------------
    def resume(self) -> ReviewPosition | None:
        """Open the video this annotator last saved (:meth:`remember`); its frame is for the player.
        None (nothing opened) when no position was saved."""
        position = self.project.last_position()
        if position is not None:
            self.open(position.video_id)
        return position

    def remember(self, frame: int) -> bool:
        """Save the current video and ``frame`` as where to resume; False when read-only (nothing saved)."""
        return self.project.set_last_position(self._current().id, frame)

    def undo(self, video_id: int | None = None) -> Step:
        """Undo the last done step of ``video_id`` (default: the current video)."""
        step = self.history(video_id).undo(self.project)
        self._refresh()
        return step

    def redo(self, video_id: int | None = None) -> Step:
        step = self.history(video_id).redo(self.project)
        self._refresh()
        return step

    # -- helpers -----------------------------------------------------------------------------
    def _current(self) -> VideoRecord:
        if self.video is None:
            raise ReviewError("open a video first")
        return self.video

    def _selected(self, what: str) -> int:
        if self.video is None or self.selected is None:
            raise ReviewError(f"{what}: select an interval first")
        return self.selected

    def _do(self, text: str, action: Callable[[], Edit], video_id: int | None = None) -> Step:
        """Run ``action`` and record it in the history of ``video_id`` (default: the current video)."""
        vid = self._current().id if video_id is None else video_id
        if self.project.read_only:
            raise ReviewError(f"{text}: {self.project.read_only_reason}")
        try:
            step = Step(text, action())
        except MetstError as exc:
            raise ReviewError(f"{text}: {exc}") from exc
        self.history(vid).record(step)
        self._refresh()
        return step

    def _refresh(self) -> None:
        """Re-read the current video (its completion may have changed) and drop a selection that is gone."""
        if self.video is not None:
            self.video = self.project.video(self.video.id)
            self.intervals()
