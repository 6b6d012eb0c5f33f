"""Opening the project database safely: connection settings, schema checks and the journal mode.

Every connection runs with ``synchronous=FULL`` (a commit is on disk when it returns) and
foreign keys on; read-only ones with ``query_only`` as well. Local projects use WAL (readers
never block the editor); on a network file system WAL's shared memory is not shared between
machines, so there a rollback journal with SQLite's exclusive locking mode is used.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from metst_engine.errors import ProjectError, ProjectLockedError
from metst_engine.project import schema
from metst_engine.project.recovery import damaged, quick_check


def _open(uri: str, writable: bool) -> sqlite3.Connection:
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=10.0)
    try:
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = FULL")
        if not writable:
            conn.execute("PRAGMA query_only = ON")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except BaseException:
        conn.close()
        raise
    return conn


def connect(db: Path, *, writable: bool, notes: list[str] | None = None) -> sqlite3.Connection:
    """An autocommit connection (transactions are explicit); read-only ones cannot write at all.

    A read-only folder (a read-only mount or share) cannot hold WAL's ``-shm`` file, so a
    read-only connection that fails there opens the file as immutable (``immutable=1``): a
    snapshot nobody else can change; ``notes`` then says so.
    """
    uri = f"{db.resolve().as_uri()}?mode={'rwc' if writable else 'ro'}"
    try:
        return _open(uri, writable)
    except sqlite3.DatabaseError as exc:
        first = exc
    if not writable and not os.access(db.parent, os.W_OK):
        try:
            conn = _open(uri + "&immutable=1", writable)
        except sqlite3.DatabaseError:
            pass
        else:
            if notes is not None:
                wal = db.with_name(db.name + "-wal")
                notes.append("the project folder is read-only: opened as an unchanging snapshot"
                             + (f" (changes still in {wal.name} are not shown)" if wal.is_file() and
                                wal.stat().st_size else ""))
            return conn
    if type(first) is sqlite3.DatabaseError:     # not a lock or I/O problem: the file itself
        raise damaged(db, str(first))
    raise ProjectError(db, f"cannot open the project database: {first}") from None


def prepare_schema(conn: sqlite3.Connection, db: Path, *, writable: bool, create: bool) -> list[str]:
    """Create, check or migrate the schema; the notes say what was done."""
    if create:
        schema.migrate(conn)
        return []
    if schema.is_unfinished(conn):          # a creation killed before its schema committed
        if not writable:
            raise ProjectError(db, "the project's creation was interrupted; run 'metst project create "
                                   f"{db.parent}' again (or open it for editing) to finish it")
        schema.migrate(conn)
        return ["finished a project creation that had been interrupted"]
    problem = quick_check(conn)
    if problem is not None:
        raise damaged(db, problem)
    version = schema.schema_version(conn, db)
    if version == schema.SCHEMA_VERSION:
        return []
    if not writable:
        raise ProjectError(db, f"schema {version} is older than this metst's {schema.SCHEMA_VERSION}; open it "
                               "once for editing to migrate it")
    backup = schema.backup_before_migration(conn, db, version)
    schema.migrate(conn)
    return [f"migrated from schema {version} to {schema.SCHEMA_VERSION}; backup copy at {backup}"]


def set_journal_mode(conn: sqlite3.Connection, db: Path, *, network: bool) -> None:
    """WAL on local disks; on a network file system a rollback journal with exclusive locking."""
    try:
        if network:
            conn.execute("PRAGMA locking_mode = EXCLUSIVE")
            mode = conn.execute("PRAGMA journal_mode = DELETE").fetchone()[0]
            conn.execute("BEGIN IMMEDIATE")      # take the exclusive lock now, not at the first write
            conn.execute("COMMIT")
        else:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    except sqlite3.OperationalError as exc:
        raise ProjectLockedError(db, f"cannot lock the database ({exc}); another process is using it") from None
    if mode.lower() != ("delete" if network else "wal"):
        raise ProjectError(db, f"could not set the journal mode (SQLite kept {mode!r})")
