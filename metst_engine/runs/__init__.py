"""Training run folders: settings (``TrainConfig``), the folder's files (``RunFolder``), following
a run (``ProgressState``, ``RunFollower``) and the ``metst train`` process (``launch``, stop, liveness).

Torch-free at import; the CLI, the GUI's training panel and the main window only call it.
"""

from .config import TrainConfig, add_arguments
from .folder import RunFolder
from .process import EXIT_CANCELLED, TrainLaunch, launch, metst_command, process_alive, request_stop
from .progress import ProgressState, RunFollower, TrainingProgress, Update

__all__ = ["EXIT_CANCELLED", "ProgressState", "RunFolder", "RunFollower", "TrainConfig", "TrainLaunch",
           "TrainingProgress", "Update", "add_arguments", "launch", "metst_command", "process_alive", "request_stop"]
