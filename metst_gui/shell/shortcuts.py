"""Review keyboard shortcuts: the default map, rebinding kept in QSettings, and the help overlay.

Each review action is a QAction whose key comes from :class:`ShortcutMap`; rebinding
changes the action's key at once and is stored under ``shortcuts/<name>``, so it holds in
the next session. The player's own keys are listed in the overlay but stay fixed.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6 import QtCore, QtGui, QtWidgets


@dataclass(frozen=True)
class ShortcutSpec:
    name: str
    label: str
    default: str
    alternates: tuple[str, ...] = ()      #: further keys while the default is in use (Backspace for Delete)


REVIEW_SHORTCUTS: tuple[ShortcutSpec, ...] = (
    ShortcutSpec("accept", "Accept the selected interval", "A"),
    ShortcutSpec("reject", "Reject the selected interval", "R"),
    ShortcutSpec("emotion_1", "Emotion: negative", "1"),
    ShortcutSpec("emotion_2", "Emotion: positive", "2"),
    ShortcutSpec("emotion_3", "Emotion: surprise", "3"),
    ShortcutSpec("emotion_4", "Emotion: others", "4"),
    ShortcutSpec("set_onset", "Set onset at the playhead", "I"),
    ShortcutSpec("set_apex", "Set apex at the playhead", "X"),
    ShortcutSpec("set_offset", "Set offset at the playhead", "O"),
    ShortcutSpec("add", "Add a manual interval at the playhead", "M"),
    ShortcutSpec("delete", "Delete the selected interval (also Backspace)", "Del", ("Backspace",)),
    ShortcutSpec("nudge_onset_earlier", "Onset one frame earlier", ","),
    ShortcutSpec("nudge_onset_later", "Onset one frame later", "."),
    ShortcutSpec("nudge_offset_earlier", "Offset one frame earlier", "<"),
    ShortcutSpec("nudge_offset_later", "Offset one frame later", ">"),
    ShortcutSpec("next_pending", "Next pending interval", "N"),
    ShortcutSpec("undo", "Undo", "Ctrl+Z"),
    ShortcutSpec("redo", "Redo", "Ctrl+Shift+Z"),
    ShortcutSpec("help", "Show these shortcuts", "F1"),
)
#: The player's fixed keys (``Player.install_shortcuts``), listed for reference.
PLAYER_KEYS: tuple[tuple[str, str], ...] = (
    ("Space", "Play / pause"), ("Left / Right", "Step one frame"), ("Shift+Left / Shift+Right", "Jump one second"),
    ("PageUp / PageDown", "Previous / next interval (selects it)"), ("L", "Loop the current interval"),
    ("Z", "Face crop / full frame"),
)
_FIXED = {"Space", "Left", "Right", "Shift+Left", "Shift+Right", "PgUp", "PgDown", "L", "Z"}


class ShortcutMap(QtCore.QObject):
    """Names -> key sequences, defaults overridden by QSettings; bound QActions follow rebinding."""

    changed = QtCore.Signal(str, str)          # name, new key (portable text)

    def __init__(self, settings: QtCore.QSettings, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.specs = {s.name: s for s in REVIEW_SHORTCUTS}
        self._actions: dict[str, QtGui.QAction] = {}

    def key(self, name: str) -> str:
        stored = self.settings.value(f"shortcuts/{name}")
        return str(stored) if stored else self.specs[name].default

    def bind(self, name: str, action: QtGui.QAction) -> QtGui.QAction:
        self._set_keys(name, action, self.key(name))
        action.setShortcutContext(QtCore.Qt.ShortcutContext.WindowShortcut)
        self._actions[name] = action
        return action

    def rebind(self, name: str, key: str) -> str | None:
        """Bind ``name`` to ``key``; returns why not (a key already in use) or None when done."""
        text = QtGui.QKeySequence(key).toString(QtGui.QKeySequence.SequenceFormat.PortableText)
        if not text:
            return "an empty key"
        if text in _FIXED:
            return f"{text} is a player key"
        for other, spec in self.specs.items():
            taken = [self.key(other), *(spec.alternates if self.key(other) == spec.default else ())]
            if other != name and text in taken:
                return f"{text} is already '{self.specs[other].label}'"
        if text == self.specs[name].default:
            self.settings.remove(f"shortcuts/{name}")
        else:
            self.settings.setValue(f"shortcuts/{name}", text)
        if name in self._actions:
            self._set_keys(name, self._actions[name], text)
        self.changed.emit(name, text)
        return None

    def reset_all(self) -> None:
        for name, spec in self.specs.items():
            self.settings.remove(f"shortcuts/{name}")
            if name in self._actions:
                self._set_keys(name, self._actions[name], spec.default)
            self.changed.emit(name, spec.default)

    def _set_keys(self, name: str, action: QtGui.QAction, key: str) -> None:
        """``key``, plus the spec's alternates while ``key`` is the default."""
        spec = self.specs[name]
        keys = [key, *spec.alternates] if key == spec.default else [key]
        action.setShortcuts([QtGui.QKeySequence(k) for k in keys])


