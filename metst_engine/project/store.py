"""The project store: one SQLite file per review project, shared by the GUI, the CLI and training.

Annotators' decisions are the most valuable data in the product, so every mutation is one
``BEGIN IMMEDIATE`` transaction with ``synchronous=FULL``: when a method returns, its
change is on disk, and a process killed at any moment leaves the previous or the new
state. Every mutation also appends to the edit log (append-only, enforced by triggers) and
returns an :class:`Edit` that :meth:`Project.undo` / :meth:`Project.redo` apply.

Layout of a project folder: ``project.sqlite`` (WAL mode on local disks), its ``-wal`` and
``-shm`` files, ``project.sqlite.lock`` (the editing lock) and ``cache/`` (curves).
"""

from __future__ import annotations

import getpass
import json
import os
import shutil
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self

import numpy as np

from metst_engine.errors import (
    EditConflictError,
    InputError,
    ProjectError,
    ProjectLockedError,
    ReadOnlyError,
)
from metst_engine.intervals import Interval, interval_iou
from metst_engine.project.connection import connect, prepare_schema, set_journal_mode
from metst_engine.project.fs import network_fs_type
from metst_engine.project.locking import WriterLock
from metst_engine.project.recovery import daily_backup
from metst_engine.project.records import (
    STATES,
    TYPES,
    Change,
    CurvesRecord,
    Edit,
    ImportResult,
    IntervalRecord,
    RunRecord,
    SubjectProgress,
    SubjectRecord,
    VideoProblem,
    VideoProgress,
    VideoRecord,
)

if TYPE_CHECKING:
    from metst_engine.datasets import Dataset
    from metst_engine.project.agreement import Agreement
    from metst_engine.project.exports import ExportRow

DB_NAME = "project.sqlite"
CACHE_DIR = "cache"
NetworkPolicy = Literal["exclusive", "refuse"]
QueueOrder = Literal["time", "score", "uncertainty"]

_INTERVAL_SELECT = """
SELECT i.id, i.video_id, i.onset, i.apex, i.offset, i.emotion, i.type, i.source, i.state, i.score,
       a.name AS annotator, i.note, i.run_id, i.touched, i.created, i.updated
FROM intervals i LEFT JOIN annotators a ON a.id = i.annotator_id
"""
_INTERVAL_FIELDS = tuple(f.name for f in fields(IntervalRecord))
_VIDEO_SELECT = """
SELECT v.id, v.name, s.name AS subject, v.path, v.content_hash, v.fps, v.n_frames, v.complete,
       v.completed_by, v.completed_at, v.added
FROM videos v JOIN subjects s ON s.id = v.subject_id
"""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _db_path(folder: str | Path) -> Path:
    p = Path(folder)
    return p if p.suffix == ".sqlite" else p / DB_NAME


