"""The review workspace on the demo project: every review step lands in the project store.

The demo project (3 synthetic subjects x 8 s, ground truth as annotator "dataset", the
model-free spotter's predictions and curves) is built once per module; each test works
on its own copy, so tests do not depend on each other. The store is re-read through a
fresh read-only ``Project.open`` after each step.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from project_support import demo_project
from PySide6 import QtCore, QtGui, QtWidgets

from metst_engine.project import Project

WAIT_MS = 30_000
Key = QtCore.Qt.Key
REVIEWER = "alice"


@pytest.fixture(scope="module")
def demo_source(tmp_path_factory) -> Path:
    from metst_gui.project.demo_project import ensure_demo_project

    with demo_project(tmp_path_factory) as folder:
        assert ensure_demo_project(folder) == folder            # a second launch finds it and builds nothing
        yield folder


@pytest.fixture
def folder(demo_source, tmp_path) -> Path:
    return Path(shutil.copytree(demo_source, tmp_path / "project"))


@pytest.fixture
def settings(tmp_path) -> QtCore.QSettings:
    return QtCore.QSettings(str(tmp_path / "gui.ini"), QtCore.QSettings.Format.IniFormat)


def make_window(qtbot, folder: Path, settings: QtCore.QSettings):
    from metst_gui.shell.main_window import MainWindow

    project = Project.open(folder, annotator=REVIEWER, read_only=False)
    win = MainWindow(project, settings, proxy=False, owns_project=True)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    win.activateWindow()
    return win


@pytest.fixture
def window(qtbot, folder, settings):
    win = make_window(qtbot, folder, settings)
    yield win
    win.close()


def stored(folder: Path, interval_id: int):
    with Project.open(folder, read_only=True) as p:
        return p.interval(interval_id)


def stored_intervals(folder: Path, video: str):
    with Project.open(folder, read_only=True) as p:
        return p.intervals(video)


def open_busy_video(window, qtbot):
    """The demo video with the most intervals, shown and decoded."""
    vid = window.project.video("s03_v01").id
    window.browser.select_video(vid)
    qtbot.waitUntil(lambda: window.player is not None and window.player.shown_index >= 0, timeout=WAIT_MS)
    return vid


def pending_rows(window):
    return [r for r in window.table.interval_model.records if r.state == "pending"]


def click_row(qtbot, table, interval_id: int) -> None:
    row = table.interval_model.row_of(interval_id)
    rect = table.visualRect(table.interval_model.index(row, 0))
    qtbot.mouseClick(table.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=rect.center())


def press(qtbot, window, key, modifier=QtCore.Qt.KeyboardModifier.NoModifier) -> None:
    qtbot.keyClick(window.table, key, modifier)


def show_around(qtbot, window, target, margin: int = 30) -> None:
    """The timeline stops following the playhead and shows ``target`` with ``margin`` frames either side."""
    window.timeline.set_follow_playhead(False)
    window.timeline.set_x_range(max(target.onset - margin, 0), target.offset + margin)
    qtbot.wait(50)


def edge_point(timeline, frame: float) -> QtCore.QPoint:
    """Where ``frame`` is on the editing plot (half-way up), in the timeline's viewport."""
    vb = timeline.editing_plot().getViewBox()
    y = sum(vb.viewRange()[1]) / 2
    p = timeline.graphics.mapFromScene(vb.mapViewToScene(QtCore.QPointF(frame, y)))
    return QtCore.QPoint(round(p.x()), round(p.y()))


def drag_with_events(qtbot, viewport, start: QtCore.QPoint, end: QtCore.QPoint,
                     modifier=QtCore.Qt.KeyboardModifier.NoModifier) -> None:
    """A left-button drag from ``start`` to ``end`` in ten moves, sent as mouse events that carry ``modifier``."""
    left = QtCore.Qt.MouseButton.LeftButton

    def send(kind, pos, buttons):
        event = QtGui.QMouseEvent(kind, QtCore.QPointF(pos), QtCore.QPointF(viewport.mapToGlobal(pos)), left, buttons,
                                  modifier)
        QtWidgets.QApplication.sendEvent(viewport, event)

    send(QtCore.QEvent.Type.MouseButtonPress, start, left)
    for k in range(1, 11):
        p = start + (end - start) * (k / 10)
        send(QtCore.QEvent.Type.MouseMove, QtCore.QPoint(round(p.x()), round(p.y())), left)
        qtbot.wait(5)
    send(QtCore.QEvent.Type.MouseButtonRelease, end, QtCore.Qt.MouseButton.NoButton)


