"""The main window's actions and menu bar: review actions bound to rebindable keys, undo/redo, the menus."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6 import QtGui

from metst_engine.intervals import EMOTIONS
from metst_gui.shell.help import add_help_menu

if TYPE_CHECKING:
    from metst_gui.shell.main_window import MainWindow

REVIEW_MENU = ("accept", "reject", "emotion_1", "emotion_2", "emotion_3", "emotion_4", "set_onset",
               "set_apex", "set_offset", "nudge_onset_earlier", "nudge_onset_later", "nudge_offset_earlier",
               "nudge_offset_later", "add", "delete", "next_pending")


def add_action(window: MainWindow, text: str, slot: Callable, name: str | None = None) -> QtGui.QAction:
    """A window action; with ``name`` its key comes from (and follows) the window's shortcut map."""
    action = QtGui.QAction(text, window)
    action.triggered.connect(slot)
    if name is not None:
        window.shortcuts.bind(name, action)
    window.addAction(action)
    return action


def review_actions(window: MainWindow) -> dict[str, QtGui.QAction]:
    """The rebindable actions by shortcut name (review keys, undo/redo, help)."""
    s, w = window.session, window
    actions = {
        "accept": add_action(w, "&Accept", s.accept, "accept"),
        "reject": add_action(w, "&Reject", s.reject, "reject"),
        "set_onset": add_action(w, "Set &onset at playhead", lambda: s.set_bound("onset"), "set_onset"),
        "set_apex": add_action(w, "Set ape&x at playhead", lambda: s.set_bound("apex"), "set_apex"),
        "set_offset": add_action(w, "Set o&ffset at playhead", lambda: s.set_bound("offset"), "set_offset"),
        "add": add_action(w, "Add &manual interval", s.add, "add"),
        "delete": add_action(w, "&Delete interval", s.delete, "delete"),
        "next_pending": add_action(w, "&Next pending", w.review.next_pending, "next_pending"),
    }
    for name, label in (("nudge_onset_earlier", "Onset one frame earlier"), ("nudge_onset_later", "Onset one frame later"),
                        ("nudge_offset_earlier", "Offset one frame earlier"),
                        ("nudge_offset_later", "Offset one frame later")):
        which, frames = name.split("_")[1], -1 if name.endswith("earlier") else 1
        actions[name] = add_action(w, label, lambda _=False, a=which, f=frames: s.nudge(a, f), name)
    for k in range(1, 5):
        actions[f"emotion_{k}"] = add_action(w, f"Emotion: {EMOTIONS[k - 1]}",
                                             lambda _=False, k=k: s.set_emotion(k), f"emotion_{k}")
    undo = s.stacks.group.createUndoAction(w, "&Undo")
    redo = s.stacks.group.createRedoAction(w, "&Redo")
    w.addAction(w.shortcuts.bind("undo", undo))
    w.addAction(w.shortcuts.bind("redo", redo))
    actions["undo"], actions["redo"] = undo, redo
    actions["help"] = add_action(w, "&Keyboard shortcuts", lambda: w.overlay.toggle(), "help")
    w.table.set_context_actions([actions[n] for n in ("accept", "reject", "delete")])
    w.timeline.add_context_action(actions["delete"])
    return actions


def build_menus(window: MainWindow) -> None:
    """Project, Edit, Review, View and Help menus over the window's actions."""
    w, actions, bar = window, window.actions_by_name, window.menuBar()
    project_menu = bar.addMenu("&Project")
    project_menu.addAction(w.analyzer.action)
    project_menu.addMenu(w.analyzer.alignment_menu)
    project_menu.addAction(add_action(w, "&Export…", w.show_export_dialog))
    project_menu.addAction(add_action(w, "Annotator a&greement…", w.show_agreement))
    project_menu.addSeparator()
    project_menu.addAction(add_action(w, "&Close", w.close))
    edit_menu = bar.addMenu("&Edit")
    edit_menu.addAction(actions["undo"])
    edit_menu.addAction(actions["redo"])
    review_menu = bar.addMenu("&Review")
    for name in REVIEW_MENU:
        review_menu.addAction(actions[name])
    review_menu.addSeparator()
    review_menu.addAction(w.complete_action)
    view_menu = bar.addMenu("&View")
    for dock in (w.browser_dock, w.table_dock):
        view_menu.addAction(dock.toggleViewAction())
    view_menu.addSeparator()
    view_menu.addAction(add_action(w, "&Review", lambda: w.tabs.setCurrentIndex(0)))
    view_menu.addAction(add_action(w, "&Training", lambda: w.tabs.setCurrentWidget(w.training_page)))
    view_menu.addSeparator()
    view_menu.addAction(add_action(w, "Reset &layout", w.reset_layout))
    add_help_menu(w, actions["help"])
