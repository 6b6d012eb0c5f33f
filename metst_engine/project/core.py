"""The core of the project store: opening, the editing lock, transactions, the edit log and undo.

Annotators' decisions are the most valuable data in the product, so every mutation is one
``BEGIN IMMEDIATE`` transaction with ``synchronous=FULL``: when a method returns, its
change is on disk, and a process killed at any moment leaves the previous or the new
state. Every mutation also appends to the edit log (append-only, enforced by triggers) and
returns an :class:`Edit` that :meth:`ProjectCore.undo` / :meth:`ProjectCore.redo` apply.

Layout of a project folder: ``project.sqlite`` (WAL mode on local disks), its ``-wal`` and
``-shm`` files, ``project.sqlite.lock`` (the editing lock) and ``cache/`` (curves).

The parts of a project (videos, review edits, imports, exports, training labels,
agreement) build on :class:`ProjectCore`, each in its own module;
:class:`~metst_engine.project.store.Project` puts them together.
"""

from __future__ import annotations

import getpass
import json
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Self

from metst_engine.atomic import ensure_dir, output_problem
from metst_engine.errors import (
    EditConflictError,
    InputError,
    ProjectError,
    ProjectLockedError,
    ReadOnlyError,
)
from metst_engine.project import schema
from metst_engine.project.connection import connect, prepare_schema, set_journal_mode
from metst_engine.project.fs import network_fs_type
from metst_engine.project.locking import WriterLock
from metst_engine.project.recovery import daily_backup, damaged, restore
from metst_engine.project.records import STATES, TYPES, Change, Edit, IntervalRecord, VideoRecord

DB_NAME = "project.sqlite"
CACHE_DIR = "cache"
NetworkPolicy = Literal["exclusive", "refuse"]

INTERVAL_SELECT = """
SELECT i.id, i.video_id, i.onset, i.apex, i.offset, i.emotion, i.type, i.source, i.state, i.score,
       a.name AS annotator, i.note, i.run_id, i.touched, i.created, i.updated, i.label_edited
FROM intervals i LEFT JOIN annotators a ON a.id = i.annotator_id
"""
_INTERVAL_FIELDS = tuple(f.name for f in fields(IntervalRecord))


