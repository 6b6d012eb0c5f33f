"""The project database's schema: DDL as an ordered list of migrations, and the checks at open.

A new database is built by running every migration in order, an old one by running the
ones it lacks, so both paths run the same code. ``PRAGMA application_id`` marks a metst
project (a foreign SQLite file is refused) and ``PRAGMA user_version`` is the schema
version (a newer one is refused; an older one is migrated after a backup copy is written).
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from metst_engine.errors import ProjectError

#: "METS" as a big-endian integer: marks the file as a metst project.
APPLICATION_ID = 0x4D455453

_V1 = """
CREATE TABLE subjects (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);
CREATE TABLE videos (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    subject_id INTEGER NOT NULL REFERENCES subjects(id),
    path TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    fps REAL NOT NULL CHECK (fps > 0),
    n_frames INTEGER NOT NULL CHECK (n_frames >= 0),
    timestamps BLOB NOT NULL,            -- float64 seconds per frame, little-endian
    complete INTEGER NOT NULL DEFAULT 0,
    completed_by TEXT,
    completed_at TEXT,
    added TEXT NOT NULL
);
CREATE TABLE annotators (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    predictor TEXT NOT NULL,
    params TEXT NOT NULL,                -- JSON object
    source_file TEXT,
    created TEXT NOT NULL
);
CREATE TABLE intervals (
    id INTEGER PRIMARY KEY,
    video_id INTEGER NOT NULL REFERENCES videos(id),
    onset INTEGER NOT NULL CHECK (onset >= 0),
    apex INTEGER CHECK (apex IS NULL OR (apex >= onset AND apex <= offset)),
    offset INTEGER NOT NULL CHECK (offset >= onset),
    emotion TEXT,
    type TEXT NOT NULL CHECK (type IN ('micro', 'macro')),
    source TEXT NOT NULL CHECK (source IN ('predicted', 'manual', 'imported')),
    state TEXT NOT NULL CHECK (state IN ('pending', 'accepted', 'rejected', 'corrected')),
    score REAL,
    annotator_id INTEGER REFERENCES annotators(id),
    note TEXT NOT NULL DEFAULT '',
    run_id INTEGER REFERENCES runs(id),
    touched INTEGER NOT NULL DEFAULT 0,
    created TEXT NOT NULL,
    updated TEXT NOT NULL
);
CREATE INDEX intervals_by_video ON intervals(video_id, onset);
CREATE TABLE edit_log (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    who TEXT NOT NULL,
    action TEXT NOT NULL,
    changes TEXT NOT NULL                -- JSON list of {table, row_id, before, after}
);
CREATE TRIGGER edit_log_no_update BEFORE UPDATE ON edit_log
    BEGIN SELECT RAISE(ABORT, 'the edit log is append-only'); END;
CREATE TRIGGER edit_log_no_delete BEFORE DELETE ON edit_log
    BEGIN SELECT RAISE(ABORT, 'the edit log is append-only'); END;
"""

_V2 = """
CREATE TABLE curves (
    id INTEGER PRIMARY KEY,
    video_id INTEGER NOT NULL REFERENCES videos(id),
    run_id INTEGER REFERENCES runs(id),
    path TEXT NOT NULL,                  -- relative to the project's cache/ folder
    created TEXT NOT NULL
);
CREATE INDEX intervals_pending ON intervals(state, video_id);
"""

# label_edited: the emotion or type was changed by hand ("corrected" is for timing only);
# review_positions: where each annotator left off, to reopen there.
_V3 = """
ALTER TABLE intervals ADD COLUMN label_edited INTEGER NOT NULL DEFAULT 0;
CREATE TABLE review_positions (
    annotator_id INTEGER PRIMARY KEY REFERENCES annotators(id),
    video_id INTEGER NOT NULL REFERENCES videos(id),
    frame INTEGER NOT NULL CHECK (frame >= 0),
    updated TEXT NOT NULL
);
"""

#: MIGRATIONS[i] takes a database from schema version i to i + 1.
MIGRATIONS: tuple[str, ...] = (_V1, _V2, _V3)
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection, to_version: int = SCHEMA_VERSION) -> None:
    """Run the migrations the database lacks, each in its own transaction."""
    current = conn.execute("PRAGMA user_version").fetchone()[0]
    for version in range(current, to_version):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(MIGRATIONS[version]):
                conn.execute(statement)
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def _statements(script: str) -> list[str]:
    """Split a DDL script into statements (triggers keep their inner semicolons)."""
    out: list[str] = []
    buf = ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                out.append(buf.strip())
            buf = ""
    return out


def is_unfinished(conn: sqlite3.Connection) -> bool:
    """An empty SQLite file (no metst mark, no tables): a creation stopped before its schema committed."""
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        objects = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    except sqlite3.DatabaseError:
        return False
    return app_id == 0 and version == 0 and objects == 0


def schema_version(conn: sqlite3.Connection, path: Path) -> int:
    """The schema version of an existing project database; refuse foreign and newer files."""
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise ProjectError(path, f"not a metst project database ({exc})") from None
    if app_id != APPLICATION_ID:
        raise ProjectError(path, "not a metst project: an SQLite file of another program "
                                 f"(application_id {app_id:#x}); refusing to touch it")
    if version > SCHEMA_VERSION:
        raise ProjectError(path, f"made by a newer metst (schema {version}; this version reads up to "
                                 f"{SCHEMA_VERSION}); update metst to open it")
    return version


def copy_database(conn: sqlite3.Connection, target: Path) -> None:
    """A consistent copy of the open database at ``target`` (SQLite's backup API)."""
    dest = sqlite3.connect(target)
    try:
        conn.backup(dest)
    finally:
        dest.close()


def backup_before_migration(conn: sqlite3.Connection, path: Path, version: int) -> Path:
    """Copy the database beside it before migrating."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.schema{version}-{stamp}.bak")
    copy_database(conn, target)
    return target
