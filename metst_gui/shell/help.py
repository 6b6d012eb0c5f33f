"""The Help menu: keyboard shortcuts, the user guide (the bundled docs/user-guide.md, offline) and About.

The guide ships inside the wheel as ``metst_gui.guide`` (pyproject maps it to ``docs/``) and
inside the PyInstaller folder as ``docs/``; from a checkout it is read from ``docs/``.
"""

from __future__ import annotations

import importlib.resources
import platform
from collections.abc import Callable
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

GUIDE = "user-guide.md"


def user_guide_path() -> Path | None:
    """The installed guide, else the checkout's (or the PyInstaller folder's) ``docs/user-guide.md``."""
    try:
        node = importlib.resources.files("metst_gui.guide").joinpath(GUIDE)
        if node.is_file():
            return Path(str(node))
    except (ModuleNotFoundError, TypeError):
        pass
    path = Path(__file__).resolve().parents[2] / "docs" / GUIDE
    return path if path.is_file() else None


class UserGuide(QtWidgets.QDialog):
    """The guide rendered from Markdown (its pictures beside it), links to sections followed in place."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("metst user guide")
        self.resize(900, 760)
        self.browser = QtWidgets.QTextBrowser()
        self.browser.setOpenExternalLinks(True)
        path = user_guide_path()
        if path is None:
            self.browser.setPlainText("The user guide (docs/user-guide.md) is not part of this installation; "
                                      "read it at the project's home page.")
        else:
            self.browser.setSearchPaths([str(path.parent)])
            self.browser.setMarkdown(path.read_text(encoding="utf-8"))
        close = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.close)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.browser, 1)
        layout.addWidget(close)


def about_html() -> str:
    """Versions (program, feature format, checkpoint format, project store) and licence notes."""
    import PySide6

    import metst_engine
    from metst_engine.features import FEATURES_VERSION
    from metst_engine.model_catalog import CATALOG
    from metst_engine.project import SCHEMA_VERSION

    try:
        from metst_engine.models.checkpoint import FORMAT_VERSION
    except ImportError:                     # torch missing: the rest still works
        FORMAT_VERSION = "?"
    models = ", ".join(f"{m.label} ({m.name})" for m in CATALOG.values())
    return (f"<h2>metst {metst_engine.__version__}</h2>"
            "<p>Spotting and reviewing facial micro-expressions.</p>"
            f"<table><tr><td>Models</td><td>{models}; model-free spotter when no model is chosen</td></tr>"
            f"<tr><td>Feature format</td><td>version {FEATURES_VERSION}</td></tr>"
            f"<tr><td>Checkpoint format</td><td>version {FORMAT_VERSION}</td></tr>"
            f"<tr><td>Project store</td><td>schema {SCHEMA_VERSION}</td></tr>"
            f"<tr><td>Qt / Python</td><td>PySide6 {PySide6.__version__}, Python {platform.python_version()}</td></tr>"
            "</table>"
            "<p><b>Licences.</b> metst: MIT. Qt for Python (PySide6): LGPL v3. PyTorch, NumPy, SciPy, OpenCV, "
            "PyAV: BSD/Apache; FFmpeg (in PyAV): LGPL. pyqtgraph: MIT. dlib: Boost. The 68-point face landmark "
            "model (iBUG 300-W) may not be used commercially without the dataset owners' permission. Trained "
            "models carry the licence of the data they were trained on (CAS(ME)³, SAMM: research use only).</p>")


def show_about(parent: QtWidgets.QWidget) -> QtWidgets.QMessageBox:
    box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.NoIcon, "About metst", about_html(),
                                QtWidgets.QMessageBox.StandardButton.Ok, parent)
    box.setObjectName("aboutBox")
    box.setTextFormat(QtCore.Qt.TextFormat.RichText)
    box.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box


def add_help_menu(window: QtWidgets.QMainWindow, shortcuts: QtGui.QAction | Callable[[], None]) -> QtWidgets.QMenu:
    """Help: Keyboard shortcuts (the window's F1 action, or a slot), User guide, About metst."""
    menu = window.menuBar().addMenu("&Help")
    if isinstance(shortcuts, QtGui.QAction):
        menu.addAction(shortcuts)
    else:
        keys = menu.addAction("&Keyboard shortcuts")
        keys.setShortcut(QtGui.QKeySequence("F1"))
        keys.triggered.connect(shortcuts)
        window.addAction(keys)
    guide = menu.addAction("&User guide")
    guide.triggered.connect(lambda: _show_guide(window))
    menu.addSeparator()
    about = menu.addAction("&About metst")
    about.triggered.connect(lambda: show_about(window))
    return menu


def _show_guide(window: QtWidgets.QMainWindow) -> UserGuide:
    guide = window.findChild(UserGuide)
    if guide is None:
        guide = UserGuide(window)
    guide.show()
    guide.raise_()
    guide.activateWindow()
    return guide
