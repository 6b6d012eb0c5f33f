"""Damaged project databases: detect them, keep daily backups, and say how to get the work back.

A disk fault, a copy cut short or a sync tool can damage ``project.sqlite``. Opening a
project runs SQLite's ``quick_check``; a damaged file is refused with a message that
names it, lists the newest automatic backup and the commands that recover. Each day a
project is opened for editing (and found intact), a consistent copy is written with
SQLite's backup API to ``backups/project-YYYY-MM-DD.sqlite``; the newest
:data:`KEEP_BACKUPS` are kept.
"""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from metst_engine.errors import ProjectError
from metst_engine.project.schema import copy_database

BACKUP_DIR = "backups"
KEEP_BACKUPS = 14


def backups(db: Path) -> list[Path]:
    """Automatic backups of the database ``db``, newest first."""
    folder = db.parent / BACKUP_DIR
    try:
        found = [p for p in folder.glob(f"{db.stem}-*.sqlite") if p.is_file()]
    except OSError:
        return []
    return sorted(found, key=lambda p: p.name, reverse=True)


def quick_check(conn: sqlite3.Connection) -> str | None:
    """None when SQLite finds the file intact, else what it found."""
    try:
        rows = conn.execute("PRAGMA quick_check(5)").fetchall()
    except sqlite3.DatabaseError as exc:
        return str(exc)
    lines = [line.strip() for r in rows for line in str(r[0]).splitlines()]
    lines = [line for line in lines if line and not line.startswith("***")]
    result = "; ".join(lines[:3]) or "ok"
    return None if result == "ok" else result


def damaged(db: Path, detail: str) -> ProjectError:
    """The error for a damaged database: what happened, the newest backup, and how to recover."""
    found = backups(db)
    folder = db.parent
    if found:
        newest = found[0]
        how = (f"the newest automatic backup is {newest} ({len(found)} kept in {newest.parent}); "
               f"'metst project restore {folder}' puts it back (the damaged file is kept beside it, "
               "edits made after the backup are lost)")
    else:
        how = (f"there is no automatic backup in {folder / BACKUP_DIR} yet (metst keeps one per day of work); "
               f"salvage what is readable with: sqlite3 {db} .recover | sqlite3 {folder / 'recovered.sqlite'}, "
               "or copy back a backup of your own")
    return ProjectError(db, f"the project database is damaged ({detail}); nothing was changed. To recover: {how}")


def daily_backup(conn: sqlite3.Connection, db: Path, *, today: str | None = None) -> Path | None:
    """Write today's backup unless it exists; drop the oldest beyond :data:`KEEP_BACKUPS`. Never raises
    for lack of room or permission (a backup must not stop the work it protects)."""
    stamp = today or datetime.now(UTC).strftime("%Y-%m-%d")
    folder = db.parent / BACKUP_DIR
    target = folder / f"{db.stem}-{stamp}.sqlite"
    if target.exists():
        return None
    tmp = folder / f".{target.name}.{os.getpid()}.tmp"
    try:
        folder.mkdir(exist_ok=True)
        copy_database(conn, tmp)
        os.replace(tmp, target)
        for old in backups(db)[KEEP_BACKUPS:]:
            old.unlink(missing_ok=True)
    except (OSError, sqlite3.Error):
        tmp.unlink(missing_ok=True)
        return None
    return target


def restore(db: Path, backup: Path | None = None) -> tuple[Path, Path | None]:
    """Put a backup in place of ``db`` (the caller holds the editing lock); returns (backup used, damaged
    file kept aside). The damaged file and its ``-wal`` / ``-shm`` are renamed, never deleted."""
    chosen = backup or next(iter(backups(db)), None)
    if chosen is None:
        raise ProjectError(db, f"no automatic backup in {db.parent / BACKUP_DIR}; salvage what is readable with: "
                               f"sqlite3 {db} .recover | sqlite3 {db.parent / 'recovered.sqlite'}")
    chosen = Path(chosen)
    try:
        src = sqlite3.connect(f"{chosen.resolve().as_uri()}?mode=ro", uri=True)
        try:
            problem = quick_check(src)
            if problem is not None:
                raise ProjectError(chosen, f"this backup is damaged too ({problem}); pick an older one with --backup")
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            tmp = db.with_name(f".{db.name}.restore.tmp")
            copy_database(src, tmp)
        finally:
            src.close()
        kept = None
        if db.exists():
            kept = db.with_name(f"{db.name}.damaged-{stamp}")
            os.replace(db, kept)
        for suffix in ("-wal", "-shm", "-journal"):
            side = db.with_name(db.name + suffix)
            if side.exists():
                os.replace(side, db.with_name(f"{db.name}.damaged-{stamp}{suffix}"))
        os.replace(tmp, db)
    except sqlite3.DatabaseError as exc:
        raise ProjectError(chosen, f"cannot read this backup ({exc}); pick another with --backup") from None
    except OSError as exc:
        raise ProjectError(db, f"cannot restore here ({exc.strerror or exc}); is the folder writable?") from None
    return chosen, kept


__all__ = ["BACKUP_DIR", "KEEP_BACKUPS", "backups", "daily_backup", "damaged", "quick_check", "restore"]
