"""Render the hand-drawn app icon ``resources/icons/metst.svg`` to ``metst.png`` (256 px) with QSvgRenderer.

Run after editing the SVG: ``QT_QPA_PLATFORM=offscreen python packaging/render_icon.py``.
The PNG is what window managers and the .desktop file use where SVG is not read.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6 import QtCore, QtGui, QtSvg

ICONS = Path(__file__).resolve().parent.parent / "resources" / "icons"


def render(svg: Path, png: Path, size: int = 256) -> Path:
    renderer = QtSvg.QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"error: {svg}: not a valid SVG")
    image = QtGui.QImage(size, size, QtGui.QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(QtCore.Qt.GlobalColor.transparent)
    painter = QtGui.QPainter(image)
    painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    if not image.save(str(png)):
        raise SystemExit(f"error: {png}: could not write")
    return png


if __name__ == "__main__":
    app = QtGui.QGuiApplication(sys.argv[:1])
    print(render(ICONS / "metst.svg", ICONS / "metst.png"))
