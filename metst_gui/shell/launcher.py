"""Opening projects without a terminal: the welcome view, New / Open / Open recent / the demo, one video.

:class:`Launcher` holds the app's top-level windows (a ``QObject``, not global state: ``app.main``
makes one). Every project window gets a File menu (:func:`add_file_menu`) and the project
actions (Add videos, drag and drop, the next-step banner); a problem (not a project folder,
read-only, locked, a vanished recent project) is one message naming the folder and what to do.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

import metst_gui.shell.main_window as main_window_module
from metst_engine.errors import MetstError
from metst_engine.project import DB_NAME, Project
from metst_gui.project import file_dialogs
from metst_gui.project.new_project_dialog import NewProjectDialog
from metst_gui.project.project_actions import ProjectActions
from metst_gui.project.recent import RecentProjects
from metst_gui.shell.welcome import WelcomeWindow

DEFAULT_LOCATION_KEY = "recent/location"


class Launcher(QtCore.QObject):
    def __init__(self, settings: QtCore.QSettings | None = None, *, annotator: str | None = None,
                 proxy: bool = True, read_only: bool | None = None, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.read_only = read_only
        self.settings = settings or main_window_module.default_settings()
        self.recent = RecentProjects(self.settings)
        self.annotator, self.proxy = annotator, proxy
        self.windows: list[QtWidgets.QMainWindow] = []
        self.error_box: QtWidgets.QMessageBox | None = None
        self.new_dialog: NewProjectDialog | None = None

    # ------------------------------------------------------------------ windows
    def _keep(self, window: QtWidgets.QMainWindow) -> None:
        window.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
        window.destroyed.connect(lambda _=None, w=window: self.windows.remove(w) if w in self.windows else None)
        self.windows.append(window)

    def show_welcome(self) -> QtWidgets.QMainWindow:
        gone = self.recent.prune()
        win = WelcomeWindow(self)
        add_file_menu(win, self)
        self._keep(win)
        win.show()
        if gone:
            win.statusBar().showMessage("No longer found, removed from the recent list: "
                                        + ", ".join(str(g) for g in gone), 0)
        return win

    def project_windows(self) -> list[main_window_module.MainWindow]:
        return [w for w in self.windows if isinstance(w, main_window_module.MainWindow)]

    def error(self, parent: QtWidgets.QWidget | None, text: str) -> None:
        self.error_box = file_dialogs.show_error(parent, "metst", text)

    # ------------------------------------------------------------------ opening
    def open_project(self, folder: Path, parent: QtWidgets.QWidget | None = None, *, raise_errors: bool = False
                     ) -> main_window_module.MainWindow | None:
        """A window on the project (the one already open when there is one); ``parent`` closes when it opens.
        A problem is shown in a message (or raised as MetstError with ``raise_errors``, for the command line)."""
        folder = Path(os.path.abspath(folder))
        for win in self.project_windows():
            if Path(os.path.abspath(win.project.folder)) == folder:
                win.raise_()
                win.activateWindow()
                return win
        try:
            project = Project.open(folder, annotator=self.annotator, read_only=self.read_only)
        except MetstError as exc:
            if raise_errors:
                raise
            self.error(parent, f"Cannot open {exc}.\n\nChoose the folder of a metst project (the one made with "
                               "File → New project), or create a new project there.")
            return None
        win = main_window_module.MainWindow(project, self.settings, proxy=self.proxy, owns_project=True)
        actions = ProjectActions(win)
        actions.openProjectRequested.connect(lambda f, w=win: self.open_project(f, w))
        win.project_actions = actions
        add_file_menu(win, self, actions.add_action)
        self._keep(win)
        self.recent.add(folder)
        win.show()
        if project.read_only and self.read_only is not True:
            self.error(win, f"{folder} is opened read-only: {project.read_only_reason}.\n\nYou can look but not "
                            "edit. To edit, close it in the other window (or program) and open it again.")
        if parent is not None and parent is not win:
            parent.close()
        return win

    def choose_project(self, parent: QtWidgets.QWidget | None) -> None:
        folder = file_dialogs.choose_folder(parent, "Open project (its folder)", self._location())
        if folder is not None:
            self.open_project(folder, parent)

    def open_recent(self, folder: Path, parent: QtWidgets.QWidget | None) -> None:
        if not (folder / DB_NAME).is_file():
            self.recent.remove(folder)
            self.error(parent, f"{folder} no longer holds a metst project (moved, renamed or deleted); it was "
                               "removed from the recent list.\n\nUse File → Open project… to find it where it "
                               "is now.")
            return
        self.open_project(folder, parent)

    def new_project(self, parent: QtWidgets.QWidget | None) -> NewProjectDialog:
        dialog = NewProjectDialog(Path(self._location()), self.annotator, parent)
        dialog.created.connect(lambda folder: self._created(folder, parent))
        self.new_dialog = dialog
        dialog.open()
        return dialog

    def _created(self, folder: Path, parent: QtWidgets.QWidget | None) -> None:
        self.settings.setValue(DEFAULT_LOCATION_KEY, str(folder.parent))
        self.open_project(folder, parent)

    def _location(self) -> str:
        return str(self.settings.value(DEFAULT_LOCATION_KEY) or Path.home() / "metst-projects")

    def open_demo(self, parent: QtWidgets.QWidget | None) -> None:
        from metst_gui.project.demo_project import ensure_demo_project

        QtWidgets.QApplication.setOverrideCursor(QtCore.Qt.CursorShape.WaitCursor)
        try:
            folder = ensure_demo_project(annotator=self.annotator)
        except MetstError as exc:
            self.error(parent, f"The demo project could not be built: {exc}")
            return
        finally:
            QtWidgets.QApplication.restoreOverrideCursor()
        self.open_project(folder, parent)

    def open_video(self, video: Path, fps: float | None = None) -> main_window_module.MainWindow | None:
        """``metst-gui VIDEO``: the video's own project (made or reused), analyzed when it is not yet."""
        from metst_engine.project.scratch import ensure_scratch_project

        folder = ensure_scratch_project(video, fps=fps, annotator=self.annotator)   # MetstError: the caller says
        win = self.open_project(folder, raise_errors=True)
        if win is None:
            return None
        win.setWindowTitle(f"metst — {Path(video).name} (on its own; reviews kept in {folder})")
        (record,) = win.project.videos()[:1]
        if not win.project.curves(record.id) and not win.project.read_only:
            win.analyzer.analyze([record.id])
            win.project_actions.update_banner()
        return win


