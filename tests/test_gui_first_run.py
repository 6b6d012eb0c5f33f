"""The first run without a terminal: welcome view, New / Open / recent projects, Add videos (dialog and
drag and drop) with subjects from folders, the next-step banner, Help, and ``metst-gui VIDEO``.

The file dialogs are replaced (``metst_gui.project.file_dialogs``); everything else is driven with
real key and mouse events, and what the project store holds is checked afterwards.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from project_support import tiny_video
from PySide6 import QtCore, QtGui, QtWidgets

from metst_engine.project import Project
from metst_gui.project import file_dialogs

Key = QtCore.Qt.Key
LEFT = QtCore.Qt.MouseButton.LeftButton
WAIT_MS = 180_000


@pytest.fixture
def settings(tmp_path) -> QtCore.QSettings:
    return QtCore.QSettings(str(tmp_path / "app.ini"), QtCore.QSettings.Format.IniFormat)


@pytest.fixture
def launcher(qtbot, settings):
    from metst_gui.shell.launcher import Launcher

    launcher = Launcher(settings, annotator="alice", proxy=False)
    yield launcher
    for win in list(launcher.windows):
        win.close()


@pytest.fixture
def recordings(tmp_path) -> Path:
    """recordings/p01/a.mp4, recordings/p02/b.mp4: the subjects are the folders."""
    root = tmp_path / "recordings"
    tiny_video(root / "p01" / "a.mp4", n_frames=30)
    tiny_video(root / "p02" / "b.mp4", n_frames=30)
    return root


def click(qtbot, button: QtWidgets.QAbstractButton) -> None:
    qtbot.mouseClick(button, LEFT)


def type_into(qtbot, edit: QtWidgets.QLineEdit, text: str) -> None:
    edit.setFocus()
    qtbot.keyClick(edit, Key.Key_A, QtCore.Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(edit, Key.Key_Delete)
    qtbot.keyClicks(edit, text)


def edit_cell(qtbot, table: QtWidgets.QTableWidget, row: int, col: int, text: str) -> None:
    qtbot.waitExposed(table.window())
    rect = table.visualItemRect(table.item(row, col))
    qtbot.mouseClick(table.viewport(), LEFT, pos=rect.center())
    qtbot.mouseDClick(table.viewport(), LEFT, pos=rect.center())
    editor = table.viewport().findChild(QtWidgets.QLineEdit)          # the cell's editor, opened by the click
    assert editor is not None and editor.isVisible()
    qtbot.keyClick(editor, Key.Key_A, QtCore.Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(editor, text)
    qtbot.keyClick(editor, Key.Key_Return)
    qtbot.waitUntil(lambda: table.item(row, col).text() == text, timeout=5000)   # the view commits queued


def close_box(qtbot, box: QtWidgets.QMessageBox) -> str:
    text = box.text()
    click(qtbot, box.button(QtWidgets.QMessageBox.StandardButton.Ok))
    return text


def project_window(launcher):
    (win,) = launcher.project_windows()
    return win


def test_welcome_new_project_then_add_videos_with_subjects_from_folders(qtbot, launcher, tmp_path, recordings,
                                                                         monkeypatch):
    welcome = launcher.show_welcome()
    qtbot.waitExposed(welcome)
    click(qtbot, welcome.new_button)
    dialog = launcher.new_dialog
    assert dialog.isVisible()
    type_into(qtbot, dialog.name_edit, "study")
    type_into(qtbot, dialog.location_edit, str(tmp_path / "projects"))
    assert dialog.folder_label.text() == str(tmp_path / "projects" / "study")
    click(qtbot, dialog.create_button)
    folder = tmp_path / "projects" / "study"
    win = project_window(launcher)
    assert win.project.folder == folder and not welcome.isVisible()
    with Project.open(folder, read_only=True) as p:            # the store is on disk, empty
        assert p.videos() == []
    banner = win.project_actions.banner
    assert banner.isVisible() and "add the videos" in banner.label.text()
    assert banner.primary.text() == "Add videos…"
    assert launcher.recent.paths()[0] == folder

    monkeypatch.setattr(file_dialogs, "choose_videos",
                        lambda parent, start="": [recordings / "p01" / "a.mp4", recordings / "p02" / "b.mp4"])
    click(qtbot, banner.primary)
    add = win.project_actions.dialog
    assert add.isVisible()
    table = add.table
    assert [table.item(r, 0).text() for r in range(2)] == ["p01", "p02"]      # inferred from the folders
    edit_cell(qtbot, table, 1, 0, "p07")                                       # the user corrects one
    click(qtbot, add.add_button)
    with Project.open(folder, read_only=True) as p:
        assert sorted((v.name, v.subject) for v in p.videos()) == [("a", "p01"), ("b", "p07")]
    assert "Added 2 video(s)" in banner.label.text() and banner.primary.text() == "Analyze now"
    assert sorted(win.browser.video_ids()) == sorted(v.id for v in win.project.videos())


def test_browse_puts_the_chosen_location_in_the_new_project_and_cancel_keeps_the_typed_one(qtbot, tmp_path,
                                                                                          monkeypatch):
    from metst_gui.project.new_project_dialog import NewProjectDialog

    dialog = NewProjectDialog(tmp_path / "typed", annotator="alice")
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    type_into(qtbot, dialog.name_edit, "study")
    (browse,) = [b for b in dialog.findChildren(QtWidgets.QPushButton) if b.text() == "Browse…"]
    starts = []
    monkeypatch.setattr(file_dialogs, "choose_folder", lambda parent, title, start="": starts.append(start))
    click(qtbot, browse)                                                 # cancelled: the typed location stays
    assert starts == [str(tmp_path / "typed")] and dialog.location_edit.text() == str(tmp_path / "typed")
    monkeypatch.setattr(file_dialogs, "choose_folder", lambda parent, title, start="": tmp_path / "chosen")
    click(qtbot, browse)
    assert dialog.folder_label.text() == str(tmp_path / "chosen" / "study")
    click(qtbot, dialog.create_button)
    with Project.open(tmp_path / "chosen" / "study", read_only=True) as p:
        assert p.videos() == []
    assert not (tmp_path / "typed").exists()


def test_dropping_a_folder_adds_its_videos_and_a_bad_file_is_one_clear_message(qtbot, launcher, tmp_path,
                                                                                recordings):
    folder = tmp_path / "proj"
    Project.create(folder).close()
    win = launcher.open_project(folder)
    qtbot.waitExposed(win)
    (recordings / "p02" / "broken.mp4").write_bytes(b"not a video")
    mime = QtCore.QMimeData()
    mime.setUrls([QtCore.QUrl.fromLocalFile(str(recordings))])
    pos = QtCore.QPointF(win.rect().center())
    actions = QtCore.Qt.DropAction.CopyAction
    enter = QtGui.QDragEnterEvent(pos.toPoint(), actions, mime, LEFT, QtCore.Qt.KeyboardModifier.NoModifier)
    QtWidgets.QApplication.sendEvent(win, enter)
    assert enter.isAccepted()
    drop = QtGui.QDropEvent(pos, actions, mime, LEFT, QtCore.Qt.KeyboardModifier.NoModifier)
    QtWidgets.QApplication.sendEvent(win, drop)
    add = win.project_actions.dialog
    assert add.isVisible()
    assert [add.table.item(r, 0).text() for r in range(3)] == ["p01", "p02", "p02"]
    click(qtbot, add.add_button)
    box = win.project_actions.error_box
    text = close_box(qtbot, box)
    assert "broken.mp4" in text and "Not added" in text and "video player" in text
    with Project.open(folder, read_only=True) as p:
        assert sorted((v.name, v.subject) for v in p.videos()) == [("a", "p01"), ("b", "p02")]


def test_open_recent_with_a_vanished_folder_and_open_a_folder_that_is_no_project(qtbot, launcher, tmp_path,
                                                                                 monkeypatch):
    kept, gone = tmp_path / "kept", tmp_path / "gone"
    for f in (kept, gone):
        Project.create(f).close()
        launcher.recent.add(f)
    welcome = launcher.show_welcome()
    qtbot.waitExposed(welcome)
    shutil.rmtree(gone)                                        # moved away while the list was shown
    recent = welcome.recent_list
    item = recent.findItems(str(gone), QtCore.Qt.MatchFlag.MatchExactly)[0]
    pos = recent.visualItemRect(item).center()
    qtbot.mouseClick(recent.viewport(), LEFT, pos=pos)
    qtbot.mouseDClick(recent.viewport(), LEFT, pos=pos)
    text = close_box(qtbot, launcher.error_box)
    assert str(gone) in text and "removed from the recent list" in text and "Open project" in text
    assert launcher.recent.paths() == [kept]
    assert launcher.project_windows() == []

    plain = tmp_path / "just-videos"
    plain.mkdir()
    monkeypatch.setattr(file_dialogs, "choose_folder", lambda parent, title, start="": plain)
    click(qtbot, welcome.open_button)
    text = close_box(qtbot, launcher.error_box)
    assert str(plain) in text and "not a metst project folder" in text and "New project" in text
    assert launcher.project_windows() == []

    shutil.rmtree(kept)                                        # pruned (with a message) the next time
    again = launcher.show_welcome()
    assert recent.count() == 2 and again.recent_list.count() == 0
    assert str(kept) in again.statusBar().currentMessage()


def test_escape_closes_f1_and_help_has_guide_about_and_keys(qtbot, launcher, tmp_path):
    folder = tmp_path / "proj"
    Project.create(folder).close()
    win = launcher.open_project(folder)
    qtbot.waitExposed(win)
    win.activateWindow()
    qtbot.waitUntil(lambda: QtWidgets.QApplication.activeWindow() is win, timeout=5000)
    qtbot.keyClick(win.table, Key.Key_F1)
    assert win.overlay.isVisible()
    qtbot.keyClick(QtWidgets.QApplication.focusWidget(), Key.Key_Escape)
    assert not win.overlay.isVisible()
    (help_menu,) = [a.menu() for a in win.menuBar().actions() if a.text() == "&Help"]
    names = [a.text() for a in help_menu.actions() if a.text()]
    assert names == ["&Keyboard shortcuts", "&User guide", "&About metst"]
    help_menu.actions()[1].trigger()
    from metst_gui.shell.help import UserGuide

    guide = win.findChild(UserGuide)
    assert guide.isVisible() and "Keyboard" in guide.browser.toPlainText()
    guide.close()
    help_menu.actions()[-1].trigger()
    about = win.findChild(QtWidgets.QMessageBox, "aboutBox")
    import metst_engine

    assert f"metst {metst_engine.__version__}" in about.text() and "Feature format" in about.text()
    close_box(qtbot, about)
    assert [a.text() for a in win.menuBar().actions()][:2] == ["&File", "&Project"]


def test_metst_gui_video_analyzes_it_in_its_own_project_and_reuses_it(qtbot, tmp_path, monkeypatch):
    from metst_engine.synth import SynthConfig, generate
    from metst_gui.shell import app as gui_app
    from metst_gui.shell.main_window import MainWindow

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setattr(QtWidgets.QApplication, "exec", lambda *a: 0)
    monkeypatch.setattr("metst_gui.shell.main_window.default_settings",
                        lambda: QtCore.QSettings(str(tmp_path / "app.ini"), QtCore.QSettings.Format.IniFormat))
    ds = generate(tmp_path / "synth", SynthConfig(subjects=1, videos_per_subject=1, seconds=3.0, size=160,
                                                   me_per_minute=30.0, seed=3))
    video = ds.videos[0].path

    def opened() -> list[MainWindow]:
        return [w for w in QtWidgets.QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]

    assert gui_app.main([str(video), "--no-proxy", "--annotator", "alice"]) == 0
    (win,) = opened()
    assert video.name in win.windowTitle()
    assert win.analyzer.worker is not None and win.analyzer.progress.isVisible()     # analyzing, with progress
    qtbot.waitUntil(lambda: win.analyzer.worker is None, timeout=WAIT_MS)
    (record,) = win.project.videos()
    assert record.subject == video.parent.name and record.path == video
    assert win.project.curves(record.id) and win.project.runs()                    # curves and a prediction run
    assert win.timeline.spotting_curve is not None
    assert not win.project_actions.banner.isVisible()
    assert [a.text() for a in win.menuBar().actions()][:2] == ["&File", "&Project"]
    qtbot.keyClick(win.table, Key.Key_F1)
    assert win.overlay.isVisible()
    folder = win.project.folder
    assert str(folder).startswith(str(tmp_path / "data"))
    win.close()
    qtbot.waitUntil(lambda: opened() == [], timeout=5000)
    assert gui_app.main([str(video), "--no-proxy"]) == 0          # the second time: the same project, analyzed
    (again,) = opened()
    assert again.project.folder == folder and again.analyzer.worker is None
    assert again.timeline.spotting_curve is not None
    again.close()
    assert gui_app.main([str(tmp_path / "broken.mp4")]) == 1
