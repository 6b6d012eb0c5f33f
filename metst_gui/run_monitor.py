"""Follow a training run through its folder: ``progress.jsonl`` events and ``train.log`` lines.

The panel never talks to the training process directly; it reads what the run writes.
The same code therefore follows a run it started and re-attaches to one that outlived an
earlier app (or was started from a terminal). ``ProgressState`` turns events into what the
progress bars show (no Qt); ``RunMonitor`` tails the files (QFileSystemWatcher for prompt
updates, a QTimer as the fallback) and watches whether the process is still alive.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6 import QtCore

from .train_process import EXIT_CANCELLED, LOG_FILE, process_alive, read_launch_record

PROGRESS_FILE = "progress.jsonl"


@dataclass
class TrainingProgress:
    """One training (a fold, or the final model) as its events describe it."""

    name: str
    epochs: int = 0                 #: total epochs (known from the first epoch event)
    epoch: int = 0                  #: last finished epoch
    losses: list[float] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)
    done: bool = False
    skipped: bool = False           #: finished by an earlier attempt (resume)


class ProgressState:
    """Folds ``metst train`` events into per-fold progress, loss history and time estimates."""

    def __init__(self, subjects: list[str] | None = None, final: bool = True) -> None:
        self.subjects = list(subjects or [])
        self.final = final
        self.trainings: dict[str, TrainingProgress] = {}
        self.current: str | None = None
        self.run_ended = False
        self.attempts = 0
        self.fold_overheads: list[float] = []    #: fold seconds not spent in epochs (predict, score, save)

    @property
    def names(self) -> list[str]:
        """Every training of the run in order: the folds, then "final"."""
        return self.subjects + (["final"] if self.final else [])

    def _training(self, name: str) -> TrainingProgress:
        return self.trainings.setdefault(name, TrainingProgress(name))

    def apply(self, event: dict[str, Any]) -> None:
        kind, fold = event.get("event"), event.get("fold")
        if kind == "run_start":
            self.attempts += 1
            self.run_ended = False
            if event.get("subjects"):
                self.subjects = list(event["subjects"])
            for t in self.trainings.values():      # a fold cut by a cancel starts again from scratch
                if not t.done:
                    t.epoch, t.losses, t.epoch_seconds = 0, [], []
            self.current = None
        elif kind in ("fold_start", "final_start") and fold:
            t = self._training(fold)
            t.epoch, t.losses, t.epoch_seconds, t.done = 0, [], [], False
            self.current = fold
        elif kind == "epoch" and fold:
            t = self._training(fold)
            t.epoch = int(event.get("epoch") or 0)
            t.epochs = int(event.get("epochs") or t.epochs)
            t.losses.append(float((event.get("losses") or {}).get("loss", float("nan"))))
            t.epoch_seconds.append(float(event.get("seconds") or 0.0))
        elif kind in ("fold_end", "final_end") and fold:
            t = self._training(fold)
            t.done = True
            if event.get("seconds") is not None:
                self.fold_overheads.append(max(0.0, float(event["seconds"]) - sum(t.epoch_seconds)))
            if self.current == fold:
                self.current = None
        elif kind == "fold_skipped" and fold:
            t = self._training(fold)
            t.done = t.skipped = True
        elif kind == "run_end":
            self.run_ended = True
            self.current = None

    # ------------------------------------------------------------------ what the bars show
    def trainings_done(self) -> int:
        return sum(1 for n in self.names if n in self.trainings and self.trainings[n].done)

    def mean_epoch_seconds(self) -> float | None:
        secs = [s for t in self.trainings.values() for s in t.epoch_seconds[1:]]   # first epochs pay for JIT
        secs = secs or [s for t in self.trainings.values() for s in t.epoch_seconds]
        return sum(secs) / len(secs) if secs else None

    def epochs_per_training(self) -> int:
        return max((t.epochs for t in self.trainings.values()), default=0)

    def current_eta(self) -> float | None:
        """Seconds left in the training in flight."""
        if self.current is None:
            return None
        t, per = self.trainings[self.current], self.mean_epoch_seconds()
        if per is None or not t.epochs:
            return None
        return (t.epochs - t.epoch) * per

    def run_eta(self) -> float | None:
        """Seconds left in the whole run (the training in flight plus those not started)."""
        if self.run_ended:
            return 0.0
        per, epochs = self.mean_epoch_seconds(), self.epochs_per_training()
        if per is None or not epochs:
            return None
        overhead = sum(self.fold_overheads) / len(self.fold_overheads) if self.fold_overheads else 0.0
        waiting = [n for n in self.names if not (n in self.trainings and self.trainings[n].done) and n != self.current]
        return (self.current_eta() or 0.0) + len(waiting) * (epochs * per + overhead)


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "estimating…"
    s = round(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class _Tail:
    """New complete lines of a growing text file (a half-written last line waits for its newline)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.partial = b""

    def read_lines(self) -> list[str]:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except OSError:
            return []
        self.offset += len(data)
        chunks = (self.partial + data).split(b"\n")
        self.partial = chunks.pop()
        return [c.decode("utf-8", errors="replace").rstrip("\r") for c in chunks]


