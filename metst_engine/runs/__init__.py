"""Training run folders: settings (``TrainConfig``), the folder's files (``RunFolder``), following
a run (``ProgressState``, ``RunFollower``), past runs (``find_runs``) and the ``metst train`` process (``launch``, stop, liveness).

Torch-free at import; the CLI, the GUI's training panel and the main window only call it.
"""

from .config import TrainConfig, add_arguments, config_defaults, parse_model_overrides
from .folder import RUNS_FOLDER, RunFolder, run_folder_name
from .history import RunSummary, find_runs, project_runs_folder, summarize_run
from .process import EXIT_CANCELLED, TrainLaunch, launch, metst_command, process_alive, request_stop
from .progress import ProgressState, RunFollower, TrainingProgress, Update

__all__ = ["EXIT_CANCELLED", "RUNS_FOLDER", "ProgressState", "RunFolder", "RunFollower", "RunSummary", "TrainConfig",
           "TrainLaunch", "TrainingProgress", "Update", "add_arguments", "config_defaults", "find_runs", "launch",
           "metst_command", "parse_model_overrides", "process_alive", "project_runs_folder", "request_stop",
           "run_folder_name", "summarize_run"]
