"""One editor per project: a lock file held while a process may write.

The lock (``filelock``: ``flock`` on POSIX, ``msvcrt`` on Windows) is released by the
operating system when its process dies, even by SIGKILL, so a crash never leaves a stale
lock. Who holds it is written to a separate ``.owner`` file for the message the second
process shows.
"""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime
from pathlib import Path

from filelock import FileLock, Timeout


class WriterLock:
    """The editing lock of one project database (``<db>.lock`` beside it)."""

    def __init__(self, db_path: Path) -> None:
        self._lock = FileLock(str(db_path) + ".lock", thread_local=False)
        self._owner = Path(str(db_path) + ".owner")
        #: Why the lock could not be taken other than another holder (None: not that).
        self.problem: str | None = None

    def acquire(self, wait_s: float) -> bool:
        """Try for ``wait_s`` seconds (0: once); True when this process now holds it.

        False also when the lock file cannot be written (a read-only folder or medium);
        :attr:`problem` then says so.
        """
        self.problem = None
        try:
            self._lock.acquire(timeout=max(wait_s, 0.0), poll_interval=0.05)
        except Timeout:
            return False
        except OSError as exc:
            self.problem = f"the project folder is not writable ({exc.strerror or exc})"
            return False
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        try:
            self._owner.write_text(f"process {os.getpid()} on {socket.gethostname()} since {stamp}\n",
                                   encoding="utf-8")
        except OSError:
            pass            # the owner note is only for messages
        return True

    def holder(self) -> str:
        """Who holds the lock, as the holder wrote it (or 'another process')."""
        try:
            return self._owner.read_text(encoding="utf-8").strip() or "another process"
        except OSError:
            return "another process"

    @property
    def held(self) -> bool:
        return self._lock.is_locked

    def release(self) -> None:
        if self._lock.is_locked:
            self._lock.release(force=True)
