"""Recently opened projects, newest first, kept in QSettings (``recent/projects``)."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6 import QtCore

from metst_engine.project import DB_NAME

KEY = "recent/projects"
MAX_RECENT = 10


class RecentProjects:
    def __init__(self, settings: QtCore.QSettings) -> None:
        self.settings = settings

    def paths(self) -> list[Path]:
        value = self.settings.value(KEY) or []
        if isinstance(value, str):          # QSettings gives a one-element list back as a string
            value = [value]
        return [Path(v) for v in value]

    def add(self, folder: Path) -> None:
        """Put ``folder`` first (once)."""
        folder = Path(os.path.abspath(folder))
        self._store([folder] + [p for p in self.paths() if p != folder])

    def remove(self, folder: Path) -> None:
        self._store([p for p in self.paths() if p != Path(os.path.abspath(folder))])

    def prune(self) -> list[Path]:
        """Forget the projects that are gone (folder moved or deleted); returns them."""
        gone = [p for p in self.paths() if not (p / DB_NAME).is_file()]
        if gone:
            self._store([p for p in self.paths() if p not in gone])
        return gone

    def _store(self, paths: list[Path]) -> None:
        self.settings.setValue(KEY, [str(p) for p in paths[:MAX_RECENT]])
        self.settings.sync()
