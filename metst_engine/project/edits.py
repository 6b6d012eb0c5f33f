"""Review edits: reading intervals, the review queue and progress, and accepting, rejecting,
correcting, adding and deleting intervals (each edit one transaction in the edit log)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Literal

from metst_engine.errors import InputError, ProjectError
from metst_engine.project.core import INTERVAL_SELECT, check_row, utc_now
from metst_engine.project.records import (
    Change,
    Edit,
    IntervalRecord,
    ReviewPosition,
    SubjectProgress,
    VideoProgress,
)
from metst_engine.project.videos import VideosPart

QueueOrder = Literal["time", "score", "uncertainty"]

_PROGRESS_SQL = """
SELECT v.name AS video, s.name AS subject, v.complete AS complete, COUNT(i.id) AS total,
       COALESCE(SUM(i.state = 'pending'), 0) AS pending, COALESCE(SUM(i.state = 'accepted'), 0) AS accepted,
       COALESCE(SUM(i.state = 'rejected'), 0) AS rejected, COALESCE(SUM(i.state = 'corrected'), 0) AS corrected,
       COALESCE(SUM(i.source = 'manual'), 0) AS manual
FROM videos v JOIN subjects s ON s.id = v.subject_id LEFT JOIN intervals i ON i.video_id = v.id
GROUP BY v.id ORDER BY v.name"""


class ReviewPart(VideosPart):
    """Intervals: reading, the review queue, progress, and the review edits."""

    # ------------------------------------------------------------------ reading
    def interval(self, interval_id: int) -> IntervalRecord:
        row = self._interval_row(self._db(), interval_id)
        if row is None:
            raise ProjectError(self.db_path, f"no interval {interval_id} in the project")
        return IntervalRecord.from_row(row)

    def intervals(self, video: int | str | None = None, *, states: Iterable[str] | None = None,
                  sources: Iterable[str] | None = None, annotator: str | None = None) -> list[IntervalRecord]:
        """Intervals in time order, optionally of one video, some states, sources or one annotator."""
        where, args = self._filters(video, states, sources, annotator)
        sql = f"{INTERVAL_SELECT} JOIN videos v ON v.id = i.video_id {where} ORDER BY v.name, i.onset, i.offset, i.id"
        return [IntervalRecord.from_row(dict(r)) for r in self._db().execute(sql, args)]

    def review_queue(self, order: QueueOrder = "time", video: int | str | None = None) -> list[IntervalRecord]:
        """Pending intervals in review order.

        "time": by video, then onset. "score": highest score first (no score last).
        "uncertainty": scores nearest their run's threshold first (``params["threshold"]``,
        else 0.5), i.e. the model's least certain calls (no score last).
        """
        pending = self.intervals(video, states=["pending"])
        if order == "time":
            return pending
        if order == "score":
            return sorted(pending, key=lambda r: (r.score is None, -(r.score or 0.0)))
        if order == "uncertainty":
            thresholds = {r.id: float(r.params.get("threshold", 0.5)) for r in self.runs()}
            def distance(r: IntervalRecord) -> tuple[bool, float]:
                if r.score is None:
                    return True, 0.0
                return False, abs(r.score - thresholds.get(r.run_id or -1, 0.5))
            return sorted(pending, key=distance)
        raise InputError(None, f"unknown queue order {order!r}; use time, score or uncertainty")

    def progress(self) -> list[VideoProgress]:
        """Review progress per video."""
        return [VideoProgress(r["video"], r["subject"], r["total"], r["pending"], r["accepted"], r["rejected"],
                              r["corrected"], r["manual"], bool(r["complete"]))
                for r in self._db().execute(_PROGRESS_SQL)]

    def subject_progress(self) -> list[SubjectProgress]:
        """Review progress per subject (videos complete, intervals still pending)."""
        per: dict[str, list[VideoProgress]] = {}
        for p in self.progress():
            per.setdefault(p.subject, []).append(p)
        for s in self.subjects():
            per.setdefault(s.name, [])
        return [SubjectProgress(s, len(ps), sum(p.complete for p in ps), sum(p.total for p in ps),
                                sum(p.pending for p in ps)) for s, ps in sorted(per.items())]

    # ------------------------------------------------------------------ editing
    def accept(self, interval_id: int) -> Edit:
        """The interval is right as it is (a corrected one stays "corrected")."""
        def change(row: dict[str, Any]) -> dict[str, Any]:
            return {"state": "corrected" if row["state"] == "corrected" else "accepted"}
        return self._edit_interval("accept", interval_id, change)

    def reject(self, interval_id: int) -> Edit:
        """The interval is not an expression."""
        return self._edit_interval("reject", interval_id, lambda row: {"state": "rejected"})

    def correct(self, interval_id: int, *, onset: int | None = None, apex: int | None | Literal["keep"] = "keep",
                offset: int | None = None, emotion: str | None | Literal["keep"] = "keep",
                type: str | None = None) -> Edit:
        """Change bounds, apex, emotion or type; the interval is decided by it.

        Timing and labels are kept apart: a proposal or imported interval whose onset, apex or
        offset changes becomes "corrected"; one whose emotion or type alone changes becomes
        (or stays) "accepted" with ``label_edited`` set (a "corrected" one stays corrected).
        Manual intervals stay "accepted". ``apex=None`` / ``emotion=None`` clear them; leave
        them out to keep them.
        """
        def change(row: dict[str, Any]) -> dict[str, Any]:
            new: dict[str, Any] = {}
            if onset is not None:
                new["onset"] = int(onset)
            if offset is not None:
                new["offset"] = int(offset)
            if apex != "keep":
                new["apex"] = None if apex is None else int(apex)
            if emotion != "keep":
                new["emotion"] = emotion or None
            if type is not None:
                new["type"] = type
            return {**new, **_decided(row, new)}
        return self._edit_interval("correct", interval_id, change)

    def set_note(self, interval_id: int, note: str) -> Edit:
        return self._edit_interval("note", interval_id, lambda row: {"note": str(note)})

    def add_interval(self, video: int | str, onset: int, offset: int, *, apex: int | None = None,
                     emotion: str | None = None, type: str = "micro", note: str = "") -> Edit:
        """A manual interval (source "manual", state "accepted", by this project's annotator)."""
        v = self.video(video)
        now = utc_now()
        row = {"id": None, "video_id": v.id, "onset": int(onset), "apex": None if apex is None else int(apex),
               "offset": int(offset), "emotion": emotion or None, "type": type, "source": "manual",
               "state": "accepted", "score": None, "annotator": self.annotator, "note": str(note), "run_id": None,
               "touched": 1, "created": now, "updated": now}
        check_row(row, v)
        with self._transaction() as conn:
            row["id"] = self._put_interval(conn, row)
            return self._log(conn, "add", [Change("intervals", row["id"], None, self._interval_row(conn, row["id"]))])

    def reject_pending(self, video: int | str) -> Edit:
        """Reject every pending interval of ``video`` in one edit (one undo puts them all back)."""
        vid = self.video(video).id
        with self._transaction() as conn:
            ids = [r[0] for r in conn.execute("SELECT id FROM intervals WHERE video_id = ? AND state = 'pending' "
                                              "ORDER BY onset, offset, id", (vid,))]
            if not ids:
                raise ProjectError(self.db_path, f"video {self.video(vid).name!r} has no pending interval")
            changes = []
            for iid in ids:
                before = self._require_interval(conn, iid)
                self._put_interval(conn, {**before, "state": "rejected", "annotator": self.annotator, "touched": 1,
                                          "updated": utc_now()})
                changes.append(Change("intervals", iid, before, self._interval_row(conn, iid)))
            return self._log(conn, "reject pending", changes)

    def delete_interval(self, interval_id: int) -> Edit:
        """Remove an interval (the edit log keeps it; undo restores it with the same id)."""
        with self._transaction() as conn:
            before = self._require_interval(conn, interval_id)
            conn.execute("DELETE FROM intervals WHERE id = ?", (interval_id,))
            return self._log(conn, "delete", [Change("intervals", interval_id, before, None)])

    # ------------------------------------------------------------------ where the reviewer left off
    def last_position(self, annotator: str | None = None) -> ReviewPosition | None:
        """Where ``annotator`` (default: this project's) last was: video and frame; None if never saved.

        Each annotator has their own, so two people reviewing one project each resume their own place.
        """
        row = self._db().execute(
            "SELECT p.video_id, v.name, p.frame, p.updated, v.n_frames FROM review_positions p "
            "JOIN annotators a ON a.id = p.annotator_id JOIN videos v ON v.id = p.video_id WHERE a.name = ?",
            (annotator or self.annotator,)).fetchone()
        if row is None:
            return None
        return ReviewPosition(row["video_id"], row["name"], max(0, min(row["frame"], row["n_frames"] - 1)),
                              row["updated"])

    def set_last_position(self, video: int | str, frame: int) -> bool:
        """Remember ``video`` and ``frame`` as where this annotator is (not an edit: no undo, no log).

        Returns False, saving nothing, when the project is read-only. Call it when the video
        changes and when the project closes, not on every frame: each call is a durable write.
        """
        if self.read_only:
            return False
        v = self.video(video)
        if not 0 <= int(frame) < max(v.n_frames, 1):
            raise InputError(None, f"frame {frame} is outside video {v.name!r} (0-{v.n_frames - 1})")
        with self._transaction() as conn:
            conn.execute("INSERT INTO review_positions(annotator_id, video_id, frame, updated) VALUES (?, ?, ?, ?) "
                         "ON CONFLICT(annotator_id) DO UPDATE SET video_id = excluded.video_id, "
                         "frame = excluded.frame, updated = excluded.updated",
                         (self._annotator_id(conn, self.annotator), v.id, int(frame), utc_now()))
        return True

    # ------------------------------------------------------------------ internals
    def _edit_interval(self, action: str, interval_id: int,
                       change: Callable[[dict[str, Any]], dict[str, Any]]) -> Edit:
        with self._transaction() as conn:
            before = self._require_interval(conn, interval_id)
            after = {**before, **change(before), "annotator": self.annotator, "touched": 1, "updated": utc_now()}
            check_row(after, self.video(int(before["video_id"])))
            self._put_interval(conn, after)
            return self._log(conn, action, [Change("intervals", interval_id, before,
                                                   self._interval_row(conn, interval_id))])

    def _filters(self, video: int | str | None, states: Iterable[str] | None, sources: Iterable[str] | None,
                 annotator: str | None) -> tuple[str, list[Any]]:
        clauses, args = [], []
        if video is not None:
            clauses.append("i.video_id = ?")
            args.append(self.video(video).id)
        for col, values in (("i.state", states), ("i.source", sources)):
            if values is not None:
                values = list(values)
                clauses.append(f"{col} IN ({', '.join('?' * len(values))})" if values else "0")
                args += values
        if annotator is not None:
            clauses.append("a.name = ?")
            args.append(annotator)
        return ("WHERE " + " AND ".join(clauses)) if clauses else "", args


def _decided(row: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """State (and label flag) of ``row`` after the change ``new``: "corrected" only when its timing
    moved; a label change alone accepts it and marks ``label_edited``; manual ones stay accepted."""
    if row["source"] == "manual":
        return {"state": "accepted"}
    timing = any(k in new and new[k] != row[k] for k in ("onset", "apex", "offset"))
    label = any(k in new and new[k] != row[k] for k in ("emotion", "type"))
    state = "corrected" if timing or row["state"] == "corrected" else "accepted"
    return {"state": state, **({"label_edited": 1} if label else {})}
