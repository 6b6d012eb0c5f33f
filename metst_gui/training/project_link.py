"""Between the project store and the training panel: label sources offered, finished runs recorded."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from metst_engine.errors import MetstError
from metst_engine.project import Project
from metst_engine.runs import RunFolder
from metst_gui.training.training_panel import TrainingPanel

#: Label sources offered to the training panel: name -> (include_ground_truth, reviewed).
LABEL_SOURCES: dict[str, tuple[bool, bool]] = {
    "Reviewed annotations": (False, True),
    "Imported ground truth": (True, False),
    "Reviewed + ground truth": (True, True),
}


class TrainingLink:
    def __init__(self, project: Project, panel: TrainingPanel, say: Callable[..., None]) -> None:
        self.project, self.panel, self.say = project, panel, say
        panel.run_ended.connect(self.record_training_run)

    def refresh_label_sources(self) -> dict[str, Path]:
        """Write the store's training manifests into ``cache/training/`` and offer those that have labels."""
        sources: dict[str, Path] = {}
        folder = self.project.cache_dir / "training"
        for name, (with_gt, reviewed) in LABEL_SOURCES.items():
            path = folder / (name.lower().replace(" + ", "_and_").replace(" ", "_") + ".csv")
            try:
                if not self.project.read_only:
                    self.project.training_manifest(path, include_ground_truth=with_gt, reviewed=reviewed)
                elif not path.is_file():
                    continue
            except MetstError:
                continue
            sources[name] = path
        self.panel.set_label_sources(sources)
        return sources

    def record_training_run(self, run_dir: str, outcome: str) -> None:
        """Keep the finished run's checkpoint and parameters in the project (a run without intervals)."""
        if self.project.read_only:
            return
        folder = RunFolder(run_dir)
        run = folder.path
        checkpoint = folder.final_checkpoint()
        params: dict = {"kind": "training", "outcome": outcome, "run_dir": str(run),
                        "checkpoint": None if checkpoint is None else str(checkpoint)}
        for key, value in (("config", folder.settings_or_none()), ("metrics", folder.metrics_or_none())):
            if value is not None:
                params[key] = value
        try:
            record = self.project.record_run(f"trained model {run.name}", params, run)
        except MetstError as exc:
            self.say(f"could not record the training run: {exc}", 0)
            return
        self.say(f"training run {run.name} ({outcome}) recorded as run {record.id}")