def click_plot(qtbot, timeline, plot_name: str, frame: float, y: float) -> None:
    vb = timeline.plots[plot_name].getViewBox()
    pos = timeline.graphics.mapFromScene(vb.mapViewToScene(QtCore.QPointF(frame, y)))
    qtbot.mouseClick(timeline.graphics.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=pos)


# ------------------------------------------------------------------ open, play, step, seek
def test_open_play_step_and_seek_by_clicking_a_plot(qtbot, window):
    assert window.browser.topLevelItemCount() == 3                     # subjects
    open_busy_video(window, qtbot)
    player, timeline = window.player, window.timeline
    assert timeline.spotting_curve is not None and timeline.flow_curves   # curves registered in the project
    assert len(timeline.intervals) == len(window.table.interval_model.records) > 0
    assert {m.kind for m in timeline.intervals} == {"gt", "pred"}
    assert player.face_box is not None and player.zoom_button.isEnabled()   # from the curves file
    player.play()
    qtbot.waitUntil(lambda: player.index > 5, timeout=WAIT_MS)
    player.pause()
    here = player.index
    press(qtbot, window, Key.Key_Right)
    assert player.index == here + 1
    assert window.status_fields.frame_label.text().startswith(f"frame {here + 1} ")
    timeline.set_x_range(0, 239)
    qtbot.wait(50)
    click_plot(qtbot, timeline, "flow", 140, 0.5)
    assert abs(player.index - 140) <= 1 and timeline.playhead == player.index
    qtbot.waitUntil(lambda: player.shown_index == player.index and player.shown_exact, timeout=WAIT_MS)


# ------------------------------------------------------------------ review keys
def test_accept_reject_emotion_and_onset_keys_write_the_store(qtbot, window, folder):
    open_busy_video(window, qtbot)
    first, second, third = pending_rows(window)[:3]
    click_row(qtbot, window.table, first.id)
    assert window.session.selected == first.id
    assert window.player.index == first.onset                         # the player follows the table
    assert window.timeline.selected_region is not None                # so do the plots
    press(qtbot, window, Key.Key_A)
    assert stored(folder, first.id).state == "accepted"
    assert stored(folder, first.id).annotator == REVIEWER
    click_row(qtbot, window.table, second.id)
    press(qtbot, window, Key.Key_R)
    assert stored(folder, second.id).state == "rejected"
    click_row(qtbot, window.table, third.id)
    press(qtbot, window, Key.Key_2)
    after = stored(folder, third.id)
    assert (after.emotion, after.state, after.label_edited) == ("positive", "accepted", True)  # a label, not timing
    window.player.seek(third.onset + 1)
    press(qtbot, window, Key.Key_I)
    assert (stored(folder, third.id).onset, stored(folder, third.id).state) == (third.onset + 1, "corrected")
    window.player.seek(third.offset - 1)
    press(qtbot, window, Key.Key_O)
    assert stored(folder, third.id).offset == third.offset - 1
    window.player.seek(third.onset + 2)
    press(qtbot, window, Key.Key_X)
    assert stored(folder, third.id).apex == third.onset + 2
    window.player.seek(third.offset + 20)                              # an onset after the offset is refused
    press(qtbot, window, Key.Key_I)
    assert stored(folder, third.id).onset == third.onset + 1
    assert "onset" in window.statusBar().currentMessage()
    table_state = {r.id: r.state for r in window.table.interval_model.records}
    assert table_state[first.id] == "accepted" and table_state[second.id] == "rejected"
    pending = sum(r.state == "pending" for r in window.table.interval_model.records)
    assert window.browser.topLevelItem(2).child(0).text(1).startswith(f"{pending} pending of ")


