"""The demo project ``metst-gui --demo`` opens: synthetic faces with ground truth, predictions and curves.

Built once (synthetic videos, the dataset's labels imported as a second annotator
"dataset", the model-free spotter's intervals as a pending prediction run, curves
registered in ``cache/``); a later launch finds ``project.sqlite`` and opens it at once.
No Qt here: the build is plain engine calls, so tests and scripts can use it too.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from metst_engine.analysis import analyze_into_project
from metst_engine.project import DB_NAME, Project
from metst_engine.spotting import BaselineSpotter

GROUND_TRUTH_ANNOTATOR = "dataset"
DEMO_SUBJECTS = 3
DEMO_SECONDS = 8.0


def default_demo_dir() -> Path:
    """``$METST_DEMO_DIR`` or the user's data folder (``~/.local/share/metst/demo-project``)."""
    env = os.environ.get("METST_DEMO_DIR")
    if env:
        return Path(env)
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "metst" / "demo-project"


def ensure_demo_project(folder: str | Path | None = None, *, subjects: int = DEMO_SUBJECTS,
                        seconds: float = DEMO_SECONDS, annotator: str | None = None,
                        progress: Callable[[str], None] | None = None) -> Path:
    """The demo project folder, built first if it holds no project yet."""
    from metst_engine.synth import SynthConfig, generate

    folder = Path(folder) if folder is not None else default_demo_dir()
    if (folder / DB_NAME).is_file():
        return folder
    say = progress or (lambda _msg: None)
    say("generating synthetic videos")
    config = SynthConfig(subjects=subjects, videos_per_subject=1, seconds=seconds, me_per_minute=30.0,
                         macro_per_minute=4.0, blink_per_minute=10.0, seed=0)
    building = folder.with_name(folder.name + ".building")
    shutil.rmtree(building, ignore_errors=True)      # what an interrupted build left
    dataset = generate(building / "videos", config)
    with Project.create(building, annotator=annotator) as project:
        for entry in dataset.videos:
            project.add_video(entry.path, entry.subject, entry.video)
        project.import_ground_truth(dataset, annotator=GROUND_TRUTH_ANNOTATOR)
        spotter = BaselineSpotter()
        for i, entry in enumerate(dataset.videos):         # one run per video, as a user's Analyze of each
            say(f"spotting {entry.video} ({i + 1}/{len(dataset.videos)})")
            analyze_into_project(project, [entry.video], spotter)
    if folder.exists():
        folder.rmdir()                  # an empty leftover; a non-empty folder raises instead of being replaced
    building.rename(folder)             # the project appears whole or not at all
    return folder