def utc_now() -> str:
    """The time stamp stored on rows and edits (UTC, ISO 8601, microseconds)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def db_path(folder: str | Path) -> Path:
    """The database of a project folder (or the database itself when given)."""
    p = Path(folder)
    return p if p.suffix == ".sqlite" else p / DB_NAME


class ProjectCore:
    """An open project database: the connection, the editing lock, transactions and the edit log
    that every part builds on (the attributes are described on :class:`~metst_engine.project.store.Project`)."""

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
               network_fs: NetworkPolicy = "exclusive") -> Self:
        """Make a new project folder (it may exist but must not hold a project) and open it.

        Atomic: the database is built aside (``.project.sqlite.creating-*``) and linked into
        place only once its schema is committed, so a killed creation leaves either no
        project or a whole one; a database left empty by an older, interrupted creation
        is finished here.
        """
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
            _build_database(folder, db)
        finally:
            lock.release()
        ensure_dir(folder / CACHE_DIR)
        return cls._open(folder, read_only=False, wait=0.0, annotator=annotator, network_fs=network_fs,
                         create=False)

    @classmethod
    def restore_backup(cls, folder: str | Path, backup: str | Path | None = None) -> tuple[Path, Path | None]:
        """Replace a damaged database by an automatic backup (default: the newest); returns (backup
        used, damaged file kept aside). Needs the editing lock: close the project elsewhere first."""
        db = db_path(folder)
        lock = WriterLock(db)
        if not lock.acquire(0.0):
            raise ProjectLockedError(db, lock.problem or f"{lock.holder()} has this project open; close it there first")
        try:
            return restore(db, None if backup is None else Path(backup))
        finally:
            lock.release()

    @classmethod
    def open(cls, folder: str | Path, *, read_only: bool | None = None, wait: float = 0.0,
             annotator: str | None = None, network_fs: NetworkPolicy = "exclusive") -> Self:
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
              network_fs: NetworkPolicy, create: bool) -> Self:
        db = db_path(folder)
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
            conn = _connect(db, lock is not None, net is not None, create, notes)
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
            raise damaged(self.db_path, str(exc)) from None

    # ------------------------------------------------------------------ edit log and undo
    def _log(self, conn: sqlite3.Connection, action: str, changes: Sequence[Change]) -> Edit:
        payload = json.dumps([{"table": c.table, "row_id": c.row_id, "before": c.before, "after": c.after}
                              for c in changes], ensure_ascii=False)
        cur = conn.execute("INSERT INTO edit_log(at, who, action, changes) VALUES (?, ?, ?, ?)",
                           (utc_now(), self.annotator, action, payload))
        return Edit(action, tuple(changes), int(cur.lastrowid or 0))

    def edit_log(self, limit: int | None = None) -> list[dict[str, Any]]:
        """The newest edits first: id, at, who, action, changes (before/after of each row)."""
        sql = "SELECT * FROM edit_log ORDER BY id DESC" + ("" if limit is None else f" LIMIT {int(limit)}")
        return [{**dict(r), "changes": json.loads(r["changes"])} for r in self._db().execute(sql)]

    def undo(self, edit: Edit) -> Edit:
        """Put back the rows as they were before ``edit``; refuses if they changed since."""
        return self._apply(f"undo {edit.action}", [Change(c.table, c.row_id, c.after, c.before)
                                                   for c in reversed(edit.changes)])

    def redo(self, edit: Edit) -> Edit:
        """Apply ``edit`` again after an undo; refuses if the rows changed since."""
        return self._apply(f"redo {edit.action}", list(edit.changes))

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

    # ------------------------------------------------------------------ rows the edit log records
    @staticmethod
    def _interval_row(conn: sqlite3.Connection, interval_id: int) -> dict[str, Any] | None:
        row = conn.execute(f"{INTERVAL_SELECT} WHERE i.id = ?", (interval_id,)).fetchone()
        return None if row is None else dict(row)

    def _require_interval(self, conn: sqlite3.Connection, interval_id: int) -> dict[str, Any]:
        row = self._interval_row(conn, interval_id)
        if row is None:
            raise ProjectError(self.db_path, f"no interval {interval_id} in the project")
        return row

    def _put_interval(self, conn: sqlite3.Connection, row: dict[str, Any]) -> int:
        """Insert or overwrite one interval row (public field names; annotator by name)."""
        row = {"label_edited": 0, **row}
        cols = [c for c in _INTERVAL_FIELDS if c != "annotator"] + ["annotator_id"]
        values = [row[c] for c in _INTERVAL_FIELDS if c != "annotator"] + [self._annotator_id(conn, row["annotator"])]
        values[cols.index("touched")] = int(bool(row["touched"]))
        values[cols.index("label_edited")] = int(bool(row["label_edited"]))
        updates = ", ".join(f"{c} = excluded.{c}" for c in cols if c != "id")
        cur = conn.execute(f"INSERT INTO intervals({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
                           f"ON CONFLICT(id) DO UPDATE SET {updates}", values)
        return int(row["id"] if row["id"] is not None else cur.lastrowid or 0)

    @staticmethod
    def _put_video_fields(conn: sqlite3.Connection, video_id: int, values: dict[str, Any]) -> None:
        allowed = {"path", "content_hash", "complete", "completed_by", "completed_at"}
        if not set(values) <= allowed:
            raise ValueError(f"video fields {set(values) - allowed} cannot be edited")
        conn.execute(f"UPDATE videos SET {', '.join(f'{k} = ?' for k in values)} WHERE id = ?",
                     [*values.values(), video_id])

    @staticmethod
    def _annotator_id(conn: sqlite3.Connection, name: str | None) -> int | None:
        if name is None:
            return None
        conn.execute("INSERT OR IGNORE INTO annotators(name) VALUES (?)", (name,))
        return int(conn.execute("SELECT id FROM annotators WHERE name = ?", (name,)).fetchone()[0])


def check_row(row: dict[str, Any], video: VideoRecord) -> None:
    """An interval row is valid on ``video``: known state and type, bounds inside its frames."""
    if row["state"] not in STATES:
        raise InputError(None, f"state {row['state']!r} is not one of {', '.join(STATES)}")
    check_interval(None, row["onset"], row["apex"], row["offset"], row["type"], video.name, video.n_frames)


def check_interval(source: Path | None, onset: int, apex: int | None, offset: int, type_: str | None,
                   video: str, n_frames: int) -> None:
    """0 <= onset <= apex <= offset < n_frames and a known type; errors name ``source`` and the video."""
    where = f"video {video!r} ({n_frames} frames)"
    if type_ not in TYPES:
        raise InputError(source, f"{where}: type {type_!r} is not micro or macro")
    if not 0 <= onset <= offset:
        raise InputError(source, f"{where}: interval [{onset}, {offset}] needs 0 <= onset <= offset")
    if offset >= n_frames:
        raise InputError(source, f"{where}: offset {offset} is past the last frame {n_frames - 1}")
    if apex is not None and not onset <= apex <= offset:
        raise InputError(source, f"{where}: apex {apex} outside [{onset}, {offset}]")


def _build_database(folder: Path, db: Path) -> None:
    """Build the schema in a file aside and link it into place (the caller holds the lock)."""
    for stale in folder.glob(f".{DB_NAME}.creating-*"):      # left by a killed creation
        stale.unlink(missing_ok=True)
    tmp = folder / f".{DB_NAME}.creating-{os.getpid()}"
    try:
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
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


def _connect(db: Path, writable: bool, network: bool, create: bool, notes: list[str]) -> sqlite3.Connection:
    """Connect, check or migrate the schema and, when editing, set the journal mode and back up."""
    conn = connect(db, writable=writable, notes=notes)
    try:
        notes += prepare_schema(conn, db, writable=writable, create=create)
        if writable:
            set_journal_mode(conn, db, network=network)
            daily_backup(conn, db)          # checked intact above: one copy per day of work
    except BaseException:
        conn.close()
        raise
    return conn


def _unfinished_creation(db: Path) -> bool:
    """``db`` is an empty SQLite file left by an interrupted creation (of an older metst)."""
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


def _default_annotator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