def test_add_and_next_pending(qtbot, window, folder):
    open_busy_video(window, qtbot)
    before = {r.id for r in stored_intervals(folder, "s03_v01")}
    window.player.seek(100)
    press(qtbot, window, Key.Key_M)
    added = [r for r in stored_intervals(folder, "s03_v01") if r.id not in before]
    assert len(added) == 1 and added[0].source == "manual" and added[0].onset == 100
    assert window.session.selected == added[0].id                      # the new interval is selected
    press(qtbot, window, Key.Key_N)
    nxt = stored(folder, window.session.selected)
    assert nxt.state == "pending" and nxt.onset > 100
    assert window.table.selected_id() == nxt.id
    press(qtbot, window, Key.Key_N)
    assert stored(folder, window.session.selected).onset > nxt.onset or len(pending_rows(window)) == 1


def test_drag_an_edge_of_the_selected_interval(qtbot, window, folder):
    open_busy_video(window, qtbot)
    target = pending_rows(window)[0]
    click_row(qtbot, window.table, target.id)
    show_around(qtbot, window, target)
    timeline = window.timeline
    drag_with_events(qtbot, timeline.graphics.viewport(), edge_point(timeline, target.offset + 0.5),
                     edge_point(timeline, target.offset + 6.5))
    after = stored(folder, target.id)
    assert after.onset == target.onset
    assert abs(after.offset - (target.offset + 6)) <= 1
    assert after.state == "corrected"
    assert window.session.stacks.group.activeStack().count() == 1


def test_undo_and_redo_with_keys(qtbot, window, folder):
    open_busy_video(window, qtbot)
    target = pending_rows(window)[0]
    click_row(qtbot, window.table, target.id)
    press(qtbot, window, Key.Key_A)
    press(qtbot, window, Key.Key_3)
    assert stored(folder, target.id).emotion == "surprise"
    ctrl = QtCore.Qt.KeyboardModifier.ControlModifier
    press(qtbot, window, Key.Key_Z, ctrl)
    assert stored(folder, target.id).state == "accepted" and stored(folder, target.id).emotion == target.emotion
    press(qtbot, window, Key.Key_Z, ctrl)
    assert stored(folder, target.id).state == "pending"
    assert not stored(folder, target.id).touched
    press(qtbot, window, Key.Key_Z, ctrl | QtCore.Qt.KeyboardModifier.ShiftModifier)
    assert stored(folder, target.id).state == "accepted"
    press(qtbot, window, Key.Key_M)                                    # undo of an add removes the row
    added = window.session.selected
    press(qtbot, window, Key.Key_Z, ctrl)
    assert added not in {r.id for r in stored_intervals(folder, "s03_v01")}
    assert window.session.selected is None
    # each video has its own stack
    window.browser.select_video(window.project.video("s01_v01").id)
    assert window.session.stacks.group.activeStack().count() == 0
    assert not window.actions_by_name["undo"].isEnabled()


# ------------------------------------------------------------------ Analyze
def test_analyze_can_be_cancelled_then_adds_a_new_run(qtbot, window, folder):
    vid = open_busy_video(window, qtbot)
    reviewed = pending_rows(window)[0]
    click_row(qtbot, window.table, reviewed.id)
    press(qtbot, window, Key.Key_A)
    runs_before = len(window.project.runs())
    window.analyzer.use_cache = False                                   # so there is something to cancel
    assert window.analyze([vid])
    window.analyzer.cancel()
    qtbot.waitUntil(lambda: window.analyzer.worker is None, timeout=WAIT_MS)
    assert "cancelled" in window.statusBar().currentMessage()
    assert len(window.project.runs()) == runs_before
    window.analyzer.use_cache = True
    menus = [m for m in window.findChildren(QtWidgets.QMenu) if m.title() == "Analyze &alignment"]
    assert len(menus) == 1 and len(menus[0].actions()) == 3           # Project > Analyze alignment
    window.analyzer.alignment_actions["public"].trigger()                       # what choosing the menu item does
    assert window.analyzer.alignment_actions["public"].isChecked() and not window.analyzer.alignment_actions[None].isChecked()
    assert window.analyze([vid])
    assert window.analyzer.progress.isVisible()
    qtbot.waitUntil(lambda: window.analyzer.worker is None, timeout=120_000)
    with Project.open(folder, read_only=True) as p:
        assert len(p.runs()) == runs_before + 1
        new_run = p.runs()[-1]
        assert new_run.predictor == "baseline"
        assert new_run.params["alignment"] == "public"                 # the run records the chosen alignment
        assert p.curves(vid)[-1].run_id == new_run.id
        assert p.interval(reviewed.id).state == "accepted"             # a reviewed interval survives re-analysis
        predicted = p.intervals(vid, sources=["predicted"], states=["pending"])
        assert predicted and all(r.run_id == new_run.id for r in predicted)