class Project:
    """An open project. Use :meth:`create` or :meth:`open`; close it (or use ``with``).

    ``read_only`` is True when the project was opened read-only, and ``read_only_reason``
    then says why (e.g. another process has it open for editing) for the GUI to show.
    ``notes`` lists other facts worth telling the user (network file system, migration).
    ``annotator`` is the name recorded on every edit made through this object.
    """

    def __init__(self, folder: Path, conn: sqlite3.Connection, lock: WriterLock | None,
                 annotator: str, read_only_reason: str | None, notes: list[str]) -> None:
        self.folder = folder
        self.db_path = folder / DB_NAME
        self.cache_dir = folder / CACHE_DIR
        self.annotator = annotator
        self.read_only_reason = read_only_reason
        self.notes = notes
        self._conn = conn
        self._lock = lock

    # ------------------------------------------------------------------ open / create / close
    @classmethod
    def create(cls, folder: str | Path, *, annotator: str | None = None,
               network_fs: NetworkPolicy = "exclusive") -> Project:
        """Make a new project folder (it may exist but must not hold a project) and open it.

        Atomic: the database is built aside (``.project.sqlite.creating-*``) and linked into
        place only once its schema is committed, so a killed creation leaves either no
        project or a whole one; a database left empty by an older, interrupted creation
        is finished here.
        """
        from metst_engine.atomic import ensure_dir, output_problem

        folder = Path(folder)
        db = folder / DB_NAME
        if folder.exists() and not folder.is_dir():
            raise ProjectError(folder, "exists and is not a folder; choose another name for the project")
        if db.exists() and not _unfinished_creation(db):
            raise ProjectError(db, "a project already exists here; open it instead")
        ensure_dir(folder)
        lock = WriterLock(db)
        if not lock.acquire(0.0):
            raise ProjectLockedError(db, lock.problem or f"{lock.holder()} is using this folder; try again later")
        try:
            for stale in folder.glob(f".{DB_NAME}.creating-*"):      # left by a killed creation
                stale.unlink(missing_ok=True)
            tmp = folder / f".{DB_NAME}.creating-{os.getpid()}"
            try:
                conn = sqlite3.connect(tmp, isolation_level=None)
                try:
                    from metst_engine.project import schema

                    conn.execute("PRAGMA synchronous = FULL")
                    schema.migrate(conn)
                finally:
                    conn.close()
                if db.exists():                     # an empty database of an interrupted creation
                    os.replace(tmp, db)
                else:
                    os.link(tmp, db)                # fails if another process created it meanwhile
            except FileExistsError:
                raise ProjectError(db, "a project already exists here; open it instead") from None
            except OSError as exc:
                raise ProjectError(folder, output_problem(exc)) from None
            except sqlite3.Error as exc:
                raise ProjectError(folder, f"cannot create the project database ({exc}); is the disk full?") from None
            finally:
                tmp.unlink(missing_ok=True)
        finally:
            lock.release()
        ensure_dir(folder / CACHE_DIR)
        return cls._open(folder, read_only=False, wait=0.0, annotator=annotator, network_fs=network_fs, create=False)

    @classmethod
    def restore_backup(cls, folder: str | Path, backup: str | Path | None = None) -> tuple[Path, Path | None]:
        """Replace a damaged database by an automatic backup (default: the newest); returns (backup
        used, damaged file kept aside). Needs the editing lock: close the project elsewhere first."""
        from metst_engine.project.recovery import restore

        db = _db_path(folder)
        lock = WriterLock(db)
        if not lock.acquire(0.0):
            raise ProjectLockedError(db, lock.problem or f"{lock.holder()} has this project open; close it there first")
        try:
            return restore(db, None if backup is None else Path(backup))
        finally:
            lock.release()

    @classmethod
    def open(cls, folder: str | Path, *, read_only: bool | None = None, wait: float = 0.0,
             annotator: str | None = None, network_fs: NetworkPolicy = "exclusive") -> Project:
        """Open a project folder (or its ``project.sqlite``).

        ``read_only``: None opens for editing when no other process edits it, else
        read-only (``read_only_reason`` says so); False insists on editing (waits up to
        ``wait`` seconds for the other process, then raises ProjectLockedError); True
        opens read-only. ``network_fs``: on NFS/SMB/sshfs/... either "exclusive" (rollback
        journal and exclusive locking: safe, one process at a time) or "refuse".
        """
        return cls._open(folder, read_only=read_only, wait=wait, annotator=annotator, network_fs=network_fs,
                         create=False)

    @classmethod
    def _open(cls, folder: str | Path, *, read_only: bool | None, wait: float, annotator: str | None,
              network_fs: NetworkPolicy, create: bool) -> Project:
        db = _db_path(folder)
        folder = db.parent
        if not create and not db.is_file():
            raise ProjectError(folder, f"not a metst project folder (no {DB_NAME}); create one with "
                                       "'metst project create'")
        notes: list[str] = []
        net = network_fs_type(folder)
        if net is not None:
            if network_fs == "refuse":
                raise ProjectError(folder, f"the project is on a network file system ({net}), where SQLite's "
                                           "WAL mode is unsafe; copy it to a local disk")
            notes.append(f"network file system ({net}): rollback journal with exclusive locking, "
                         "so only this process can use the project while it is open")
        who = annotator or _default_annotator()
        lock: WriterLock | None = None
        reason: str | None = None
        if read_only is True:
            reason = "opened read-only as asked"
        else:
            lock = WriterLock(db)
            if not lock.acquire(wait):
                problem = lock.problem or f"{lock.holder()} has this project open for editing"
                lock = None
                if read_only is False:
                    raise ProjectLockedError(db, f"cannot edit: {problem}; close it there or open read-only")
                reason = f"opened read-only: {problem}"
        try:
            conn = connect(db, writable=lock is not None, notes=notes)
            try:
                notes += prepare_schema(conn, db, writable=lock is not None, create=create)
                if lock is not None:
                    set_journal_mode(conn, db, network=net is not None)
                    daily_backup(conn, db)          # checked intact above: one copy per day of work
            except BaseException:
                conn.close()
                raise
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        if lock is not None:
            (folder / CACHE_DIR).mkdir(exist_ok=True)
        return cls(folder, conn, lock, who, reason, notes)

    @property
    def read_only(self) -> bool:
        return self._lock is None

    def close(self) -> None:
        """Close the database and release the editing lock (idempotent)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None  # type: ignore[assignment]
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check``: "ok" or the problems found."""
        rows = self._db().execute("PRAGMA integrity_check").fetchall()
        return "\n".join(str(r[0]) for r in rows)

    # ------------------------------------------------------------------ transactions
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ProjectError(self.db_path, "the project is closed")
        return self._conn

    def _check_writable(self) -> None:
        """Fail before slow work (reading videos, copying files) when nothing could be saved."""
        self._db()
        if self.read_only:
            raise ReadOnlyError(self.db_path, f"cannot edit: {self.read_only_reason}")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; committed (durably) on success, rolled back on any error."""
        self._check_writable()
        conn = self._db()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as exc:     # disk full, I/O error, a lock held too long
            raise ProjectError(self.db_path, f"could not save ({exc}); nothing of this edit was written") from None
        except sqlite3.DatabaseError as exc:
            if type(exc) is not sqlite3.DatabaseError:   # integrity / programming errors are bugs
                raise
            from metst_engine.project.recovery import damaged

            raise damaged(self.db_path, str(exc)) from None

    def _log(self, conn: sqlite3.Connection, action: str, changes: Sequence[Change]) -> Edit:
        payload = json.dumps([{"table": c.table, "row_id": c.row_id, "before": c.before, "after": c.after}
                              for c in changes], ensure_ascii=False)
        cur = conn.execute("INSERT INTO edit_log(at, who, action, changes) VALUES (?, ?, ?, ?)",
                           (_now(), self.annotator, action, payload))
        return Edit(action, tuple(changes), int(cur.lastrowid or 0))

    # ------------------------------------------------------------------ subjects and videos
    def add_subject(self, name: str) -> SubjectRecord:
        """Add a subject (or return the existing one of that name)."""
        if not name:
            raise InputError(None, "a subject needs a name")
        with self._transaction() as conn:
            sid = self._subject_id(conn, name)
        return SubjectRecord(sid, name)

    def subjects(self) -> list[SubjectRecord]:
        return [SubjectRecord(r["id"], r["name"]) for r in self._db().execute("SELECT id, name FROM subjects ORDER BY name")]

    def add_video(self, path: str | Path, subject: str, video_id: str | None = None, *,
                  fps: float | None = None, fill_gaps: bool = False) -> VideoRecord:
        """Add a video file or frame folder: reads its frame count, fps and timestamps, and a content hash.

        ``video_id`` is the dataset-wide id (default: the file's stem or folder name). The
        path is stored relative to the project folder when it lies inside it.
        """
        self._check_writable()
        probe = _probe_video(Path(path), subject, video_id, fps, fill_gaps)
        with self._transaction() as conn:
            vid = self._insert_video(conn, probe)
        return self.video(vid)

    def _insert_video(self, conn: sqlite3.Connection, probe: _VideoProbe) -> int:
        if conn.execute("SELECT 1 FROM videos WHERE name = ?", (probe.name,)).fetchone():
            raise ProjectError(probe.path, f"the project already has a video {probe.name!r}; pass another video id")
        sid = self._subject_id(conn, probe.subject)
        cur = conn.execute(
            "INSERT INTO videos(name, subject_id, path, content_hash, fps, n_frames, timestamps, added) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (probe.name, sid, self._stored_path(probe.path), probe.content_hash, probe.fps, probe.n_frames,
             probe.timestamps.tobytes(), _now()))
        return int(cur.lastrowid or 0)

    def videos(self, subject: str | None = None) -> list[VideoRecord]:
        sql, args = _VIDEO_SELECT, ()
        if subject is not None:
            sql, args = sql + " WHERE s.name = ?", (subject,)
        return [self._video_record(r) for r in self._db().execute(sql + " ORDER BY v.name", args)]

    def video(self, video: int | str) -> VideoRecord:
        """A video by its row id (int) or its name (str)."""
        col = "v.id" if isinstance(video, int) else "v.name"
        row = self._db().execute(f"{_VIDEO_SELECT} WHERE {col} = ?", (video,)).fetchone()
        if row is None:
            raise ProjectError(self.db_path, f"no video {video!r} in the project ('metst project stats' lists "
                                             "its videos)")
        return self._video_record(row)

    def timestamps(self, video: int | str) -> np.ndarray:
        """The video's own per-frame times in seconds (as read when it was added)."""
        vid = self.video(video).id
        blob = self._db().execute("SELECT timestamps FROM videos WHERE id = ?", (vid,)).fetchone()[0]
        return np.frombuffer(blob, dtype="<f8")

    def missing_videos(self) -> list[VideoProblem]:
        """Videos whose file is gone or whose content changed, each with how to relocate it."""
        from metst_engine.cache import video_fingerprint

        out = []
        for v in self.videos():
            fix = (f"metst project relocate {self.folder} {v.name} NEW_PATH "
                   f"(or Project.relocate_video({v.name!r}, new_path))")
            if not v.path.exists():
                out.append(VideoProblem(v.name, v.path, "file or folder not found", fix))
            elif video_fingerprint(v.path) != v.content_hash:
                out.append(VideoProblem(v.name, v.path, "content differs from the video that was added", fix))
        return out

    def relocate_video(self, video: int | str, new_path: str | Path, *, check_content: bool = True) -> Edit:
        """Point a video at its new location; refuses a different video unless ``check_content=False``."""
        from metst_engine.cache import video_fingerprint

        v = self.video(video)
        new_path = Path(new_path)
        if not new_path.exists():
            raise InputError(new_path, "file or folder not found")
        digest = video_fingerprint(new_path)
        if check_content and digest != v.content_hash:
            raise InputError(new_path, f"not the same video as {v.name!r} (content hash differs)")
        with self._transaction() as conn:
            before = {"path": v.stored_path, "content_hash": v.content_hash}
            after = {"path": self._stored_path(new_path), "content_hash": digest}
            self._put_video_fields(conn, v.id, after)
            return self._log(conn, "relocate", [Change("videos", v.id, before, after)])

    def set_complete(self, video: int | str, complete: bool = True) -> Edit:
        """Mark a video's review complete (only complete videos give training labels) or reopen it."""
        v = self.video(video)
        with self._transaction() as conn:
            before = {"complete": int(v.complete), "completed_by": v.completed_by, "completed_at": v.completed_at}
            after = ({"complete": 1, "completed_by": self.annotator, "completed_at": _now()} if complete
                     else {"complete": 0, "completed_by": None, "completed_at": None})
            self._put_video_fields(conn, v.id, after)
            return self._log(conn, "complete" if complete else "reopen", [Change("videos", v.id, before, after)])

    # ------------------------------------------------------------------ prediction runs and curves
    def runs(self) -> list[RunRecord]:
        return [RunRecord(r["id"], r["predictor"], json.loads(r["params"]), r["source_file"], r["created"])
                for r in self._db().execute("SELECT * FROM runs ORDER BY id")]

    def record_run(self, predictor: str, params: dict[str, Any] | None = None,
                   source_file: str | Path | None = None) -> RunRecord:
        """Record a run that brought no intervals (yet), e.g. a trained model: its checkpoint and parameters.

        Later predictions made with it are imported as their own runs; this one keeps what
        was trained, with which labels and settings, next to the reviews it came from.
        """
        with self._transaction() as conn:
            cur = conn.execute("INSERT INTO runs(predictor, params, source_file, created) VALUES (?, ?, ?, ?)",
                               (predictor, json.dumps(params or {}, sort_keys=True, default=str),
                                None if source_file is None else str(source_file), _now()))
            run_id = int(cur.lastrowid or 0)
        return next(r for r in self.runs() if r.id == run_id)

    def register_curves(self, video: int | str, file: str | Path, run: int | None = None) -> CurvesRecord:
        """Keep a curves file (``metst predict --curves``) in ``cache/``, copied there unless already inside."""
        v = self.video(video)
        file = Path(file)
        if not file.is_file():
            raise InputError(file, "curves file not found")
        self._check_writable()
        cache = self.cache_dir.resolve()
        if cache not in file.resolve().parents:
            from metst_engine.atomic import atomic_path

            target = cache / "curves" / f"{v.id}-{run or 0}-{file.name}"
            with atomic_path(target) as tmp:
                shutil.copyfile(file, tmp)
            file = target
        rel = file.resolve().relative_to(cache).as_posix()
        with self._transaction() as conn:
            cur = conn.execute("INSERT INTO curves(video_id, run_id, path, created) VALUES (?, ?, ?, ?)",
                               (v.id, run, rel, _now()))
            cid = int(cur.lastrowid or 0)
        return next(c for c in self.curves(v.id) if c.id == cid)

    def curves(self, video: int | str) -> list[CurvesRecord]:
        vid = self.video(video).id
        return [CurvesRecord(r["id"], r["video_id"], r["run_id"], self.cache_dir / r["path"], r["created"])
                for r in self._db().execute("SELECT * FROM curves WHERE video_id = ? ORDER BY id", (vid,))]

    # ------------------------------------------------------------------ intervals: reading
    def interval(self, interval_id: int) -> IntervalRecord:
        row = self._interval_row(self._db(), interval_id)
        if row is None:
            raise ProjectError(self.db_path, f"no interval {interval_id} in the project")
        return IntervalRecord.from_row(row)

    def intervals(self, video: int | str | None = None, *, states: Iterable[str] | None = None,
                  sources: Iterable[str] | None = None, annotator: str | None = None) -> list[IntervalRecord]:
        """Intervals in time order, optionally of one video, some states, sources or one annotator."""
        where, args = self._filters(video, states, sources, annotator)
        sql = f"{_INTERVAL_SELECT} JOIN videos v ON v.id = i.video_id {where} ORDER BY v.name, i.onset, i.offset, i.id"
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
        sql = """
        SELECT v.name AS video, s.name AS subject, v.complete AS complete, COUNT(i.id) AS total,
               COALESCE(SUM(i.state = 'pending'), 0) AS pending, COALESCE(SUM(i.state = 'accepted'), 0) AS accepted,
               COALESCE(SUM(i.state = 'rejected'), 0) AS rejected, COALESCE(SUM(i.state = 'corrected'), 0) AS corrected,
               COALESCE(SUM(i.source = 'manual'), 0) AS manual
        FROM videos v JOIN subjects s ON s.id = v.subject_id LEFT JOIN intervals i ON i.video_id = v.id
        GROUP BY v.id ORDER BY v.name"""
        return [VideoProgress(r["video"], r["subject"], r["total"], r["pending"], r["accepted"], r["rejected"],
                              r["corrected"], r["manual"], bool(r["complete"])) for r in self._db().execute(sql)]

    def subject_progress(self) -> list[SubjectProgress]:
        """Review progress per subject (videos complete, intervals still pending)."""
        per: dict[str, list[VideoProgress]] = {}
        for p in self.progress():
            per.setdefault(p.subject, []).append(p)
        for s in self.subjects():
            per.setdefault(s.name, [])
        return [SubjectProgress(s, len(ps), sum(p.complete for p in ps), sum(p.total for p in ps),
                                sum(p.pending for p in ps)) for s, ps in sorted(per.items())]

    def edit_log(self, limit: int | None = None) -> list[dict[str, Any]]:
        """The newest edits first: id, at, who, action, changes (before/after of each row)."""
        sql = "SELECT * FROM edit_log ORDER BY id DESC" + ("" if limit is None else f" LIMIT {int(limit)}")
        return [{**dict(r), "changes": json.loads(r["changes"])} for r in self._db().execute(sql)]

    # ------------------------------------------------------------------ intervals: editing
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
        """Change bounds, apex, emotion or type; the interval becomes "corrected" (manual ones stay accepted).

        ``apex=None`` / ``emotion=None`` clear them; leave them out to keep them.
        """
        def change(row: dict[str, Any]) -> dict[str, Any]:
            new: dict[str, Any] = {"state": "accepted" if row["source"] == "manual" else "corrected"}
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
            return new
        return self._edit_interval("correct", interval_id, change)

    def set_note(self, interval_id: int, note: str) -> Edit:
        return self._edit_interval("note", interval_id, lambda row: {"note": str(note)})

    def add_interval(self, video: int | str, onset: int, offset: int, *, apex: int | None = None,
                     emotion: str | None = None, type: str = "micro", note: str = "") -> Edit:
        """A manual interval (source "manual", state "accepted", by this project's annotator)."""
        v = self.video(video)
        now = _now()
        row = {"id": None, "video_id": v.id, "onset": int(onset), "apex": None if apex is None else int(apex),
               "offset": int(offset), "emotion": emotion or None, "type": type, "source": "manual",
               "state": "accepted", "score": None, "annotator": self.annotator, "note": str(note), "run_id": None,
               "touched": 1, "created": now, "updated": now}
        self._validate(row, v)
        with self._transaction() as conn:
            row["id"] = self._put_interval(conn, row)
            return self._log(conn, "add", [Change("intervals", row["id"], None, self._interval_row(conn, row["id"]))])

    def delete_interval(self, interval_id: int) -> Edit:
        """Remove an interval (the edit log keeps it; undo restores it with the same id)."""
        with self._transaction() as conn:
            before = self._require_interval(conn, interval_id)
            conn.execute("DELETE FROM intervals WHERE id = ?", (interval_id,))
            return self._log(conn, "delete", [Change("intervals", interval_id, before, None)])

    def undo(self, edit: Edit) -> Edit:
        """Put back the rows as they were before ``edit``; refuses if they changed since."""
        return self._apply(f"undo {edit.action}", [Change(c.table, c.row_id, c.after, c.before)
                                                   for c in reversed(edit.changes)])

    def redo(self, edit: Edit) -> Edit:
        """Apply ``edit`` again after an undo; refuses if the rows changed since."""
        return self._apply(f"redo {edit.action}", list(edit.changes))

    # ------------------------------------------------------------------ imports
    def import_predictions(self, csv_path: str | Path, *, predictor: str = "metst predict",
                           params: dict[str, Any] | None = None, replace_untouched: bool = True,
                           one_based: bool = False) -> ImportResult:
        """Import a ``metst predict`` CSV as a prediction run; its intervals come in "pending".

        Intervals a human touched are never changed. With ``replace_untouched`` the
        untouched predictions already on the run's videos are replaced; a new prediction
        overlapping (IoU >= 0.5) a touched interval is skipped, as it was already reviewed.
        ``one_based``: the file counts frames from 1 (``metst predict --one-based``).
        """
        from metst_engine.intervals_io import read_predictions

        csv_path = Path(csv_path)
        per_video = read_predictions([csv_path], one_based=one_based)
        videos = self._videos_for(csv_path, per_video.keys())
        for name, ivs in per_video.items():
            for iv in ivs:
                self._validate_interval(csv_path, iv.onset, iv.apex, iv.offset, "micro", name, videos[name].n_frames)
        with self._transaction() as conn:
            now = _now()
            cur = conn.execute("INSERT INTO runs(predictor, params, source_file, created) VALUES (?, ?, ?, ?)",
                               (predictor, json.dumps(params or {}, sort_keys=True), str(csv_path), now))
            run_id = int(cur.lastrowid or 0)
            changes: list[Change] = []
            skipped = replaced = 0
            for name, ivs in per_video.items():
                v = videos[name]
                existing = [dict(r) for r in conn.execute(f"{_INTERVAL_SELECT} WHERE i.video_id = ?", (v.id,))]
                touched = [Interval(r["onset"], r["offset"]) for r in existing if r["touched"]]
                if replace_untouched:
                    for r in existing:
                        if r["source"] == "predicted" and not r["touched"]:
                            conn.execute("DELETE FROM intervals WHERE id = ?", (r["id"],))
                            changes.append(Change("intervals", r["id"], r, None))
                            replaced += 1
                for iv in ivs:
                    if any(interval_iou(iv, t) >= 0.5 for t in touched):
                        skipped += 1
                        continue
                    row = {"id": None, "video_id": v.id, "onset": iv.onset, "apex": iv.apex, "offset": iv.offset,
                           "emotion": iv.emotion, "type": "micro", "source": "predicted", "state": "pending",
                           "score": iv.score, "annotator": None, "note": "", "run_id": run_id, "touched": 0,
                           "created": now, "updated": now}
                    row["id"] = self._put_interval(conn, row)
                    changes.append(Change("intervals", row["id"], None, self._interval_row(conn, row["id"])))
            edit = self._log(conn, f"import predictions {csv_path.name}", changes)
        return ImportResult(run_id, len(changes) - replaced, replaced, skipped, edit)

    def import_ground_truth(self, dataset: Dataset, *, annotator: str | None = None,
                            add_missing_videos: bool = True) -> ImportResult:
        """Import a loaded :class:`~metst_engine.datasets.Dataset` (CAS(ME)^3, SAMM-LV, a manifest).

        Its intervals come in as source "imported", state "accepted", annotator the
        dataset's name (or ``annotator``); an interval already imported identically is
        skipped. Videos not yet in the project are added from the dataset's paths.
        """
        from metst_engine.safe_paths import check_id

        self._check_writable()
        who = annotator or dataset.name
        known = {v.name: v for v in self.videos()}
        probes = {}
        for entry in dataset.videos:
            check_id(entry.video, "video id", entry.path)
            check_id(entry.subject, "subject", entry.path)
            if entry.video not in known:
                if not add_missing_videos:
                    raise ProjectError(self.db_path, f"video {entry.video!r} of {dataset.name} is not in the project")
                probes[entry.video] = _probe_video(Path(entry.path), entry.subject, entry.video, entry.fps, False)
        rows = []
        for entry in dataset.videos:
            n_frames = known[entry.video].n_frames if entry.video in known else probes[entry.video].n_frames
            for iv in entry.intervals:
                self._validate_interval(Path(entry.path), iv.onset, iv.apex, iv.offset, iv.type,
                                        entry.video, n_frames)
                rows.append({"video": entry.video, "onset": iv.onset, "apex": iv.apex, "offset": iv.offset,
                             "emotion": iv.emotion or iv.raw_emotion, "type": iv.type, "source": "imported",
                             "state": "accepted", "score": None, "annotator": who, "note": "", "run_id": None,
                             "touched": 0})
        return self._insert_rows(f"import ground truth {dataset.name}", rows, list(probes.values()))

    def import_intervals(self, csv_path: str | Path) -> ImportResult:
        """Import a CSV written by :meth:`export_csv` (states, sources, annotators and notes kept).

        Videos must be in the project (matched by name); identical intervals are skipped.
        """
        from metst_engine.project.exports import read_csv

        csv_path = Path(csv_path)
        table = read_csv(csv_path)
        videos = self._videos_for(csv_path, {r.video for r in table})
        rows = []
        for r in table:
            v = videos[r.video]
            self._validate_interval(csv_path, r.onset, r.apex, r.offset, r.type, v.name, v.n_frames)
            rows.append({"video": v.name, "onset": r.onset, "apex": r.apex, "offset": r.offset,
                         "emotion": r.emotion, "type": r.type, "source": r.source, "state": r.state,
                         "score": r.score, "annotator": r.annotator, "note": r.note, "run_id": None,
                         "touched": int(r.state != "pending" or r.source == "manual")})
        return self._insert_rows(f"import intervals {csv_path.name}", rows, [])

    # ------------------------------------------------------------------ exports and training labels
    def export_rows(self, video: int | str | None = None, states: Iterable[str] | None = None) -> list[ExportRow]:
        """Intervals with subject, video and times from the video's own timestamps (see exports.ExportRow)."""
        from metst_engine.project.exports import ExportRow

        def time_of(ts: np.ndarray, i: int | None) -> float | None:
            return None if i is None or i >= len(ts) else float(ts[i])

        vids = {v.id: v for v in self.videos()}
        stamps: dict[int, np.ndarray] = {}
        out = []
        for r in self.intervals(video, states=states):
            v = vids[r.video_id]
            ts = stamps.setdefault(v.id, self.timestamps(v.id))
            out.append(ExportRow(v.subject, v.name, r.onset, r.apex, r.offset, r.type, r.emotion, r.state, r.source,
                                 r.annotator, r.score, r.note, time_of(ts, r.onset), time_of(ts, r.apex),
                                 time_of(ts, r.offset)))
        return out

    def export_csv(self, path: str | Path, video: int | str | None = None) -> Path:
        from metst_engine.project.exports import write_csv

        return write_csv(path, self.export_rows(video))

    def export_xlsx(self, path: str | Path, video: int | str | None = None) -> Path:
        from metst_engine.project.exports import write_xlsx

        return write_xlsx(path, self.export_rows(video))

    def export_eaf(self, path: str | Path, video: int | str, tiers: Literal["annotator", "state"] = "annotator") -> Path:
        """ELAN file of one video, one tier per annotator (or per state), linked to the video file."""
        from metst_engine.project.exports import write_eaf

        v = self.video(video)
        return write_eaf(path, self.export_rows(v.id), v.path, self.timestamps(v.id), v.fps, tiers)

    def training_labels(self, include_ground_truth: bool = False, reviewed: bool = True) -> Dataset:
        """Labels for training, as a Dataset.

        Reviewed labels come from review-complete videos only (elsewhere a pending region
        would silently become a negative): accepted and corrected intervals and manual ones
        (not rejected); with ``include_ground_truth`` imported intervals too, unless a
        reviewed one overlaps them (IoU >= 0.5). ``reviewed=False`` gives the imported
        ground truth alone, from every video that has some (a dataset's labels do not
        wait for a review). Emotions outside the four classes go to ``raw_emotion``.
        """
        from metst_engine.datasets import Dataset, LabelledInterval, VideoEntry
        from metst_engine.intervals import EMOTIONS

        entries = []
        for v in self.videos():
            rows = [r for r in self.intervals(v.id) if r.state != "rejected"]
            if not reviewed:
                keep = [r for r in rows if r.source == "imported"]
                if not keep:
                    continue
            elif not v.complete:
                continue
            else:
                done = [r for r in rows if r.source != "imported" and (r.state in ("accepted", "corrected")
                                                                         or r.source == "manual")]
                done += [r for r in rows if r.source == "imported" and r.state == "corrected"]
                keep = list(done)
                if include_ground_truth:
                    for r in rows:
                        if r.source == "imported" and r.state != "corrected" and not any(
                                interval_iou(Interval(r.onset, r.offset), Interval(k.onset, k.offset)) >= 0.5
                                for k in done):
                            keep.append(r)
            keep.sort(key=lambda r: (r.onset, r.offset))
            entry = VideoEntry(v.subject, v.name, v.path, v.fps)
            entry.intervals = [LabelledInterval(v.subject, v.name, r.onset, r.apex, r.offset, r.type,
                                                r.emotion if r.emotion in EMOTIONS else None, r.emotion)
                               for r in keep]
            entries.append(entry)
        return Dataset(self.folder.name, entries)

    def training_manifest(self, path: str | Path, include_ground_truth: bool = False, reviewed: bool = True) -> Path:
        """Write :meth:`training_labels` as the generic manifest ``metst train`` reads."""
        from metst_engine.datasets import write_manifest

        ds = self.training_labels(include_ground_truth, reviewed)
        if not ds.videos:
            if not reviewed:
                raise ProjectError(self.db_path, "no video has imported ground truth")
            raise ProjectError(self.db_path, "no video is marked review complete; training labels come only "
                                             "from complete videos")
        return write_manifest(ds, path)

    def agreement(self, annotator_a: str, annotator_b: str, video: int | str | None = None) -> Agreement:
        """Cohen's kappa on per-frame labels and event F1 at IoU >= 0.5 between two annotators.

        Counts the intervals each annotator decided on and did not reject, over the videos
        where at least one of them has such an interval (or the one video asked for).
        """
        from metst_engine.project.agreement import agreement

        per_video = []
        for v in ([self.video(video)] if video is not None else self.videos()):
            a = [r for r in self.intervals(v.id, annotator=annotator_a) if r.state != "rejected"]
            b = [r for r in self.intervals(v.id, annotator=annotator_b) if r.state != "rejected"]
            if a or b or video is not None:
                per_video.append((v.n_frames, [_as_interval(r) for r in a], [_as_interval(r) for r in b]))
        return agreement(per_video)

    # ------------------------------------------------------------------ internals
    def _stored_path(self, path: Path) -> str:
        real = Path(os.path.abspath(path))
        folder = Path(os.path.abspath(self.folder))
        try:
            return real.relative_to(folder).as_posix()
        except ValueError:
            return str(real)

    def _video_record(self, r: sqlite3.Row) -> VideoRecord:
        stored = r["path"]
        path = Path(stored) if Path(stored).is_absolute() else self.folder / stored
        return VideoRecord(r["id"], r["name"], r["subject"], path, stored, r["content_hash"], r["fps"], r["n_frames"],
                           bool(r["complete"]), r["completed_by"], r["completed_at"], r["added"])

    def _videos_for(self, source: Path, names: Iterable[str]) -> dict[str, VideoRecord]:
        known = {v.name: v for v in self.videos()}
        unknown = sorted(set(names) - set(known))
        if unknown:
            raise InputError(source, f"video(s) not in the project: {', '.join(unknown[:5])}"
                                     f"{' ...' if len(unknown) > 5 else ''}; add them first")
        return {n: known[n] for n in names}

    def _subject_id(self, conn: sqlite3.Connection, name: str) -> int:
        conn.execute("INSERT OR IGNORE INTO subjects(name) VALUES (?)", (name,))
        return int(conn.execute("SELECT id FROM subjects WHERE name = ?", (name,)).fetchone()[0])

    def _annotator_id(self, conn: sqlite3.Connection, name: str | None) -> int | None:
        if name is None:
            return None
        conn.execute("INSERT OR IGNORE INTO annotators(name) VALUES (?)", (name,))
        return int(conn.execute("SELECT id FROM annotators WHERE name = ?", (name,)).fetchone()[0])

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

    @staticmethod
    def _interval_row(conn: sqlite3.Connection, interval_id: int) -> dict[str, Any] | None:
        row = conn.execute(f"{_INTERVAL_SELECT} WHERE i.id = ?", (interval_id,)).fetchone()
        return None if row is None else dict(row)

    def _require_interval(self, conn: sqlite3.Connection, interval_id: int) -> dict[str, Any]:
        row = self._interval_row(conn, interval_id)
        if row is None:
            raise ProjectError(self.db_path, f"no interval {interval_id} in the project")
        return row

    def _put_interval(self, conn: sqlite3.Connection, row: dict[str, Any]) -> int:
        """Insert or overwrite one interval row (public field names; annotator by name)."""
        cols = [c for c in _INTERVAL_FIELDS if c != "annotator"] + ["annotator_id"]
        values = [row[c] for c in _INTERVAL_FIELDS if c != "annotator"] + [self._annotator_id(conn, row["annotator"])]
        values[cols.index("touched")] = int(bool(row["touched"]))
        updates = ", ".join(f"{c} = excluded.{c}" for c in cols if c != "id")
        cur = conn.execute(f"INSERT INTO intervals({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
                           f"ON CONFLICT(id) DO UPDATE SET {updates}", values)
        return int(row["id"] if row["id"] is not None else cur.lastrowid or 0)

    def _put_video_fields(self, conn: sqlite3.Connection, video_id: int, values: dict[str, Any]) -> None:
        allowed = {"path", "content_hash", "complete", "completed_by", "completed_at"}
        if not set(values) <= allowed:
            raise ValueError(f"video fields {set(values) - allowed} cannot be edited")
        conn.execute(f"UPDATE videos SET {', '.join(f'{k} = ?' for k in values)} WHERE id = ?",
                     [*values.values(), video_id])

    def _edit_interval(self, action: str, interval_id: int, change: Any) -> Edit:
        with self._transaction() as conn:
            before = self._require_interval(conn, interval_id)
            after = {**before, **change(before), "annotator": self.annotator, "touched": 1, "updated": _now()}
            self._validate(after, self.video(int(before["video_id"])))
            self._put_interval(conn, after)
            return self._log(conn, action, [Change("intervals", interval_id, before,
                                                   self._interval_row(conn, interval_id))])

    def _insert_rows(self, action: str, rows: list[dict[str, Any]], new_videos: list[_VideoProbe]) -> ImportResult:
        """Add videos and imported rows (video given by name) in one transaction; skip exact duplicates."""
        key_cols = ("video_id", "onset", "apex", "offset", "emotion", "type", "source", "state", "annotator", "note")
        with self._transaction() as conn:
            for probe in new_videos:
                self._insert_video(conn, probe)
            ids = {name: vid for vid, name in conn.execute("SELECT id, name FROM videos")}
            rows = [{**{k: v for k, v in row.items() if k != "video"}, "video_id": ids[row["video"]]} for row in rows]
            now = _now()
            existing = {tuple(r[c] for c in key_cols) for r in map(dict, conn.execute(_INTERVAL_SELECT))}
            changes, skipped = [], 0
            for row in rows:
                key = tuple(row[c] for c in key_cols)
                if key in existing:
                    skipped += 1
                    continue
                existing.add(key)
                full = {"id": None, **row, "created": now, "updated": now}
                full["id"] = self._put_interval(conn, full)
                changes.append(Change("intervals", full["id"], None, self._interval_row(conn, full["id"])))
            edit = self._log(conn, action, changes)
        return ImportResult(None, len(changes), 0, skipped, edit)

    def _apply(self, action: str, changes: list[Change]) -> Edit:
        """Move each row from ``before`` to ``after`` after checking it is still at ``before``."""
        with self._transaction() as conn:
            applied = []
            for c in changes:
                if c.table == "intervals":
                    current = self._interval_row(conn, c.row_id)
                    if current != c.before:
                        raise EditConflictError(self.db_path, f"interval {c.row_id} changed since; not applied")
                    if c.after is None:
                        conn.execute("DELETE FROM intervals WHERE id = ?", (c.row_id,))
                    else:
                        self._put_interval(conn, c.after)
                elif c.table == "videos":
                    assert c.before is not None and c.after is not None
                    row = conn.execute(f"SELECT {', '.join(c.before)} FROM videos WHERE id = ?",
                                       (c.row_id,)).fetchone()
                    if row is None or dict(row) != c.before:
                        raise EditConflictError(self.db_path, f"video {c.row_id} changed since; not applied")
                    self._put_video_fields(conn, c.row_id, c.after)
                else:
                    raise ValueError(f"unknown table {c.table!r} in an edit")
                applied.append(c)
            return self._log(conn, action, applied)

    def _validate(self, row: dict[str, Any], video: VideoRecord) -> None:
        if row["state"] not in STATES:
            raise InputError(None, f"state {row['state']!r} is not one of {', '.join(STATES)}")
        self._validate_interval(None, row["onset"], row["apex"], row["offset"], row["type"], video.name, video.n_frames)

    @staticmethod
    def _validate_interval(source: Path | None, onset: int, apex: int | None, offset: int, type_: str | None,
                           video: str, n_frames: int) -> None:
        where = f"video {video!r} ({n_frames} frames)"
        if type_ not in TYPES:
            raise InputError(source, f"{where}: type {type_!r} is not micro or macro")
        if not 0 <= onset <= offset:
            raise InputError(source, f"{where}: interval [{onset}, {offset}] needs 0 <= onset <= offset")
        if offset >= n_frames:
            raise InputError(source, f"{where}: offset {offset} is past the last frame {n_frames - 1}")
        if apex is not None and not onset <= apex <= offset:
            raise InputError(source, f"{where}: apex {apex} outside [{onset}, {offset}]")


@dataclass(frozen=True)
class _VideoProbe:
    """What adding a video needs, read before the transaction (reading a video takes time)."""

    path: Path
    name: str
    subject: str
    fps: float
    n_frames: int
    timestamps: np.ndarray
    content_hash: str


def _probe_video(path: Path, subject: str, video_id: str | None, fps: float | None, fill_gaps: bool) -> _VideoProbe:
    from metst_engine.cache import video_fingerprint
    from metst_engine.video import open_video

    from metst_engine.safe_paths import check_id, utf8_path

    if not subject:
        raise InputError(path, "a video needs a subject; give one with --subject NAME")
    name = video_id or (path.name if path.is_dir() else path.stem)
    utf8_path(os.path.abspath(path), "video's path")
    check_id(name, "video id", path, fix="pass another one with --video-id")
    check_id(subject, "subject", path, fix="give another subject name")
    with open_video(path, fps=fps, fill_gaps=fill_gaps) as v:
        n_frames, video_fps = v.n_frames, float(v.fps)
        stamps = np.ascontiguousarray(v.timestamps, dtype="<f8")
    return _VideoProbe(path, name, subject, video_fps, n_frames, stamps, video_fingerprint(path))


def _unfinished_creation(db: Path) -> bool:
    """``db`` is an empty SQLite file left by an interrupted creation (of an older metst)."""
    from metst_engine.project import schema

    try:
        if db.stat().st_size == 0:
            return True
        conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    except (OSError, sqlite3.Error):
        return False
    try:
        return schema.is_unfinished(conn)
    finally:
        conn.close()


def _as_interval(r: IntervalRecord) -> Interval:
    return Interval(r.onset, r.offset, apex=r.apex, emotion=r.emotion, type=r.type)


def _default_annotator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