def add_file_menu(window: QtWidgets.QMainWindow, launcher: Launcher,
                  add_videos: QtGui.QAction | None = None) -> QtWidgets.QMenu:
    """File: New project…, Open project…, Open recent, (Add videos…), Quit — first in the menu bar."""
    menu = QtWidgets.QMenu("&File", window)
    _item(menu, "&New project…", lambda: launcher.new_project(window), QtGui.QKeySequence.StandardKey.New)
    _item(menu, "&Open project…", lambda: launcher.choose_project(window), QtGui.QKeySequence.StandardKey.Open)
    recent = menu.addMenu("Open &recent")
    recent.setObjectName("recentMenu")
    recent.aboutToShow.connect(lambda: _fill_recent(recent, launcher, window))
    if add_videos is not None:
        menu.addSeparator()
        menu.addAction(add_videos)
    menu.addSeparator()
    _item(menu, "&Quit", QtWidgets.QApplication.closeAllWindows, QtGui.QKeySequence.StandardKey.Quit)
    bar = window.menuBar()
    first = bar.actions()[0] if bar.actions() else None
    bar.insertMenu(first, menu) if first is not None else bar.addMenu(menu)
    return menu


def _item(menu: QtWidgets.QMenu, text: str, slot: Callable[[], object],
          key: QtGui.QKeySequence.StandardKey) -> QtGui.QAction:
    action = menu.addAction(text)
    action.triggered.connect(lambda _=False: slot())
    action.setShortcut(QtGui.QKeySequence(key))
    return action


def _fill_recent(menu: QtWidgets.QMenu, launcher: Launcher, window: QtWidgets.QMainWindow) -> None:
    menu.clear()
    for folder in launcher.recent.paths():
        menu.addAction(str(folder)).triggered.connect(lambda _=False, f=folder: launcher.open_recent(f, window))
    if menu.isEmpty():
        menu.addAction("(none yet)").setEnabled(False)
