"""The main window's layout: a face-first default, proportions that follow the window, QSettings kept valid.

The default arrangement puts the project browser above the interval table in one column on the
left (a list wants height, not width) and gives the central column to the player (about 60 %)
above the curves (the rest). Sizes are kept as *proportions of the window*, not pixels: a user's
drag on a dock separator or on the player/curves splitter records the new proportions, and every
window resize re-applies them, so shrinking the window and growing it again gives the space back
(Qt alone keeps docks at the pixel size they were squeezed to). Every part has a minimum size
that keeps it usable, and the window cannot be made smaller than :data:`MIN_WINDOW`.

QSettings keys (group ``window/``): ``geometry``, ``state`` (docks: which are shown, where),
``proportions`` (JSON), ``saved_size``, ``tab``; ``player/face_zoom``. Everything read back is
checked: a value of the wrong type, a corrupt or foreign Qt state, proportions out of range or a
state saved at a window smaller than :data:`MIN_WINDOW` is dropped and the default layout used.
"""

from __future__ import annotations

import json
import math

from PySide6 import QtCore, QtWidgets

#: Bumped whenever the dock arrangement changes meaning: older saved states are then not reapplied.
LAYOUT_VERSION = 2
DEFAULT_WINDOW = QtCore.QSize(1600, 1000)
MIN_WINDOW = QtCore.QSize(800, 600)
#: Dock object name -> (width, height) as fractions of the window's width and height.
DEFAULT_DOCKS: dict[str, tuple[float, float]] = {"projectDock": (0.30, 0.28), "intervalsDock": (0.30, 0.64)}
MIN_DOCK = QtCore.QSize(180, 110)   # a dock's content: a few rows of the table, the browser's names
MIN_CURVES_HEIGHT = 300             # the flow plot's axis title still fits beside it
DEFAULT_PLAYER_SHARE = 0.60          # the player's share of the player/curves splitter
_FRACTION_RANGE = (0.05, 0.95)
_KEYS = ("window/geometry", "window/state", "window/proportions", "window/saved_size", "window/tab",
         "player/face_zoom")
_Event = QtCore.QEvent.Type


def default_settings() -> QtCore.QSettings:
    return QtCore.QSettings("metst", "metst-gui")


def _fraction(value: object) -> float | None:
    """A float in the allowed range, else None."""
    try:
        f = float(value)            # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) and _FRACTION_RANGE[0] <= f <= _FRACTION_RANGE[1] else None


def parse_proportions(text: object, dock_names: set[str]) -> tuple[dict[str, tuple[float, float]], float] | None:
    """``(docks, player share)`` from the JSON that :meth:`WindowLayout.save` writes; None when anything is off."""
    try:
        data = json.loads(str(text))
        docks = {str(name): (_fraction(w), _fraction(h)) for name, (w, h) in data["docks"].items()}
        player = _fraction(data["player"])
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    if player is None or set(docks) != dock_names or any(None in wh for wh in docks.values()):
        return None
    return docks, player            # type: ignore[return-value]


