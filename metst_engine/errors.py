"""One exception family for bad inputs, so every front end reports them the same way.

Each error names the file (or folder) at fault and says what is wrong with it; the
CLI prints ``error: <path>: <problem>`` and exits non-zero.
"""

from __future__ import annotations

from pathlib import Path


class MetstError(Exception):
    """Base of every error the engine raises on purpose (never a bug)."""


class InputError(MetstError):
    """A file the user gave us cannot be used; names the file and the problem."""

    def __init__(self, path: str | Path | None, problem: str):
        self.path = None if path is None else Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}" if path is not None else problem)


class VideoError(InputError):
    """A video file or frame folder is missing, unreadable, truncated or inconsistent."""

    def __init__(self, path: str | Path | None, problem: str, usable_frames: int | None = None):
        self.usable_frames = usable_frames
        super().__init__(path, problem)


class FaceNotFoundError(InputError):
    """No face could be found where one was needed."""


class CheckpointError(InputError):
    """A checkpoint is unreadable, unsafe, or does not fit the data it is used with."""


class DatasetError(InputError):
    """A label sheet, manifest or dataset folder is malformed (names sheet, row, column)."""


class ProjectError(InputError):
    """A project folder or its database cannot be used as asked (names the file)."""


class ProjectLockedError(ProjectError):
    """Another process has the project open for editing."""


class ReadOnlyError(ProjectError):
    """An edit was asked of a project opened read-only."""


class EditConflictError(ProjectError):
    """An undo/redo or edit found the row changed since (nothing was written)."""


class PendingIntervalsError(ProjectError):
    """A video's review cannot be marked complete while intervals of it are still pending:
    each would become "no expression" in the training labels. Carries their ids."""

    def __init__(self, path: str | Path | None, video: str, interval_ids: tuple[int, ...], fix: str):
        self.video = video
        self.interval_ids = tuple(interval_ids)
        shown = ", ".join(map(str, self.interval_ids[:10])) + (" ..." if len(self.interval_ids) > 10 else "")
        super().__init__(path, f"video {video!r} still has {self.count} pending interval(s) (ids {shown}); "
                               f"a pending interval would count as 'no expression' once the review is complete: "
                               f"{fix}")

    @property
    def count(self) -> int:
        return len(self.interval_ids)


class Cancelled(MetstError):
    """Long work stopped because the caller asked it to; nothing partial was written."""


class UsageError(MetstError):
    """The command line asks for something impossible (exit code 2)."""
