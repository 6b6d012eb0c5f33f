"""Follow a training run through its folder (no Qt): ``progress.jsonl`` events become progress
and time left (``ProgressState``); ``RunFollower`` tails the events and ``train.log`` and tells
how the run ended once its process is gone.

Front ends never talk to the training process; they read what the run writes. The same code
therefore follows a run it started and re-attaches to one that outlived an earlier app (or
was started from a terminal).
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .folder import RunFolder
from .process import EXIT_CANCELLED, process_alive


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


class LineTail:
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


@dataclass
class Update:
    """What one ``RunFollower.poll`` found: new events, new log lines and, once, how the run ended."""

    events: list[dict[str, Any]] = field(default_factory=list)
    log_lines: list[str] = field(default_factory=list)
    ended: tuple[str, str] | None = None        #: (finished | cancelled | failed | stopped, message)


class RunFollower:
    """Tails a run folder and tells when and how the run ended.

    ``process``: the Popen of a run this app started (its exit code is then known);
    without it (re-attach) the pid in the launch record tells whether the run is alive.
    """

    def __init__(self, run_dir: str | Path, process: subprocess.Popen | None = None) -> None:
        self.folder = RunFolder(run_dir)
        self.process = process
        self.state = ProgressState()
        self.outcome: str | None = None
        self._events = LineTail(self.folder.progress_file)
        self._log = LineTail(self.folder.log_file)
        self._last_error = ""
        self._cancel_seen = False
        self._read_config()

    def _read_config(self) -> None:
        settings = self.folder.settings_or_none()
        if settings is None:
            return
        self.state.subjects = self.state.subjects or list(settings.get("subjects", []))
        self.state.final = bool(settings.get("config", {}).get("final", True))

    def pid(self) -> int | None:
        if self.process is not None:
            return self.process.pid
        return self.folder.launched_pid()

    def is_alive(self) -> bool | None:
        """True / False, or None for a run with no known process (started elsewhere)."""
        if self.process is not None:
            return self.process.poll() is None
        pid = self.pid()
        return None if pid is None else process_alive(pid)

    def poll(self) -> Update:
        """New lines; when the process is gone, the rest and how the run ended (then nothing more)."""
        update = Update()
        if self.outcome is not None:
            return update
        alive = self.is_alive()
        if not self.state.subjects:
            self._read_config()
        self._drain(update)
        if self.state.run_ended and alive is not True:
            update.ended = ("finished", "run finished")
        elif alive is False:
            self._drain(update)
            update.ended = self._how_it_ended()
        if update.ended is not None:
            self.outcome = update.ended[0]
        return update

    def _how_it_ended(self) -> tuple[str, str]:
        if self.state.run_ended:
            return "finished", "run finished"
        code = self.process.returncode if self.process is not None else None
        if code == EXIT_CANCELLED or (code is None and self._cancel_seen):
            return "cancelled", self._last_error or "cancelled"
        if code is None and not self._last_error:
            return "stopped", "the training process is gone (killed, or the machine restarted)"
        return "failed", self._last_error or f"metst train exited with code {code}"

    def _drain(self, update: Update) -> None:
        for line in self._events.read_lines():
            if not line.strip():
                continue
            try:
                event = json.loads(line)
            except ValueError:
                continue
            self.state.apply(event)
            update.events.append(event)
        for line in self._log.read_lines():
            if line.startswith("$ "):              # a new attempt (resume) starts: earlier errors are history
                self._last_error, self._cancel_seen = "", False
            elif line.startswith("error:"):
                self._last_error = line
                self._cancel_seen = self._cancel_seen or "cancelled" in line
            update.log_lines.append(line)


__all__ = ["LineTail", "ProgressState", "RunFollower", "TrainingProgress", "Update"]
