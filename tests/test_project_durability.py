"""What must hold for the annotators' data: SIGKILL at any moment, two processes, network disks, schemas."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from project_support import tiny_video

from metst_engine.errors import ProjectError, ProjectLockedError
from metst_engine.project import SCHEMA_VERSION, Project
from metst_engine.project import schema as project_schema
from metst_engine.project.fs import mount_of, network_fs_type, parse_mounts

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}

#: A child that edits as fast as it can; "try" before each call, "ok" once it returned.
EDITOR = r"""
import random, sys
from metst_engine.project import Project

p = Project.open(sys.argv[1], read_only=False, wait=30, annotator="child")
rnd = random.Random(int(sys.argv[2]))
live = [r.id for r in p.intervals()]
print("ready", flush=True)
n = 0
while True:
    n += 1
    op = rnd.choice(["add", "add", "note", "correct", "delete"]) if live else "add"
    if op == "add":
        on = rnd.randrange(0, 90); off = on + rnd.randrange(0, 9); note = f"n{sys.argv[2]}-{n}"
        print(f"try add {on} {off} {note}", flush=True)
        e = p.add_interval("v", on, off, note=note)
        live.append(e.interval_id)
        print(f"ok {e.interval_id} {e.log_id}", flush=True)
    else:
        iid = rnd.choice(live)
        if op == "note":
            note = f"m{sys.argv[2]}-{n}"
            print(f"try note {iid} {note}", flush=True)
            e = p.set_note(iid, note)
        elif op == "correct":
            on = rnd.randrange(0, 90)
            print(f"try correct {iid} {on} {on + 5}", flush=True)
            e = p.correct(iid, onset=on, offset=on + 5)
        else:
            print(f"try delete {iid}", flush=True)
            e = p.delete_interval(iid)
            live.remove(iid)
        print(f"ok {iid} {e.log_id}", flush=True)
"""


def _apply(model: dict[int, tuple[int, int, str]], op: list[str], iid: int) -> None:
    """The expected state of interval ``iid`` after operation ``op`` (as the child printed it)."""
    kind = op[0]
    if kind == "add":
        model[iid] = (int(op[1]), int(op[2]), op[3])
    elif kind == "note":
        model[iid] = (*model[iid][:2], op[2])
    elif kind == "correct":
        model[iid] = (int(op[2]), int(op[3]), model[iid][2])
    else:
        model.pop(iid)


def test_acknowledged_edits_survive_sigkill(tmp_path):
    folder = tmp_path / "proj"
    with Project.create(folder) as p:
        p.add_video(tiny_video(folder / "v.mp4", n_frames=100), "S", "v")
    script = tmp_path / "editor.py"
    script.write_text(EDITOR, encoding="utf-8")
    rng = random.Random(1234)
    model: dict[int, tuple[int, int, str]] = {}
    acked_logs: list[int] = []
    total_acked = 0
    for round_ in range(24):
        child = subprocess.Popen([sys.executable, str(script), str(folder), str(round_)], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, text=True, env=ENV)
        assert child.stdout is not None
        if round_ % 4 == 3:
            time.sleep(rng.uniform(0.0, 0.5))     # may land while the child opens the project
            first = ""
        else:
            first = child.stdout.readline()
            assert first == "ready\n", first
            time.sleep(rng.uniform(0.0, 0.25))
        child.send_signal(signal.SIGKILL)
        out = first + child.stdout.read()     # not communicate(): it would skip what readline() buffered
        child.wait()
        assert child.returncode == -signal.SIGKILL
        pending: list[str] | None = None
        for line in out.splitlines(keepends=True):
            if not line.endswith("\n"):
                break                                  # cut mid-line by the kill
            words = line.split()
            if words[0] == "ready":
                continue
            if words[0] == "try":
                pending = words[1:]
            elif words[0] == "ok" and pending is not None:
                _apply(model, pending, int(words[1]))
                acked_logs.append(int(words[2]))
                total_acked += 1
                pending = None
        with Project.open(folder, read_only=False) as p:
            assert p.integrity_check() == "ok"
            stored = {r.id: (r.onset, r.offset, r.note) for r in p.intervals()}
            logged = {e["id"] for e in p.edit_log()}
        expected = dict(model)
        if stored != expected and pending is not None:
            # the unacknowledged last edit may or may not have committed: both are correct
            new_ids = sorted(set(stored) - set(model))
            target = int(pending[1]) if pending[0] != "add" else (new_ids[0] if len(new_ids) == 1 else -1)
            _apply(expected, pending, target)
            model = expected
        assert stored == model, f"round {round_}"
        assert set(acked_logs) <= logged
    print(f"{total_acked} acknowledged edits over 24 kills")
    assert total_acked > 24          # the kills landed while the child was editing


CONCURRENT = r"""
import sys, time
from metst_engine.errors import ProjectLockedError, ReadOnlyError
from metst_engine.project import Project