class ShortcutOverlay(QtWidgets.QFrame):
    """A panel over the main window listing every key; review keys can be rebound in place."""

    def __init__(self, shortcuts: ShortcutMap, parent: QtWidgets.QWidget) -> None:
        super().__init__(parent)
        self.shortcuts = shortcuts
        self.setObjectName("shortcutOverlay")
        self.setStyleSheet("#shortcutOverlay { background: rgba(250, 250, 250, 245); border: 1px solid #888;"
                           " border-radius: 6px; }")
        self.setAutoFillBackground(True)
        title = QtWidgets.QLabel("<b>Keyboard shortcuts</b> — click a review key and press the new one")
        self.table = QtWidgets.QTableWidget(len(REVIEW_SHORTCUTS) + len(PLAYER_KEYS), 2)
        self.table.setHorizontalHeaderLabels(["Action", "Key"])
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setStretchLastSection(True)
        self.editors: dict[str, QtWidgets.QKeySequenceEdit] = {}
        for row, spec in enumerate(REVIEW_SHORTCUTS):
            self.table.setItem(row, 0, QtWidgets.QTableWidgetItem(spec.label))
            edit = QtWidgets.QKeySequenceEdit(QtGui.QKeySequence(shortcuts.key(spec.name)))
            edit.setMaximumSequenceLength(1)
            edit.editingFinished.connect(lambda n=spec.name, e=edit: self._rebind(n, e))
            self.table.setCellWidget(row, 1, edit)
            self.editors[spec.name] = edit
        for k, (key, label) in enumerate(PLAYER_KEYS):
            row = len(REVIEW_SHORTCUTS) + k
            self.table.setItem(row, 0, QtWidgets.QTableWidgetItem(f"{label} (player)"))
            self.table.setItem(row, 1, QtWidgets.QTableWidgetItem(key))
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.resizeColumnsToContents()
        self.message = QtWidgets.QLabel()
        self.message.setStyleSheet("color: #b00;")
        reset = QtWidgets.QPushButton("Reset to defaults")
        reset.clicked.connect(self._reset)
        close = QtWidgets.QPushButton("Close")
        close.clicked.connect(self.hide)
        buttons = QtWidgets.QHBoxLayout()
        buttons.addWidget(self.message, 1)
        buttons.addWidget(reset)
        buttons.addWidget(close)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        shortcuts.changed.connect(self._show_key)
        self.hide()

    def toggle(self) -> None:
        if self.isVisible():
            self.hide()
            return
        parent = self.parentWidget()
        w, h = min(560, parent.width() - 40), min(620, parent.height() - 40)
        self.setGeometry((parent.width() - w) // 2, (parent.height() - h) // 2, w, h)
        self.message.clear()
        self.show()
        self.raise_()
        self.table.setFocus()          # Escape reaches the overlay (keyPressEvent) while it is shown

    def _rebind(self, name: str, editor: QtWidgets.QKeySequenceEdit) -> None:
        problem = self.shortcuts.rebind(name, editor.keySequence().toString(
            QtGui.QKeySequence.SequenceFormat.PortableText))
        if problem:
            self.message.setText(f"Not changed: {problem}")
            editor.setKeySequence(QtGui.QKeySequence(self.shortcuts.key(name)))
        else:
            self.message.clear()

    def _reset(self) -> None:
        self.shortcuts.reset_all()
        self.message.clear()

    def _show_key(self, name: str, key: str) -> None:
        editor = self.editors.get(name)
        if editor is not None and editor.keySequence().toString(QtGui.QKeySequence.SequenceFormat.PortableText) != key:
            editor.setKeySequence(QtGui.QKeySequence(key))

    def event(self, event: QtCore.QEvent) -> bool:
        if (event.type() == QtCore.QEvent.Type.ShortcutOverride
                and event.key() == QtCore.Qt.Key.Key_Escape):   # type: ignore[attr-defined]
            event.accept()             # Escape closes the overlay even where the window binds Escape
            return True
        return super().event(event)

    def keyPressEvent(self, event: QtGui.QKeyEvent) -> None:
        if event.key() == QtCore.Qt.Key.Key_Escape:
            self.hide()
        else:
            super().keyPressEvent(event)
