"""Training panel for a project (issue 19): a short form with "Advanced" folded away, a run folder
made inside the project, "Reviewed annotations" always listed (with why it is not usable yet), past
runs listed again after a restart (a run still going is followed again), time left gone after Cancel.

``metst train`` is replaced by tests/fake_metst_train.py (a run folder written as a real run writes
it, in no time), through ``metst_engine.runs.process.metst_command``."""

from __future__ import annotations

import datetime
import sys
from pathlib import Path

import pytest
from PySide6 import QtCore
from PySide6.QtTest import QTest

from metst_engine.model_catalog import model_info
from metst_engine.runs import TrainConfig, config_defaults, run_folder_name

FAKE = Path(__file__).with_name("fake_metst_train.py")
LEFT_BUTTON = QtCore.Qt.MouseButton.LeftButton


@pytest.fixture
def fake_train(monkeypatch):
    from metst_engine.runs import process

    monkeypatch.setattr(process, "metst_command", lambda: [sys.executable, str(FAKE)])
    monkeypatch.setenv("FAKE_TRAIN", "finish")
    return monkeypatch


@pytest.fixture
def project(tmp_path):
    from project_support import project_with, two_clips

    clips = two_clips(tmp_path / "clips")
    p = project_with(tmp_path / "proj", {"a": (clips["a"], "s01"), "b": (clips["b"], "s02")})
    yield p
    p.close()


def _panel_for(qtbot, project):
    """The training tab as the main window makes it: panel + its link to the store."""
    from metst_gui.training.project_link import TrainingLink
    from metst_gui.training.training_panel import TrainingPanel

    panel = TrainingPanel()
    qtbot.addWidget(panel)
    said: list[str] = []
    link = TrainingLink(project, panel, lambda text, *_: said.append(text))
    link.refresh_label_sources()
    panel.resize(1400, 860)
    panel.show()
    qtbot.waitExposed(panel)
    return panel, link


def _visible_rows(form_layout, top) -> list[str]:
    from PySide6 import QtWidgets

    labels = []
    for row in range(form_layout.rowCount()):
        item = form_layout.itemAt(row, QtWidgets.QFormLayout.ItemRole.LabelRole)
        if item is not None and item.widget().isVisibleTo(top) and item.widget().text():
            labels.append(item.widget().text())
    return labels


def _click_row(qtbot, table, row: int) -> None:
    rect = table.visualItemRect(table.item(row, 0))
    QTest.mouseClick(table.viewport(), LEFT_BUTTON, QtCore.Qt.KeyboardModifier.NoModifier, rect.center())


def test_simple_form_has_three_fields_and_advanced_opens_with_the_engine_defaults(qtbot, project, tmp_path):
    panel, _ = _panel_for(qtbot, project)
    form = panel.form
    gt = tmp_path / "gt.csv"
    gt.write_text("x\n")
    panel.set_label_sources({"Reviewed annotations": gt})
    assert _visible_rows(form.simple, panel) == ["Labels", "Model", "Epochs"]
    assert not form.advanced.is_expanded() and not form.batch_spin.isVisibleTo(panel)
    # defaults are the engine's: TrainConfig's and the model catalog's
    d = config_defaults()
    assert form.epochs_spin.value() == model_info(d["model"]).epochs
    assert form.batch_spin.value() == d["batch"] and form.ratio_spin.value() == d["ratio"]
    assert form.window_spin.value() == d["window"] and form.seed_spin.value() == d["seed"]
    assert str(model_info(d["model"]).lr) in form.lr_edit.placeholderText().replace("0.0003", "3e-4") or \
        f"{model_info(d['model']).lr:g}" in form.lr_edit.placeholderText()
    QTest.mouseClick(form.advanced.toggle, LEFT_BUTTON)
    assert form.advanced.is_expanded() and form.batch_spin.isVisibleTo(panel)
    assert "Run folder" in _visible_rows(form.advanced.body.layout(), panel)
    expected = run_folder_name(d["model"], "Reviewed annotations")
    assert form.run_dir_edit.placeholderText().endswith(str(Path("runs") / expected))
    # folded again, then every wrong field gets its own message beside it, and Advanced opens to show them
    QTest.mouseClick(form.advanced.toggle, LEFT_BUTTON)
    assert not form.advanced.is_expanded()
    form.lr_edit.clear()
    QTest.keyClicks(form.lr_edit, "fast")
    form.overrides_edit.clear()
    QTest.keyClicks(form.overrides_edit, '{"no_such_option": 1}')
    form.window_spin.setValue(4)
    form.window_spin.lineEdit().selectAll()
    QTest.keyClicks(form.window_spin.lineEdit(), "5")
    QTest.mouseClick(panel.start_button, LEFT_BUTTON)
    assert panel.monitor is None and form.advanced.is_expanded()
    shown = {k: e.text() for k, e in form.errors.items() if e.isVisibleTo(panel)}
    assert set(shown) == {"lr", "window", "model_overrides"}, shown
    assert "'fast' is not a number" in shown["lr"] and "even number" in shown["window"]
    assert "no_such_option" in shown["model_overrides"]
    assert "no_such_option" in panel.message.text()
    assert not list((project.folder / "runs").glob("*"))       # nothing was created for a refused start