# ------------------------------------------------------------------ training panel
def test_training_panel_gets_manifests_records_runs_and_uses_models(qtbot, window, folder, tmp_path, monkeypatch):
    open_busy_video(window, qtbot)
    sources = window.refresh_label_sources()
    assert list(sources) == ["Imported ground truth"]                  # nothing reviewed complete yet
    target = pending_rows(window)[0]
    click_row(qtbot, window.table, target.id)
    press(qtbot, window, Key.Key_A)
    asked = []

    def cancel_dialog() -> None:                                       # refused: intervals still pending
        dialog = QtWidgets.QApplication.activeModalWidget()
        if dialog is None:
            QtCore.QTimer.singleShot(20, cancel_dialog)
            return
        asked.append(dialog.text())
        qtbot.mouseClick(dialog.findChild(QtWidgets.QPushButton, "cancelComplete"), QtCore.Qt.MouseButton.LeftButton)
    QtCore.QTimer.singleShot(0, cancel_dialog)
    window.complete_action.trigger()
    assert not window.project.video("s03_v01").complete and not window.complete_action.isChecked()
    assert "still pending" in asked[0]
    qtbot.waitUntil(lambda: QtWidgets.QApplication.activeWindow() is window, timeout=WAIT_MS)
    for row in pending_rows(window):
        click_row(qtbot, window.table, row.id)
        press(qtbot, window, Key.Key_R)
    window.complete_action.trigger()
    assert window.project.video("s03_v01").complete
    combo = window.training.form.source_combo
    offered = [combo.itemText(i) for i in range(combo.count())]
    assert {"Reviewed annotations", "Imported ground truth", "Reviewed + ground truth"} <= set(offered)
    reviewed = Path(combo.itemData(offered.index("Reviewed annotations")))
    assert f",{target.onset}," in reviewed.read_text(encoding="utf-8")

    run = tmp_path / "run1"
    (run / "final").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"model": "metst", "epochs": 2}), encoding="utf-8")
    checkpoint = run / "final" / "model.safetensors"
    _tiny_checkpoint(checkpoint)
    window.training.run_ended.emit(str(run), "finished")
    with Project.open(folder, read_only=True) as p:
        recorded = p.runs()[-1]
    assert recorded.params["checkpoint"] == str(checkpoint) and recorded.params["config"]["epochs"] == 2
    assert window.training.history.row_of(run) >= 0                    # listed under Past runs at once

    runs_before = len(window.project.runs())
    window.training.use_model_requested.emit(str(checkpoint), str(run))
    assert window.analyzer.worker is not None and window.analyzer.worker.checkpoint == str(checkpoint)
    qtbot.waitUntil(lambda: window.analyzer.worker is None, timeout=120_000)
    with Project.open(folder, read_only=True) as p:
        assert len(p.runs()) == runs_before + 1 and p.runs()[-1].predictor == str(checkpoint)
        assert p.interval(target.id).state == "accepted"               # never overwritten

    import threading

    import metst_gui.training.results_view as results_view

    slow_disk = threading.Event()                                      # a report still being read at closing
    real_report = results_view.report_for_mode
    monkeypatch.setattr(results_view, "report_for_mode", lambda *a: (slow_disk.wait(5), real_report(*a))[1])
    window.training.results.show_run(run)
    threading.Timer(0.3, slow_disk.set).start()
    window.close()                                                      # waits for the thread (else Qt aborts)
    assert not any(t.isRunning() for t in window.training.results.findChildren(QtCore.QThread))
    window.training.results.show_run(run)                              # a queued "show" after the close
    assert not any(t.isRunning() for t in window.training.results.findChildren(QtCore.QThread))


