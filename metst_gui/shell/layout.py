"""The main window's layout kept in QSettings: geometry, docks, the review splitter and the current tab."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets


def default_settings() -> QtCore.QSettings:
    return QtCore.QSettings("metst", "metst-gui")


class WindowLayout:
    """Saves and restores the keys ``window/geometry``, ``window/state``, ``window/splitter`` and ``window/tab``."""

    def __init__(self, settings: QtCore.QSettings, window: QtWidgets.QMainWindow, splitter: QtWidgets.QSplitter,
                 tabs: QtWidgets.QTabWidget) -> None:
        self.settings, self.window, self.splitter, self.tabs = settings, window, splitter, tabs

    def restore(self) -> None:
        geometry = self.settings.value("window/geometry")
        state = self.settings.value("window/state")
        splitter = self.settings.value("window/splitter")
        tab = self.settings.value("window/tab")
        if geometry is not None:
            self.window.restoreGeometry(geometry)
        if state is not None:
            self.window.restoreState(state)
        if splitter is not None:
            self.splitter.restoreState(splitter)
        if tab is not None:
            self.tabs.setCurrentIndex(int(tab))

    def save(self) -> None:
        self.settings.setValue("window/geometry", self.window.saveGeometry())
        self.settings.setValue("window/state", self.window.saveState())
        self.settings.setValue("window/splitter", self.splitter.saveState())
        self.settings.setValue("window/tab", self.tabs.currentIndex())
        self.settings.sync()
