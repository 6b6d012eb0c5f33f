"""``metst-gui --smoke-test OUT.png``: open the demo project, show one exact frame, save a screenshot, exit.

A check that an install (or the PyInstaller folder) really works: Qt's platform plugin
loads, the demo project is built with the engine (video synthesis, face alignment, flow,
the spotter), the video decodes and the window paints. Exit code 0 only when an exact frame
was shown and the saved screenshot is a real picture (not one flat colour); 1 otherwise.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

SMOKE_TIMEOUT_MS = 120_000


def distinct_colours(image: QtGui.QImage, samples: int = 64) -> int:
    """How many different colours a grid of samples finds (a blank window gives 1 or 2)."""
    step_x, step_y = max(1, image.width() // samples), max(1, image.height() // samples)
    return len({image.pixel(x, y) for x in range(0, image.width(), step_x) for y in range(0, image.height(), step_y)})


def run_smoke_test(window: QtWidgets.QMainWindow, out: Path) -> int:
    """Wait for the window's player to show an exact frame, save ``out``, quit; the exit code says how it went."""
    result = {"code": 1, "why": f"no exact frame within {SMOKE_TIMEOUT_MS / 1000:.0f} s"}

    def check() -> None:
        player = getattr(window, "player", None)
        if player is None or player.shown_index < 0 or not player.shown_exact:
            return
        timer.stop()
        image = window.grab().toImage()
        colours = distinct_colours(image)
        if colours < 16:
            result["why"] = f"the screenshot has only {colours} colours"
        elif not image.save(str(out)):
            result["why"] = f"{out}: could not write"
        else:
            result.update(code=0, why=f"frame {player.shown_index} shown, {image.width()}x{image.height()} "
                                      f"screenshot with {colours} sampled colours saved to {out}")
        loop.quit()

    # A local event loop, not app.exec(): returning from exec() emits aboutToQuit, after which a process
    # that goes on (a test run) has its pyqtgraph scenes cleaned up.
    loop = QtCore.QEventLoop()
    timer = QtCore.QTimer()
    timer.timeout.connect(check)
    timer.start(100)
    deadline = QtCore.QTimer()
    deadline.setSingleShot(True)
    deadline.timeout.connect(loop.quit)
    deadline.start(SMOKE_TIMEOUT_MS)
    loop.exec()
    timer.stop()
    deadline.stop()
    print(f"smoke test {'passed' if result['code'] == 0 else 'FAILED'}: {result['why']}", file=sys.stderr)
    window.close()
    return result["code"]