p = Project.open(sys.argv[1])
print(p.read_only, p.read_only_reason, flush=True)
try:
    p.add_interval("v", 1, 2)
except ReadOnlyError as e:
    print("refused", e, flush=True)
try:
    Project.open(sys.argv[1], read_only=False)
except ProjectLockedError as e:
    print("locked", e, flush=True)
counts = []
end = time.monotonic() + 1.5
while time.monotonic() < end:
    counts.append(len(p.intervals()))
print("counts", counts == sorted(counts), counts[-1], flush=True)
p.close()
q = Project.open(sys.argv[1], read_only=False, wait=30)
q.add_interval("v", 50, 60, note="second process")
print("edited", flush=True)
"""


def test_two_processes_one_edits_the_other_reads_then_waits(tmp_path):
    folder = tmp_path / "proj"
    p = Project.create(folder)
    p.add_video(tiny_video(folder / "v.mp4", n_frames=100), "S", "v")
    script = tmp_path / "second.py"
    script.write_text(CONCURRENT, encoding="utf-8")
    errors = open(tmp_path / "stderr.txt", "w")  # noqa: SIM115 - closed below
    child = subprocess.Popen([sys.executable, str(script), str(folder)], stdout=subprocess.PIPE,
                             stderr=errors, text=True, env=ENV)
    assert child.stdout is not None
    first = child.stdout.readline()
    assert first.startswith("True opened read-only") and f"process {os.getpid()}" in first
    for i in range(60):                       # edits while the other process reads
        p.add_interval("v", i, i + 3)
        time.sleep(0.01)
    time.sleep(1.0)
    p.close()                                 # now the waiting child gets the lock
    out = child.stdout.read()                 # not communicate(): it would skip what readline() buffered
    child.wait(timeout=60)
    errors.close()
    assert child.returncode == 0, (tmp_path / "stderr.txt").read_text()
    lines = out.splitlines()
    assert lines[0].startswith("refused") and "open for editing" in lines[0]
    assert lines[1].startswith("locked") and "has this project open for editing" in lines[1]
    assert lines[2].startswith("counts True") and lines[3] == "edited"
    with Project.open(folder, read_only=False) as p:
        assert p.integrity_check() == "ok"
        assert len(p.intervals()) == 61 and [r.note for r in p.intervals(states=["accepted"]) if r.note] == [
            "second process"]


def test_wait_then_give_up_is_a_clear_error(tmp_path):
    with Project.create(tmp_path / "p"):
        t0 = time.monotonic()
        with pytest.raises(ProjectLockedError, match="cannot edit: process .* has this project open for editing"):
            Project.open(tmp_path / "p", read_only=False, wait=0.3)
        assert time.monotonic() - t0 >= 0.25


def test_a_folder_that_cannot_be_written_opens_read_only(tmp_path, monkeypatch):
    from filelock import FileLock

    with Project.create(tmp_path / "p") as p:
        p.add_subject("S")

    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(FileLock, "acquire", refuse)
    with Project.open(tmp_path / "p") as p:
        assert p.read_only and "not writable (Permission denied)" in p.read_only_reason
        assert [s.name for s in p.subjects()] == ["S"]
    with pytest.raises(ProjectLockedError, match="not writable"):
        Project.open(tmp_path / "p", read_only=False)


# ---------------------------------------------------------------- network file systems
MOUNTS = """\
/dev/sda1 / ext4 rw,relatime 0 0
server:/export /mnt/lab nfs4 rw,relatime 0 0
//nas/share /mnt/nas\\040share cifs rw 0 0
user@host:/data /home/me/remote fuse.sshfs rw 0 0
tmpfs /mnt/lab/local tmpfs rw 0 0
"""


def test_network_file_systems_are_recognised(tmp_path):
    mounts_file = tmp_path / "mounts"
    mounts_file.write_text(MOUNTS)
    assert [m.fs_type for m in parse_mounts(MOUNTS)] == ["ext4", "nfs4", "cifs", "fuse.sshfs", "tmpfs"]
    assert mount_of("/mnt/nas share/p", parse_mounts(MOUNTS)).fs_type == "cifs"
    assert network_fs_type("/mnt/lab/projects/p", mounts_file) == "nfs4"
    assert network_fs_type("/mnt/lab/local/p", mounts_file) is None        # the longest mount point wins
    assert network_fs_type("/mnt/labx", mounts_file) is None
    assert network_fs_type("/home/me/remote/p", mounts_file) == "fuse.sshfs"
    assert network_fs_type("/home/me/p", mounts_file) is None
    assert network_fs_type("/anything", tmp_path / "no-such-file") is None


def test_a_project_on_a_network_disk_uses_exclusive_locking_or_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr("metst_engine.project.core.network_fs_type", lambda path: "nfs4")
    with pytest.raises(ProjectError, match=r"network file system \(nfs4\).*WAL"):
        Project.create(tmp_path / "refused", network_fs="refuse")
    with Project.create(tmp_path / "p") as p:
        assert any("network file system (nfs4)" in n for n in p.notes)
        conn = p._db()
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert conn.execute("PRAGMA locking_mode").fetchone()[0] == "exclusive"
        other = sqlite3.connect(p.db_path, timeout=0.1)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("SELECT count(*) FROM videos").fetchone()
        other.close()
    assert not Path(str(p.db_path) + "-wal").exists()


# ---------------------------------------------------------------- schema versions
def test_newer_and_foreign_databases_are_refused(tmp_path):
    with Project.create(tmp_path / "new"):
        pass
    conn = sqlite3.connect(tmp_path / "new" / "project.sqlite")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(ProjectError, match=f"newer metst \\(schema {SCHEMA_VERSION + 1}"):
        Project.open(tmp_path / "new")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    conn = sqlite3.connect(foreign / "project.sqlite")
    conn.execute("CREATE TABLE photos (id INTEGER)")
    conn.close()
    with pytest.raises(ProjectError, match="another program"):
        Project.open(foreign)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "project.sqlite").write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(ProjectError, match="project.sqlite: .*not a database"):
        Project.open(tmp_path / "junk")


def test_an_older_schema_is_migrated_after_a_backup(tmp_path):
    folder = tmp_path / "old"
    folder.mkdir()
    db = folder / "project.sqlite"
    conn = sqlite3.connect(db, isolation_level=None)
    project_schema.migrate(conn, to_version=1)
    conn.execute("INSERT INTO subjects(name) VALUES ('S-old')")
    conn.close()
    with Project.open(folder) as p:
        assert not p.read_only
        assert any("migrated from schema 1" in n for n in p.notes)
        assert [s.name for s in p.subjects()] == ["S-old"]
        assert p._db().execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert p.curves  # the v2 table exists
        p._db().execute("SELECT count(*) FROM curves").fetchone()
    (backup,) = folder.glob("project.sqlite.schema1-*.bak")
    old = sqlite3.connect(backup)
    assert old.execute("PRAGMA user_version").fetchone()[0] == 1
    assert old.execute("SELECT name FROM subjects").fetchall() == [("S-old",)]
    old.close()
    with Project.open(folder) as p:                  # migrated once: no second backup
        assert p.notes == []
    assert len(list(folder.glob("*.bak"))) == 1


def test_an_older_schema_opened_read_only_is_not_migrated(tmp_path):
    folder = tmp_path / "old"
    folder.mkdir()
    conn = sqlite3.connect(folder / "project.sqlite", isolation_level=None)
    project_schema.migrate(conn, to_version=1)
    conn.close()
    with pytest.raises(ProjectError, match="open it once for editing"):
        Project.open(folder, read_only=True)
    assert list(folder.glob("*.bak")) == []