def test_reviewed_source_is_listed_with_a_hint_until_a_video_is_complete(qtbot, project):
    panel, link = _panel_for(qtbot, project)
    combo = panel.form.source_combo
    i = combo.findText("Reviewed annotations")
    assert i >= 0 and not combo.model().item(i).isEnabled()
    tip = combo.itemData(i, QtCore.Qt.ItemDataRole.ToolTipRole)
    assert "0 of 2 videos are review-complete" in tip and "Completing a video's review" in tip
    assert panel.form.source_hint.isVisibleTo(panel) and "0 of 2" in panel.form.source_hint.text()
    assert combo.currentText() == "Manifest file…"                # nothing usable yet: the user's own file
    project.set_complete("a")
    link.refresh_label_sources()
    i = combo.findText("Reviewed annotations")
    assert combo.model().item(i).isEnabled() and combo.currentText() == "Reviewed annotations"
    assert "Reviewed annotations" not in panel.form.source_hint.text()
    assert "no video has imported ground truth" in panel.form.source_hint.text()      # that one still waits
    assert _visible_rows(panel.form.simple, panel) == ["Labels", "Model", "Epochs"]


def test_start_with_defaults_makes_a_run_folder_in_the_project_and_a_restart_lists_it(qtbot, project, fake_train):
    project.set_complete("a")
    panel, _ = _panel_for(qtbot, project)
    assert panel.form.source_combo.currentText() == "Reviewed annotations"
    with qtbot.waitSignal(panel.run_started, timeout=30_000):
        QTest.mouseClick(panel.start_button, LEFT_BUTTON)
    run = project.folder / "runs" / run_folder_name("metst", "Reviewed annotations", datetime.date.today())
    assert panel.run_dir == run and run.is_dir()
    qtbot.waitUntil(lambda: panel.outcome is not None, timeout=30_000)
    assert panel.outcome == "finished", panel.progress_page.log_view.toPlainText()
    cfg = TrainConfig.from_dict(__import__("json").loads((run / "config.json").read_text())["config"])
    assert cfg.epochs == model_info("metst").epochs and cfg.batch == config_defaults()["batch"]
    # a second start with the same settings gets a folder of its own
    with qtbot.waitSignal(panel.run_started, timeout=30_000):
        QTest.mouseClick(panel.start_button, LEFT_BUTTON)
    assert panel.run_dir == run.with_name(run.name + "-2")
    qtbot.waitUntil(lambda: panel.outcome is not None, timeout=30_000)
    assert panel.history.table.rowCount() == 2
    panel.close()

    # restart: a new panel lists both runs with status, model, labels and metrics
    again, _ = _panel_for(qtbot, project)
    table = again.history.table
    assert table.rowCount() == 2
    row = again.history.row_of(run)
    cells = [table.item(row, c).text() for c in range(table.columnCount())]
    assert cells[0] == "finished" and cells[2] == "metst" and cells[3] == "Reviewed annotations"
    assert cells[4] == "2/2" and cells[5:] == ["0.500", "0.500", "0.500"]
    assert again.monitor is None                                # nothing is going: nothing followed
    _click_row(qtbot, table, row)
    qtbot.waitUntil(lambda: not again.results.is_loading() and again.results.report is not None, timeout=10_000)
    assert again.results.report.run_dir == run and again.tabs.currentWidget() is again.results
    assert again.use_button.isEnabled() is False               # the fake run has no final model
    assert again.form.source_combo.currentText() == "Reviewed annotations"   # the run's labels, by name
    recorded = [r.params["run_dir"] for r in project.runs() if r.params.get("kind") == "training"]
    assert sorted(recorded) == [str(run), str(run) + "-2"]     # looking at a run again does not record it again


def test_cancel_clears_time_left_and_a_run_left_going_is_followed_after_restart(qtbot, project, fake_train):
    from metst_gui.training import training_panel

    fake_train.setenv("FAKE_TRAIN", "wait")
    project.set_complete("a")
    first, _ = _panel_for(qtbot, project)
    QTest.mouseClick(first.start_button, LEFT_BUTTON)
    assert first.history.table.item(0, 0).text() == "running"          # listed at once, as going
    qtbot.waitUntil(lambda: "s01" in first.monitor.state.trainings and first.monitor.state.trainings["s01"].epoch,
                    timeout=30_000)
    # the fake's one epoch took 60 s: 49 more in s01, then 50 for s02 and 50 for the final model
    assert first.progress_page.fold_label.text() == "Folds — 2:29:00 left"
    run, process = first.run_dir, first.monitor.process
    fake_train.setattr(first, "_ask_close", lambda: training_panel.CLOSE_LEAVE)
    assert first.confirm_close() and process.poll() is None
    first.close()

    second, _ = _panel_for(qtbot, project)                      # the app starts again
    assert second.run_dir == run and second.is_running()
    row = second.history.row_of(run)
    assert second.history.table.item(row, 0).text() == "running"
    assert second.progress_page.epoch_label.text() == "Epochs — 49:00 left"
    QTest.mouseClick(second.cancel_button, LEFT_BUTTON)
    page = second.progress_page
    assert "left" not in page.fold_label.text() and "left" not in page.epoch_label.text()
    qtbot.waitUntil(lambda: second.outcome is not None, timeout=30_000)
    assert second.outcome == "cancelled", page.log_view.toPlainText()
    assert "left" not in page.fold_label.text() and "left" not in page.epoch_label.text()
    assert second.history.table.item(second.history.row_of(run), 0).text() == "cancelled"
    assert process.wait(timeout=10) == 4

