"""Start, find and stop ``metst train`` processes for the training panel (no science, no widgets).

The run is a separate OS process, never a thread of the GUI. It is started with
``subprocess.Popen`` in its own session rather than a ``QProcess``: a QProcess kills its
child when it is destroyed (so a run could not outlive the app), and PySide6's detached
start cannot both redirect the output and report the pid. Output goes to ``RUN_DIR/train.log``
and ``RUN_DIR/.metst-train.json`` records the pid and command, so another app instance can
re-attach to the run, follow it and stop it. Stopping sends SIGTERM: ``metst train`` then
stops at the next batch, keeps its finished folds and exits with code 4.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LOG_FILE = "train.log"
LAUNCH_RECORD = ".metst-train.json"
EXIT_CANCELLED = 4          #: metst train's exit code when stopped on request (metst_engine.cli)


@dataclass
class LaunchSettings:
    """The ``metst train`` options the panel offers; None means the CLI's (model's) default."""

    dataset: str
    run_dir: str
    model: str = "metst"
    rois: str | None = None
    window: int = 50
    skip: int | None = None
    epochs: int | None = None
    lr: float | None = None
    batch: int = 256
    ratio: float = 4.0
    synergy: bool = True
    strategy: str = "spotting_mainly"
    alignment: str = "public"
    videos: str = "all"                         #: a project's own data: videos without MEs are evidence too
    recog_classes: list[str] | None = None
    seed: int = 0
    redraw: str = "epoch"
    threads: int = 1
    final: bool = True
    model_overrides: dict[str, Any] = field(default_factory=dict)
    executor: str = "local"                     #: local | ray
    ray_address: str | None = None
    device: str = "auto"

    @classmethod
    def from_run_config(cls, run_dir: str | Path, config: dict[str, Any]) -> LaunchSettings:
        """The settings a run folder's config.json was made with (to resume it)."""
        names = set(cls.__dataclass_fields__) - {"run_dir", "executor", "ray_address"}
        kept = {k: v for k, v in config.items() if k in names}
        return cls(run_dir=str(run_dir), **kept)


def metst_command() -> list[str]:
    """argv prefix that runs the ``metst`` CLI of this very install: this interpreter with ``-m``, or in the
    PyInstaller folder (where sys.executable is ``metst-gui``) the ``metst`` executable beside it."""
    if getattr(sys, "frozen", False):
        return [str(Path(sys.executable).with_name("metst"))]
    return [sys.executable, "-m", "metst_engine.cli"]


def train_command(settings: LaunchSettings, resume: bool = False) -> list[str]:
    """argv of ``metst train`` for ``settings``, run by this install's CLI (so the same code and venv)."""
    s = settings
    cmd = [*metst_command(), "train", "--dataset", str(s.dataset), "--model", s.model, "--loso",
           "-o", str(s.run_dir), "--window", str(s.window), "--batch", str(s.batch), "--ratio", repr(float(s.ratio)),
           "--strategy", s.strategy, "--seed", str(s.seed), "--redraw", s.redraw, "--threads", str(s.threads), "--device", s.device,
           "--alignment", s.alignment, "--videos", s.videos, "--synergy" if s.synergy else "--no-synergy"]
    if s.rois:
        cmd += ["--rois", s.rois]
    if s.skip is not None:
        cmd += ["--skip", str(s.skip)]
    if s.epochs is not None:
        cmd += ["--epochs", str(s.epochs)]
    if s.lr is not None:
        cmd += ["--lr", repr(float(s.lr))]
    if s.recog_classes:
        cmd += ["--recog-classes", *s.recog_classes]
    if not s.final:
        cmd.append("--no-final")
    if s.model_overrides:
        cmd += ["--model-overrides", json.dumps(s.model_overrides)]
    if s.executor != "local" or s.ray_address:
        cmd += ["--executor", s.executor]
        if s.ray_address:
            cmd += ["--ray-address", s.ray_address]
    if resume:
        cmd.append("--resume")
    return cmd


def launch(command: list[str], run_dir: str | Path) -> subprocess.Popen:
    """Start ``command`` in its own session, output appended to RUN_DIR/train.log; record its pid."""
    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, Any] = {}
    if os.name == "nt":
        kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP   # type: ignore[attr-defined]
    else:
        kwargs["start_new_session"] = True       # Ctrl-C in the GUI's terminal does not reach the run
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(run / LOG_FILE, "a", encoding="utf-8") as log:     # the child keeps its own copy of the handle
        log.write(f"$ {' '.join(command)}\n")
        log.flush()
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                                **kwargs)
    record = {"pid": proc.pid, "command": command, "started": time.time()}
    (run / LAUNCH_RECORD).write_text(json.dumps(record), encoding="utf-8")
    return proc


def read_launch_record(run_dir: str | Path) -> dict[str, Any] | None:
    """pid, command and start time of the last run the panel launched in ``run_dir`` (None if none)."""
    try:
        return json.loads((Path(run_dir) / LAUNCH_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


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
        except OSError:
            return False
        return b"metst" in text and b"train" in text
    return True


def request_stop(pid: int) -> None:
    """Ask the run to stop at its next safe point (SIGTERM; on Windows this terminates it)."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass


__all__ = ["EXIT_CANCELLED", "LAUNCH_RECORD", "LOG_FILE", "LaunchSettings", "launch", "process_alive",
           "read_launch_record", "request_stop", "train_command"]
