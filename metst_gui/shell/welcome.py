"""What ``metst-gui`` shows with no project: New project, Open project, the recent projects, the demo.

Dropping a project folder on it opens the project; dropping a video opens that video on its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from PySide6 import QtCore, QtGui, QtWidgets

from metst_engine.errors import MetstError
from metst_engine.project import DB_NAME
from metst_gui.project.project_actions import dropped_paths
from metst_gui.project.recent import RecentProjects
from metst_gui.shell.help import add_help_menu
from metst_gui.shell.keyboard_table import keyboard_markdown


class Opener(Protocol):
    """What the welcome view asks of whoever opens projects (``shell.launcher.Launcher``)."""

    recent: RecentProjects

    def new_project(self, parent: QtWidgets.QWidget) -> object: ...
    def choose_project(self, parent: QtWidgets.QWidget) -> object: ...
    def open_demo(self, parent: QtWidgets.QWidget) -> object: ...
    def open_recent(self, folder: Path, parent: QtWidgets.QWidget) -> object: ...
    def open_project(self, folder: Path, parent: QtWidgets.QWidget | None = None) -> object: ...
    def open_video(self, video: Path) -> QtWidgets.QMainWindow | None: ...
    def error(self, parent: QtWidgets.QWidget | None, text: str) -> None: ...


class WelcomeWindow(QtWidgets.QMainWindow):
    """The first window without a project: New / Open / the demo / recent projects, drops (the launcher
    adds its File menu)."""

    def __init__(self, launcher: Opener) -> None:
        super().__init__()
        self.launcher = launcher
        self.setWindowTitle("metst — welcome")
        self.setAcceptDrops(True)
        title = QtWidgets.QLabel("<h1>metst</h1><p>Spot and review facial micro-expressions in your videos.</p>"
                                 "<p>Start with a <b>project</b>: a folder that keeps your reviews. Then add the "
                                 "videos, analyze them, and review the proposals.</p>")
        title.setWordWrap(True)
        self.new_button = self._button("New project…", "Make a project folder, then add videos",
                                       lambda: launcher.new_project(self))
        self.open_button = self._button("Open project…", "A project folder made before",
                                        lambda: launcher.choose_project(self))
        self.demo_button = self._button("Open the demo project", "Synthetic faces with proposals to try things "
                                        "out (built on first use, about a minute)", lambda: launcher.open_demo(self))
        self.new_button.setDefault(True)
        self.recent_list = QtWidgets.QListWidget()
        self.recent_list.itemActivated.connect(lambda item: launcher.open_recent(Path(item.text()), self))
        left = QtWidgets.QVBoxLayout()
        for b in (self.new_button, self.open_button, self.demo_button):
            left.addWidget(b)
        left.addStretch(1)
        left.addWidget(QtWidgets.QLabel("Or drop a project folder, or one video, on this window."))
        right = QtWidgets.QVBoxLayout()
        right.addWidget(QtWidgets.QLabel("<b>Recent projects</b> (double-click to open)"))
        right.addWidget(self.recent_list, 1)
        columns = QtWidgets.QHBoxLayout()
        columns.addLayout(left, 1)
        columns.addLayout(right, 1)
        body = QtWidgets.QWidget()
        layout = QtWidgets.QVBoxLayout(body)
        layout.setContentsMargins(40, 24, 40, 24)
        layout.addWidget(title)
        layout.addLayout(columns, 1)
        self.setCentralWidget(body)
        add_help_menu(self, self._show_keys)
        self.fill_recent()
        self.resize(900, 560)

    def _button(self, text: str, tip: str, slot) -> QtWidgets.QPushButton:
        button = QtWidgets.QPushButton(f"{text}\n{tip}")
        button.setMinimumHeight(64)
        button.setStyleSheet("text-align: left; padding: 8px 16px;")
        button.clicked.connect(lambda _=False: slot())
        return button

    def fill_recent(self) -> None:
        self.recent_list.clear()
        for folder in self.launcher.recent.paths():
            self.recent_list.addItem(str(folder))
        if self.recent_list.count():
            self.recent_list.setCurrentRow(0)

    def _show_keys(self) -> None:
        box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.NoIcon, "Keyboard shortcuts", "", parent=self)
        box.setTextFormat(QtCore.Qt.TextFormat.MarkdownText)
        box.setText("Open a project to review; these keys work there (F1 shows and rebinds them):\n\n"
                    + keyboard_markdown())
        box.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def dragEnterEvent(self, event: QtGui.QDragEnterEvent) -> None:
        if dropped_paths(event):
            event.acceptProposedAction()

    def dropEvent(self, event: QtGui.QDropEvent) -> None:
        paths = dropped_paths(event)
        if not paths:
            return
        event.acceptProposedAction()
        if (paths[0] / DB_NAME).is_file():
            self.launcher.open_project(paths[0], self)
            return
        try:
            win = self.launcher.open_video(paths[0])
        except MetstError as exc:
            self.launcher.error(self, f"Cannot open {exc}.\n\nDrop a project folder or one video file; to review "
                                      "many videos, make a project (New project…) and add them.")
            return
        if win is not None:
            self.close()
