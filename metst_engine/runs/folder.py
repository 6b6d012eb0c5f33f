"""``RunFolder``: every path and file of a training run folder, read and written in one place.

Layout (docs/training.md)::

    RUN_DIR/config.json            resolved TrainConfig + threads, subjects, version (written first)
    RUN_DIR/progress.jsonl         one JSON event per line (event, fold, epoch, losses, metrics, time)
    RUN_DIR/folds/<subject>/model.safetensors, predictions.csv, metrics.json (written last)
    RUN_DIR/final/model.safetensors   trained on all subjects ("use this model"), unless final=False
    RUN_DIR/metrics.json           pooled MEGC metrics of all folds + per-subject rows (written last)
    RUN_DIR/train.log              output of a ``metst train`` process started by ``runs.process``
    RUN_DIR/.metst-train.json      its pid, command and start time (to re-attach and stop it)
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from ..atomic import atomic_path
from ..errors import InputError
from ..intervals import Interval
from ..intervals_io import write_predictions
from ..safe_paths import id_path
from .config import TrainConfig

CONFIG_FILE = "config.json"
PROGRESS_FILE = "progress.jsonl"
METRICS_FILE = "metrics.json"
LOG_FILE = "train.log"
LAUNCH_RECORD = ".metst-train.json"
MODEL_FILE = "model.safetensors"
PREDICTIONS_FILE = "predictions.csv"
#: Where a project keeps its training runs: ``<project>/runs/<date>-<model>-<labels>``.
RUNS_FOLDER = "runs"


def run_folder_name(model: str, labels: str, day: datetime.date | None = None) -> str:
    """``2025-03-01-metst-reviewed-annotations``: the day, the model and the label source, in
    lower case with anything but letters and digits turned into single dashes."""
    day = day or datetime.date.today()
    slug = "-".join(p for p in (_slug(model), _slug(labels)) if p)
    return f"{day.isoformat()}-{slug}" if slug else day.isoformat()


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def write_json(path: Path, obj: Any) -> None:
    """``obj`` as indented, sorted JSON, replacing ``path`` atomically."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, indent=1, sort_keys=True)
        fh.write("\n")


