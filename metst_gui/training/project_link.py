"""Between the project store and the training panel: label sources offered (those without labels yet
listed, disabled, with a hint), the project's runs folder and past runs, finished runs recorded."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from metst_engine.errors import MetstError
from metst_engine.project import Project
from metst_engine.runs import RunFolder, project_runs_folder
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
        self.refresh_runs()

    def refresh_label_sources(self) -> dict[str, Path]:
        """Write the store's training manifests into ``cache/training/``; every source is offered, those
        without labels yet disabled with a hint (how many videos are review-complete); the runs are listed
        again. Returns the usable sources."""
        sources: dict[str, Path | None] = {}
        hints: dict[str, str] = {}
        folder = self.project.cache_dir / "training"
        for name, (with_gt, reviewed) in LABEL_SOURCES.items():
            path = folder / (name.lower().replace(" + ", "_and_").replace(" ", "_") + ".csv")
            sources[name] = path
            try:
                if not self.project.read_only:
                    self.project.training_manifest(path, include_ground_truth=with_gt, reviewed=reviewed)
                elif not path.is_file():
                    sources[name] = None
            except MetstError as exc:
                sources[name] = None
                hints[name] = self._hint(reviewed, exc)
        self.panel.set_label_sources(sources, hints)
        self.refresh_runs()
        return {name: path for name, path in sources.items() if path is not None}

    def _hint(self, reviewed: bool, problem: MetstError) -> str:
        if not reviewed:
            return "no video has imported ground truth yet (import labels to use it)."
        videos = self.project.videos()
        complete = sum(v.complete for v in videos)
        if complete:
            return f"not available ({problem})."
        return (f"{complete} of {len(videos)} videos are review-complete. Completing a video's review "
                f"(Mark complete) makes its labels available for training.")

    def refresh_runs(self) -> None:
        """The project's runs folder for new runs, and its past runs: that folder and the runs recorded in the store."""
        recorded = [Path(r.params["run_dir"]) for r in self.project.runs()
                    if r.params.get("kind") == "training" and r.params.get("run_dir")]
        root = None if self.project.read_only else project_runs_folder(self.project.folder)
        self.panel.show_project_runs(root, [project_runs_folder(self.project.folder), *recorded])

    def record_training_run(self, run_dir: str, outcome: str) -> None:
        """Keep the finished run's checkpoint and parameters in the project (a run without intervals)."""
        if self.project.read_only or any(r.params.get("kind") == "training" and r.params.get("run_dir") == str(Path(run_dir))
                                         and r.params.get("outcome") == outcome for r in self.project.runs()):
            return                              # read-only, or this run (e.g. picked in "Past runs") is on record
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
        self.refresh_runs()
