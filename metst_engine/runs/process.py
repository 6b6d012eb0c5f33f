"""Start, find and stop ``metst train`` processes (no Qt: subprocess and the run folder's pid record).

The run is a separate OS process in its own session, so it can outlive the app that started
it. Output goes to ``RUN_DIR/train.log`` and ``RUN_DIR/.metst-train.json`` records the pid and
command, so another app instance can re-attach to the run, follow it and stop it. Stopping
sends SIGTERM: ``metst train`` then stops at the next batch, keeps its finished folds and
exits with :data:`EXIT_CANCELLED`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import TrainConfig
from .folder import RunFolder

#: Exit code of a ``metst`` verb stopped on request (SIGTERM / SIGINT) at a safe point.
EXIT_CANCELLED = 4
EXECUTORS = ("local", "ray")


def metst_command() -> list[str]:
    """argv prefix that runs the ``metst`` CLI of this very install: this interpreter with ``-m``, or in the
    PyInstaller folder (where sys.executable is ``metst-gui``) the ``metst`` executable beside it."""
    if getattr(sys, "frozen", False):
        return [str(Path(sys.executable).with_name("metst"))]
    return [sys.executable, "-m", "metst_engine.cli"]


@dataclass
class TrainLaunch:
    """A ``metst train`` run to start: its settings, its folder and where its folds run."""

    config: TrainConfig
    run_dir: str
    executor: str = "local"                     #: local | ray
    ray_address: str | None = None

    def __post_init__(self) -> None:
        if self.executor not in EXECUTORS:
            raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}, got {self.executor!r}")

    @classmethod
    def of_run(cls, run_dir: str | Path, executor: str = "local", ray_address: str | None = None) -> TrainLaunch:
        """The launch that continues the run in ``run_dir`` with the settings it was made with."""
        return cls(RunFolder(run_dir).train_config(), str(run_dir), executor, ray_address)

    def command(self, resume: bool = False) -> list[str]:
        """argv of ``metst train``, run by this install's CLI (the same code and venv)."""
        cmd = [*metst_command(), "train", "--loso", "-o", str(self.run_dir), *self.config.to_argv()]
        if self.executor != "local" or self.ray_address:
            cmd += ["--executor", self.executor]
            if self.ray_address:
                cmd += ["--ray-address", self.ray_address]
        if resume:
            cmd.append("--resume")
        return cmd

    def start(self, resume: bool = False) -> subprocess.Popen:
        """Start the run (see ``launch``)."""
        return launch(self.command(resume), self.run_dir)


def launch(command: list[str], run_dir: str | Path) -> subprocess.Popen:
    """Start ``command`` in its own session, output appended to RUN_DIR/train.log; record its pid."""
    folder = RunFolder(run_dir)
    folder.path.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, Any] = {}
    if os.name == "nt":
        kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP   # type: ignore[attr-defined]
    else:
        kwargs["start_new_session"] = True       # Ctrl-C in the app's terminal does not reach the run
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(folder.log_file, "a", encoding="utf-8") as log:     # the child keeps its own copy of the handle
        log.write(f"$ {' '.join(command)}\n")
        log.flush()
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                                **kwargs)
    folder.write_launch_record({"pid": proc.pid, "command": command, "started": time.time()})
    return proc


def process_alive(pid: int) -> bool:
    """Whether ``pid`` is a live ``metst`` process (on Linux its command line is checked too, so a
    recycled pid of another program does not count)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists():
        try:
            text = cmdline.read_bytes()
            if not text:                    # a zombie, or a child between fork and exec (just launched)
                return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] not in ("Z", "X")
        except (OSError, IndexError):
            return False
        return b"metst" in text and b"train" in text
    return True


def request_stop(pid: int) -> None:
    """Ask the run to stop at its next safe point (SIGTERM; on Windows this terminates it)."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass


__all__ = ["EXECUTORS", "EXIT_CANCELLED", "TrainLaunch", "launch", "metst_command", "process_alive",
           "request_stop"]