class WindowLayout(QtCore.QObject):
    """Default arrangement, proportional resizing, Reset layout, and the validated save/restore."""

    def __init__(self, settings: QtCore.QSettings, window: QtWidgets.QMainWindow, splitter: QtWidgets.QSplitter,
                 tabs: QtWidgets.QTabWidget, docks: tuple[QtWidgets.QDockWidget, QtWidgets.QDockWidget]) -> None:
        super().__init__(window)
        self.settings, self.window, self.splitter, self.tabs = settings, window, splitter, tabs
        self.docks = {d.objectName(): d for d in docks}
        self.dock_shares = dict(DEFAULT_DOCKS)
        self.player_share = DEFAULT_PLAYER_SHARE
        self._pressed_sizes: dict[str, tuple[int, int]] | None = None
        window.setMinimumSize(MIN_WINDOW)
        splitter.setChildrenCollapsible(False)
        splitter.widget(1).setMinimumHeight(MIN_CURVES_HEIGHT)
        splitter.splitterMoved.connect(self._splitter_moved)
        window.installEventFilter(self)
        splitter.installEventFilter(self)

    # ------------------------------------------------------------------ arrangement
    def arrange_default(self) -> None:
        """Browser above the table on the left, both shown and docked; default proportions."""
        browser, table = self.docks["projectDock"], self.docks["intervalsDock"]
        left = QtCore.Qt.DockWidgetArea.LeftDockWidgetArea
        for dock in (browser, table):
            dock.setFloating(False)
            self.window.addDockWidget(left, dock)
        self.window.splitDockWidget(browser, table, QtCore.Qt.Orientation.Vertical)
        browser.show()
        table.show()
        self.dock_shares = dict(DEFAULT_DOCKS)
        self.player_share = DEFAULT_PLAYER_SHARE
        self.apply()

    def apply(self) -> None:
        """Size the docks and the splitter from the proportions at the window's current size."""
        self._apply_docks()
        self._apply_splitter()

    def _docked(self) -> list[QtWidgets.QDockWidget]:
        return [d for d in self.docks.values() if not d.isHidden() and not d.isFloating()]

    def _apply_docks(self) -> None:
        docks = self._docked()
        if not docks:
            return
        w, h = self.window.width(), self.window.height()
        shares = [self.dock_shares[d.objectName()] for d in docks]
        self.window.resizeDocks(docks, [round(sw * w) for sw, _ in shares], QtCore.Qt.Orientation.Horizontal)
        self.window.resizeDocks(docks, [round(sh * h) for _, sh in shares], QtCore.Qt.Orientation.Vertical)

    def _apply_splitter(self) -> None:
        total = self.splitter.height() - self.splitter.handleWidth()
        if total > 0:
            player = round(total * self.player_share)
            self.splitter.setSizes([player, total - player])

    # ------------------------------------------------------------------ following the user and the window
    def eventFilter(self, watched: QtCore.QObject, event: QtCore.QEvent) -> bool:
        kind = event.type()
        if watched is self.window:
            if kind == _Event.Resize:
                self._apply_docks()
            elif kind == _Event.MouseButtonPress:
                self._pressed_sizes = self._dock_sizes()
            elif kind == _Event.MouseButtonRelease and self._pressed_sizes is not None:
                QtCore.QTimer.singleShot(0, self._record_docks)      # after the window has moved the separator
        elif watched is self.splitter and kind == _Event.Resize:
            self._apply_splitter()
        return False

    def _dock_sizes(self) -> dict[str, tuple[int, int]]:
        return {d.objectName(): (d.width(), d.height()) for d in self._docked()}

    def _record_docks(self) -> None:
        """After a drag on a dock separator: the docks' new sizes become the proportions to keep."""
        before, self._pressed_sizes = self._pressed_sizes, None
        after = self._dock_sizes()
        if before is None or after == before:
            return
        w, h = self.window.width(), self.window.height()
        for name, (dw, dh) in after.items():
            share = (_fraction(dw / w), _fraction(dh / h))
            if None not in share:
                self.dock_shares[name] = share      # type: ignore[assignment]

    def _splitter_moved(self, *_: object) -> None:
        player, curves = self.splitter.sizes()
        share = _fraction(player / max(player + curves, 1))
        if share is not None:
            self.player_share = share

    # ------------------------------------------------------------------ QSettings
    def restore(self) -> None:
        """The saved layout where it is valid, the default arrangement (and size) where it is not."""
        self.window.resize(DEFAULT_WINDOW)
        self.arrange_default()
        s = self.settings
        saved_size = s.value("window/saved_size")
        if not (isinstance(saved_size, str) and self._usable_size(saved_size)):
            return
        proportions = parse_proportions(s.value("window/proportions"), set(self.docks))
        geometry, state = s.value("window/geometry"), s.value("window/state")
        if isinstance(geometry, QtCore.QByteArray) and not self.window.restoreGeometry(geometry):
            self.window.resize(DEFAULT_WINDOW)
        if proportions is not None and isinstance(state, QtCore.QByteArray):
            if self.window.restoreState(state, LAYOUT_VERSION):
                self.dock_shares, self.player_share = proportions
            else:
                self.arrange_default()
        tab = s.value("window/tab")
        if isinstance(tab, (int, str)) and str(tab).isdigit() and int(tab) < self.tabs.count():
            self.tabs.setCurrentIndex(int(tab))
        self.apply()

    @staticmethod
    def _usable_size(text: str) -> bool:
        w, _, h = text.partition("x")
        return w.isdigit() and h.isdigit() and int(w) >= MIN_WINDOW.width() and int(h) >= MIN_WINDOW.height()

    def save(self) -> None:
        s = self.settings
        s.setValue("window/geometry", self.window.saveGeometry())
        s.setValue("window/state", self.window.saveState(LAYOUT_VERSION))
        s.setValue("window/proportions", json.dumps({"docks": self.dock_shares, "player": self.player_share}))
        s.setValue("window/saved_size", f"{self.window.width()}x{self.window.height()}")
        s.setValue("window/tab", self.tabs.currentIndex())
        s.sync()

    def reset(self) -> None:
        """View -> Reset layout: the default arrangement and proportions; the saved layout is forgotten."""
        for key in _KEYS:
            self.settings.remove(key)
        self.settings.sync()
        self.arrange_default()
        self.tabs.setCurrentIndex(0)
        self.window.statusBar().showMessage("Layout reset to the default", 5000)

    # ------------------------------------------------------------------ the player's face zoom
    def face_zoom(self) -> bool:
        """Whether videos open zoomed to the face (default: yes)."""
        value = self.settings.value("player/face_zoom")
        return str(value).lower() not in ("false", "0")

    def set_face_zoom(self, on: bool) -> None:
        self.settings.setValue("player/face_zoom", bool(on))