def read_json(path: Path) -> Any:
    """``path`` parsed; InputError naming it when it cannot be read."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(path, f"cannot read: {exc}") from None


class RunFolder:
    """One run folder (it need not exist yet)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    @classmethod
    def create_new(cls, root: str | Path, model: str, labels: str, day: datetime.date | None = None) -> RunFolder:
        """A new, empty run folder in ``root`` named by :func:`run_folder_name`; ``-2``, ``-3``… is added
        when that name is taken (the folder is created here, so two launches never share one)."""
        root = Path(root)
        name = run_folder_name(model, labels, day)
        try:
            root.mkdir(parents=True, exist_ok=True)
            for n in range(1, 10_000):
                path = root / (name if n == 1 else f"{name}-{n}")
                try:
                    path.mkdir()
                except FileExistsError:
                    continue
                return cls(path)
        except OSError as exc:
            raise InputError(root, f"cannot create a run folder here: {exc}") from None
        raise InputError(root, f"too many run folders named {name}; remove some old runs")

    # ------------------------------------------------------------------ paths
    @property
    def config_file(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def progress_file(self) -> Path:
        return self.path / PROGRESS_FILE

    @property
    def metrics_file(self) -> Path:
        return self.path / METRICS_FILE

    @property
    def log_file(self) -> Path:
        return self.path / LOG_FILE

    @property
    def launch_record_file(self) -> Path:
        return self.path / LAUNCH_RECORD

    @property
    def final_checkpoint_file(self) -> Path:
        return self.path / "final" / MODEL_FILE

    def fold_dir(self, subject: str) -> Path:
        """``folds/<subject>/`` (InputError for a subject that would leave ``folds/``)."""
        return id_path(self.path / "folds", subject, what="subject")

    def fold_checkpoint(self, subject: str) -> Path:
        return self.fold_dir(subject) / MODEL_FILE

    def fold_predictions(self, subject: str) -> Path:
        return self.fold_dir(subject) / PREDICTIONS_FILE

    def fold_metrics_file(self, subject: str) -> Path:
        return self.fold_dir(subject) / METRICS_FILE

    # ------------------------------------------------------------------ state
    def is_run(self) -> bool:
        """A folder ``metst train`` has started (it writes config.json first)."""
        return self.config_file.is_file()

    def require_run(self) -> None:
        """Raise ``InputError`` naming the folder unless it holds a run."""
        if not self.is_run():
            raise InputError(self.path, f"not a training run folder (no {CONFIG_FILE}); choose the folder "
                                        "'metst train' or 'metst import-weights' wrote")

    def fold_done(self, subject: str) -> bool:
        """The fold's metrics.json, written last, exists."""
        return self.fold_metrics_file(subject).is_file()

    def finished(self) -> bool:
        """The pooled metrics.json, written last, exists."""
        return self.metrics_file.is_file()

    def final_checkpoint(self) -> Path | None:
        """``final/model.safetensors`` when it exists."""
        path = self.final_checkpoint_file
        return path if path.is_file() else None

    def fold_checkpoints(self) -> list[Path]:
        """Every fold's model file written so far, in name order."""
        return sorted((self.path / "folds").glob(f"*/{MODEL_FILE}"))

    # ------------------------------------------------------------------ reading
    def read_settings(self) -> dict[str, Any]:
        """config.json as written: {"config": TrainConfig dict, "subjects": [...], ...}."""
        data = read_json(self.config_file)
        if not isinstance(data, dict):
            raise InputError(self.config_file, "not a run's settings (not a JSON object)")
        return data

    def settings_or_none(self) -> dict[str, Any] | None:
        """config.json, or None when it is missing or unreadable."""
        try:
            return self.read_settings()
        except InputError:
            return None

    def train_config(self) -> TrainConfig:
        """The resolved TrainConfig the run was made with (to resume it or show its form); an
        ``InputError`` naming config.json when it holds no usable training settings."""
        settings = self.read_settings().get("config")
        try:
            if not isinstance(settings, dict):
                raise TypeError("no 'config' object")
            return TrainConfig.from_dict(settings)
        except (TypeError, ValueError) as exc:
            raise InputError(self.config_file, f"holds no usable training settings ({exc}); was this folder "
                                               "written by 'metst train'?") from None

    def read_metrics(self) -> dict[str, Any]:
        return read_json(self.metrics_file)

    def metrics_or_none(self) -> dict[str, Any] | None:
        try:
            return self.read_metrics()
        except InputError:
            return None

    def read_fold_metrics(self, subject: str) -> dict[str, Any]:
        return read_json(self.fold_metrics_file(subject))

    def read_launch_record(self) -> dict[str, Any] | None:
        """pid, command and start time of the last ``metst train`` launched here (None if none)."""
        try:
            return json.loads(self.launch_record_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def launched_pid(self) -> int | None:
        record = self.read_launch_record()
        return int(record["pid"]) if record else None

    # ------------------------------------------------------------------ writing
    def write_settings(self, settings: dict[str, Any]) -> None:
        write_json(self.config_file, settings)

    def write_metrics(self, metrics: dict[str, Any]) -> None:
        write_json(self.metrics_file, metrics)

    def open_progress(self) -> IO[str]:
        """progress.jsonl opened for appending events (the caller closes it)."""
        return open(self.progress_file, "a", encoding="utf-8")

    def write_fold(self, subject: str, checkpoint: bytes, predictions: Iterable[tuple[str, str, Interval]],
                   metrics: dict[str, Any]) -> Path:
        """``folds/<subject>/``: model, predictions, then ``metrics.json`` (it marks the fold complete)."""
        from ..models import write_checkpoint_bytes  # lazy: torch

        fold_dir = self.fold_dir(subject)
        write_checkpoint_bytes(fold_dir / MODEL_FILE, checkpoint)
        write_predictions(fold_dir / PREDICTIONS_FILE, predictions)
        write_json(fold_dir / METRICS_FILE, metrics)
        return fold_dir

    def write_final(self, checkpoint: bytes) -> Path:
        """``final/model.safetensors``."""
        from ..models import write_checkpoint_bytes  # lazy: torch

        return write_checkpoint_bytes(self.final_checkpoint_file, checkpoint)

    def write_launch_record(self, record: dict[str, Any]) -> None:
        self.launch_record_file.write_text(json.dumps(record), encoding="utf-8")


__all__ = ["CONFIG_FILE", "LAUNCH_RECORD", "LOG_FILE", "METRICS_FILE", "PROGRESS_FILE", "RUNS_FOLDER", "RunFolder",
           "read_json", "run_folder_name", "write_json"]
