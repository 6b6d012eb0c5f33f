"""The file dialogs and the one-message error box of the first-run path, in one place.

Tests replace :func:`choose_folder` and :func:`choose_videos` (``monkeypatch.setattr``) to
return paths, and drive everything else with real events; :func:`show_error` opens a
window-modal box without blocking, so a test (or the user) closes it like any other.
"""

from __future__ import annotations

from pathlib import Path

from PySide6 import QtCore, QtWidgets

from metst_engine.project.videos import VIDEO_SUFFIXES

VIDEO_FILTER = "Videos ({});;All files (*)".format(" ".join(f"*{s}" for s in sorted(VIDEO_SUFFIXES)))


def choose_folder(parent: QtWidgets.QWidget | None, title: str, start: str | Path = "") -> Path | None:
    """A folder the user picks, or None when cancelled."""
    path = QtWidgets.QFileDialog.getExistingDirectory(parent, title, str(start))
    return Path(path) if path else None


def choose_videos(parent: QtWidgets.QWidget | None, start: str | Path = "") -> list[Path]:
    """Video files the user picks (several at once), empty when cancelled."""
    paths, _ = QtWidgets.QFileDialog.getOpenFileNames(parent, "Add videos", str(start), VIDEO_FILTER)
    return [Path(p) for p in paths]


def show_error(parent: QtWidgets.QWidget | None, title: str, text: str) -> QtWidgets.QMessageBox:
    """One clear message (what happened to which file, and what to do), shown without blocking."""
    box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.Warning, title, text,
                                QtWidgets.QMessageBox.StandardButton.Ok, parent)
    box.setObjectName("errorBox")
    box.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box