def _tiny_checkpoint(path: Path) -> None:
    from metst_engine.intervals import EMOTIONS
    from metst_engine.models import CheckpointMeta, build_model, save_checkpoint
    from metst_engine.rois import load_roi_set

    save_checkpoint(path, build_model("metst", seed=0),
                    CheckpointMeta(roi_set="metst", channel_names=load_roi_set("metst").channel_names, window=30,
                                   frame_skip=1, fps=30.0, class_names=list(EMOTIONS), k_prime=4, threshold_p=0.55))


# ------------------------------------------------------------------ export, agreement, shortcuts, layout
def test_export_dialog_writes_csv_xlsx_and_eaf(qtbot, window, tmp_path):
    from metst_gui.project.export_dialog import ExportDialog

    open_busy_video(window, qtbot)
    dialog = ExportDialog(window.project, window.session.video, window)
    qtbot.addWidget(dialog)
    for fmt, name in (("CSV", "all.csv"), ("XLSX", "all.xlsx"), ("EAF (ELAN)", "s03.eaf")):
        dialog.set_format(fmt)
        if fmt != "EAF (ELAN)":
            dialog.scope_box.setCurrentIndex(0)                        # all videos
        dialog.path_edit.setText(str(tmp_path / name))
        out = dialog.export()
        assert out is not None and out.stat().st_size > 0, dialog.result_label.text()
    text = (tmp_path / "all.csv").read_text(encoding="utf-8-sig")
    assert "s01_v01" in text and "s03_v01" in text
    assert "ANNOTATION" in (tmp_path / "s03.eaf").read_text(encoding="utf-8")


def test_agreement_view_shows_kappa_and_f1(qtbot, window):
    from metst_gui.review.agreement_view import AgreementView

    open_busy_video(window, qtbot)
    for r in pending_rows(window)[:3]:
        click_row(qtbot, window.table, r.id)
        press(qtbot, window, Key.Key_A)
    view = AgreementView(window.project, window)
    qtbot.addWidget(view)
    view.a_box.setCurrentText(REVIEWER)
    view.b_box.setCurrentText("dataset")
    ag = view.agreement
    assert ag is not None and ag.events_a == 3 and ag.events_b > 0
    assert 0.0 < ag.event_f1 <= 1.0 and -1.0 <= ag.kappa <= 1.0
    assert "kappa" in view.result.text() and f"{ag.event_f1:.3f}" in view.result.text()


def test_rebinding_a_key_works_and_persists(qtbot, folder, settings):
    win = make_window(qtbot, folder, settings)
    open_busy_video(win, qtbot)
    target, other = pending_rows(win)[:2]
    assert win.shortcuts.rebind("accept", "R") is not None             # taken by reject: refused
    assert win.shortcuts.rebind("accept", "K") is None
    click_row(qtbot, win.table, target.id)
    press(qtbot, win, Key.Key_A)
    assert stored(folder, target.id).state == "pending"                # A does nothing now
    press(qtbot, win, Key.Key_K)
    assert stored(folder, target.id).state == "accepted"
    win.overlay.toggle()
    assert win.overlay.isVisible()
    assert win.overlay.editors["accept"].keySequence().toString() == "K"
    win.close()
    again = make_window(qtbot, folder, settings)                       # the next session keeps it
    open_busy_video(again, qtbot)
    click_row(qtbot, again.table, other.id)
    press(qtbot, again, Key.Key_K)
    assert stored(folder, other.id).state == "accepted"
    again.close()


def test_layout_is_restored_between_sessions(qtbot, folder, settings):
    win = make_window(qtbot, folder, settings)
    win.table_dock.hide()
    win.tabs.setCurrentWidget(win.training_page)
    win.close()
    again = make_window(qtbot, folder, settings)
    assert not again.table_dock.isVisible() and again.tabs.currentWidget() is again.training_page
    again.close()


