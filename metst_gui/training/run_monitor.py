"""Follow a training run in the GUI: Qt signals over the engine's ``RunFollower``.

The engine (``metst_engine.runs``) reads the run folder and tells how the run ended; this
adapter only polls it (QFileSystemWatcher for prompt updates, a QTimer as the fallback) and
re-emits what it found.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from PySide6 import QtCore

from metst_engine.runs import ProgressState, RunFollower


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "estimating…"
    s = round(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class RunMonitor(QtCore.QObject):
    """Tails a run folder and reports events, log lines and the end of the process."""

    event_received = QtCore.Signal(object)      # one progress event (dict) of the run
    log_line = QtCore.Signal(str)
    ended = QtCore.Signal(str, str)             # outcome (finished | cancelled | failed | stopped), message

    def __init__(self, run_dir: str | Path, process: subprocess.Popen | None = None, poll_ms: int = 200,
                 parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.follower = RunFollower(run_dir, process)
        self.run_dir = self.follower.folder.path
        self._watcher = QtCore.QFileSystemWatcher(self)
        self._watcher.directoryChanged.connect(self.poll)
        self._watcher.fileChanged.connect(self.poll)
        self._timer = QtCore.QTimer(self)
        self._timer.setInterval(poll_ms)
        self._timer.timeout.connect(self.poll)

    @property
    def state(self) -> ProgressState:
        return self.follower.state

    @property
    def process(self) -> subprocess.Popen | None:
        return self.follower.process

    @property
    def outcome(self) -> str | None:
        return self.follower.outcome

    def pid(self) -> int | None:
        return self.follower.pid()

    def is_alive(self) -> bool | None:
        return self.follower.is_alive()

    def start(self) -> None:
        """Read everything written so far, then follow."""
        self.poll()
        if self.outcome is None:
            self._timer.start()

    def stop(self) -> None:
        self._timer.stop()
        paths = self._watcher.files() + self._watcher.directories()
        if paths:
            self._watcher.removePaths(paths)

    def _watch(self) -> None:
        folder = self.follower.folder
        wanted = [str(p) for p in (folder.path, folder.progress_file, folder.log_file) if p.exists()]
        missing = [p for p in wanted if p not in self._watcher.files() + self._watcher.directories()]
        if missing:
            self._watcher.addPaths(missing)

    @QtCore.Slot()
    def poll(self) -> None:
        """Deliver new lines; when the process is gone, deliver the rest and report how it ended."""
        if self.outcome is not None:
            return
        self._watch()
        update = self.follower.poll()
        if update.ended is not None:
            self.stop()
        for event in update.events:
            self.event_received.emit(event)
        for line in update.log_lines:
            self.log_line.emit(line)
        if update.ended is not None:
            self.ended.emit(*update.ended)


__all__ = ["RunMonitor", "format_seconds"]