class RunMonitor(QtCore.QObject):
    """Tails a run folder and reports events, log lines and the end of the process.

    ``process``: the Popen of a run this app started (its exit code is then known);
    without it (re-attach) the pid in the launch record tells whether the run is alive.
    """

    event_received = QtCore.Signal(object)      # dict from progress.jsonl
    log_line = QtCore.Signal(str)
    ended = QtCore.Signal(str, str)             # outcome (finished | cancelled | failed | stopped), message

    def __init__(self, run_dir: str | Path, process: subprocess.Popen | None = None, poll_ms: int = 200,
                 parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.run_dir = Path(run_dir)
        self.process = process
        self.state = ProgressState()
        self._events = _Tail(self.run_dir / PROGRESS_FILE)
        self._log = _Tail(self.run_dir / LOG_FILE)
        self._last_error = ""
        self._cancel_seen = False
        self.outcome: str | None = None
        self._read_config()
        self._watcher = QtCore.QFileSystemWatcher(self)
        self._watcher.directoryChanged.connect(self.poll)
        self._watcher.fileChanged.connect(self.poll)
        self._timer = QtCore.QTimer(self)
        self._timer.setInterval(poll_ms)
        self._timer.timeout.connect(self.poll)

    def _read_config(self) -> None:
        try:
            cfg = json.loads((self.run_dir / "config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        self.state.subjects = self.state.subjects or list(cfg.get("subjects", []))
        self.state.final = bool(cfg.get("config", {}).get("final", True))

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

    def pid(self) -> int | None:
        if self.process is not None:
            return self.process.pid
        record = read_launch_record(self.run_dir)
        return int(record["pid"]) if record else None

    def is_alive(self) -> bool | None:
        """True / False, or None for a run with no known process (started elsewhere)."""
        if self.process is not None:
            return self.process.poll() is None
        pid = self.pid()
        return None if pid is None else process_alive(pid)

    def _watch(self) -> None:
        wanted = [str(p) for p in (self.run_dir, self._events.path, self._log.path) if p.exists()]
        missing = [p for p in wanted if p not in self._watcher.files() + self._watcher.directories()]
        if missing:
            self._watcher.addPaths(missing)

    @QtCore.Slot()
    def poll(self) -> None:
        """Deliver new lines; when the process is gone, deliver the rest and report how it ended."""
        if self.outcome is not None:
            return
        alive = self.is_alive()
        self._watch()
        if not self.state.subjects:
            self._read_config()
        self._drain()
        if self.state.run_ended and alive is not True:
            self._finish("finished", "run finished")
        elif alive is False:
            self._drain()
            if self.state.run_ended:
                self._finish("finished", "run finished")
                return
            code = self.process.returncode if self.process is not None else None
            if code == EXIT_CANCELLED or (code is None and self._cancel_seen):
                self._finish("cancelled", self._last_error or "cancelled")
            elif code is None and not self._last_error:
                self._finish("stopped", "the training process is gone (killed, or the machine restarted)")
            else:
                self._finish("failed", self._last_error or f"metst train exited with code {code}")

    def _drain(self) -> None:
        for line in self._events.read_lines():
            if not line.strip():
                continue
            try:
                event = json.loads(line)
            except ValueError:
                continue
            self.state.apply(event)
            self.event_received.emit(event)
        for line in self._log.read_lines():
            if line.startswith("$ "):              # a new attempt (resume) starts: earlier errors are history
                self._last_error, self._cancel_seen = "", False
            elif line.startswith("error:"):
                self._last_error = line
                self._cancel_seen = self._cancel_seen or "cancelled" in line
            self.log_line.emit(line)

    def _finish(self, outcome: str, message: str) -> None:
        self.outcome = outcome
        self.stop()
        self.ended.emit(outcome, message)


__all__ = ["PROGRESS_FILE", "ProgressState", "RunMonitor", "TrainingProgress", "format_seconds"]