def test_closing_asks_the_training_panel(qtbot, window, monkeypatch):
    monkeypatch.setattr(window.training, "confirm_close", lambda: False)
    window.close()
    assert window.isVisible()
    monkeypatch.undo()


# ------------------------------------------------------------------ screenshot
def test_screenshot_of_the_review_workspace(qtbot, window, artifacts_dir):
    open_busy_video(window, qtbot)
    accepted, rejected, target = pending_rows(window)[:3]
    for row, key in ((accepted, Key.Key_A), (rejected, Key.Key_R)):   # all review colours on show
        click_row(qtbot, window.table, row.id)
        press(qtbot, window, key)
    click_row(qtbot, window.table, target.id)
    qtbot.waitUntil(lambda: window.player.shown_index == target.onset and window.player.shown_exact, timeout=WAIT_MS)
    qtbot.wait(100)
    path = artifacts_dir / "review_main_window.png"
    assert window.grab().save(str(path))
    assert path.stat().st_size > 10_000


# ------------------------------------------------------------------ refusals and entry points
def test_an_undo_the_store_refuses_is_reported_and_changes_nothing(qtbot, window, folder):
    open_busy_video(window, qtbot)
    target = pending_rows(window)[0]
    click_row(qtbot, window.table, target.id)
    press(qtbot, window, Key.Key_A)
    window.project.reject(target.id)                                   # changed outside the undo stack
    press(qtbot, window, Key.Key_Z, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert stored(folder, target.id).state == "rejected"
    assert "not applied" in window.statusBar().currentMessage()


def test_a_read_only_project_shows_why_and_refuses_edits(qtbot, folder, settings):
    from metst_gui.shell.main_window import MainWindow

    with Project.open(folder, annotator="bob", read_only=False) as editor:   # another editor holds it
        viewer = Project.open(folder, annotator=REVIEWER)
        assert viewer.read_only
        win = MainWindow(viewer, settings, proxy=False, owns_project=True)
        qtbot.addWidget(win)
        win.show()
        qtbot.waitExposed(win)
        assert "read-only" in win.windowTitle()
        open_busy_video(win, qtbot)
        target = pending_rows(win)[0]
        click_row(qtbot, win.table, target.id)
        press(qtbot, win, Key.Key_A)
        assert editor.interval(target.id).state == "pending"
        assert "open for editing" in win.statusBar().currentMessage()
        assert not win.analyze([target.video_id])
        win.close()


def test_metst_gui_opens_a_project_folder_and_the_demo(qtbot, folder, monkeypatch, tmp_path):
    from metst_gui.shell import app as gui_app
    from metst_gui.shell.main_window import MainWindow

    monkeypatch.setattr(QtWidgets.QApplication, "exec", lambda *a: 0)
    monkeypatch.setattr("metst_gui.shell.main_window.default_settings",
                        lambda: QtCore.QSettings(str(tmp_path / "app.ini"), QtCore.QSettings.Format.IniFormat))
    monkeypatch.setenv("METST_DEMO_DIR", str(folder))                  # already built: opened as it is

    def opened() -> list[MainWindow]:
        return [w for w in QtWidgets.QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]

    for argv in ([str(folder)], ["--demo"]):
        assert gui_app.main(argv) == 0
        wins = opened()
        assert len(wins) == 1 and wins[0].project.folder == folder
        wins[0].close()
        wins[0].deleteLater()
    assert gui_app.main([str(tmp_path / "nothing-here")]) == 1


def test_next_pending_moves_on_to_another_video_when_this_one_is_done(qtbot, window, folder):
    first = window.project.video("s01_v01")
    window.browser.select_video(first.id)
    qtbot.waitUntil(lambda: window.player is not None, timeout=WAIT_MS)
    for r in pending_rows(window):
        click_row(qtbot, window.table, r.id)
        press(qtbot, window, Key.Key_A)
    assert not pending_rows(window)
    press(qtbot, window, Key.Key_N)
    assert window.session.video.name != "s01_v01"
    chosen = stored(folder, window.session.selected)
    assert chosen.state == "pending" and chosen.video_id == window.session.video.id
    assert window.browser.current_video_id() == window.session.video.id
