"""The application icon (``metst_engine.resources`` ``icons/metst.svg`` and its 256 px PNG rendering)."""

from __future__ import annotations

from PySide6 import QtGui

from metst_engine.resources_path import resource_path


def app_icon() -> QtGui.QIcon:
    """The metst icon; the PNG is always readable, the SVG adds sharp sizes where Qt's SVG plugin loads."""
    icon = QtGui.QIcon()
    for name in ("metst.png", "metst.svg"):
        node = resource_path("icons", name)
        if node.is_file():
            icon.addFile(str(node))
    return icon
