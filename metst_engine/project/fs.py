"""Which file system a project lives on, because SQLite's WAL mode needs local shared memory.

WAL keeps its index in a memory-mapped ``-shm`` file, which network file systems do not
share between machines; two hosts editing one project over NFS or SMB could corrupt it.
A project on such a file system is therefore opened with a rollback journal and SQLite's
exclusive locking mode, or refused (the caller chooses).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

#: File-system types (as in /proc/mounts) whose locking or shared memory is not local.
NETWORK_FS_TYPES: frozenset[str] = frozenset({
    "nfs", "nfs4", "cifs", "smb", "smb2", "smb3", "smbfs", "ncpfs", "9p", "afs", "coda", "ceph",
    "glusterfs", "lustre", "gpfs", "beegfs", "ocfs2", "gfs2", "davfs", "fuse.sshfs", "fuse.glusterfs",
    "fuse.ceph", "fuse.s3fs", "fuse.rclone", "fuse.davfs2", "fuse.gcsfuse", "fuse.cephfs",
    "fuse.juicefs", "fuse.moosefs", "fuse.lizardfs", "fuse.goofys", "fuse.smbnetfs", "fuse.curlftpfs",
})


@dataclass(frozen=True)
class Mount:
    mount_point: str
    fs_type: str


def _unescape(field: str) -> str:
    """/proc/mounts writes spaces, tabs, newlines and backslashes as octal escapes."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def parse_mounts(text: str) -> list[Mount]:
    """Mount points and types from the text of /proc/mounts (or /proc/self/mounts)."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 3:
            out.append(Mount(_unescape(parts[1]), parts[2]))
    return out


def mount_of(path: str | Path, mounts: list[Mount]) -> Mount | None:
    """The mount holding ``path``: the longest mount point that is a prefix of its real path."""
    real = os.path.realpath(path)
    best: Mount | None = None
    for m in mounts:
        mp = m.mount_point.rstrip("/") or "/"
        if (real == mp or real.startswith(mp + "/") or mp == "/") and (
                best is None or len(mp) >= len(best.mount_point.rstrip("/") or "/")):
            best = m
    return best


def network_fs_type(path: str | Path, mounts_file: str | Path = "/proc/self/mounts") -> str | None:
    """The network file-system type ``path`` lives on, or None (local, or not knowable here)."""
    try:
        text = Path(mounts_file).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None         # not Linux: no /proc; nothing to detect with
    m = mount_of(path, parse_mounts(text))
    if m is None:
        return None
    return m.fs_type if m.fs_type in NETWORK_FS_TYPES or m.fs_type.split(".")[0] in NETWORK_FS_TYPES else None
