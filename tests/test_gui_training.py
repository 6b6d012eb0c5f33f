"""Training panel (issue 7): start a LOSO run from the form, follow it, show its results; cancel,
re-attach from another panel, resume to the same fold checkpoints as an uninterrupted run."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from metst_engine.run_report import METRIC_KEYS, read_run, reference_report
from metst_engine.training import TrainConfig, run_loso

TINY = {"depth": 1, "dim": 16}
RUN_TIMEOUT_MS = 300_000
#: Cancel test: enough epochs that a fold lasts seconds, so a cancel sent during fold s02 lands in it.
CANCEL_EPOCHS, CANCEL_SEED, BATCH = 30, 7, 8


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    """3 subjects x 1 video x 6 s (every fold's training subjects have micro-expressions)."""
    from metst_engine.synth import SynthConfig, generate

    out = tmp_path_factory.mktemp("synth")
    generate(out, SynthConfig(subjects=3, videos_per_subject=1, seconds=6, seed=0))
    return out


@pytest.fixture(scope="module")
def feature_cache(tmp_path_factory):
    """One feature cache for the in-process reference run and the panel's `metst train` processes."""
    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("METST_CACHE_DIR", str(cache))
        yield cache


@pytest.fixture(scope="module")
def uninterrupted(synth, feature_cache, tmp_path_factory):
    """The cancel test's settings run in one go, in this process (every video, as the panel trains)."""
    run = tmp_path_factory.mktemp("runs") / "uninterrupted"
    cfg = TrainConfig(dataset=str(synth / "manifest.csv"), model="metst", window=30, epochs=CANCEL_EPOCHS,
                      batch=BATCH, seed=CANCEL_SEED, model_overrides=TINY, videos="all")
    run_loso(cfg, run)
    return run


def _panel(qtbot, synth: Path, run_dir: Path, epochs: int, seed: int, batch: int):
    from metst_gui.training.training_panel import TrainingPanel

    panel = TrainingPanel()
    qtbot.addWidget(panel)
    panel.set_label_sources({"Imported ground truth": synth / "manifest.csv"})
    panel.form.window_spin.setValue(30)
    panel.form.epochs_spin.setValue(epochs)
    panel.form.batch_spin.setValue(batch)
    panel.form.seed_spin.setValue(seed)
    panel.form.overrides_edit.setText(json.dumps(TINY))
    panel.form.run_dir_edit.setText(str(run_dir))
    return panel


def _table_values(table) -> list[list]:
    from metst_gui.training.results_view import VALUE_ROLE

    return [[table.item(r, c).data(VALUE_ROLE) if table.item(r, c) else None for c in range(table.columnCount())]
            for r in range(table.rowCount())]


def _wait_results(qtbot, panel) -> None:
    qtbot.waitUntil(lambda: not panel.results.is_loading() and panel.results.report is not None, timeout=30_000)


def _tensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path))


def test_panel_runs_a_loso_run_and_shows_its_metrics(qtbot, synth, feature_cache, uninterrupted, tmp_path,
                                                     artifacts_dir):
    from metst_gui.training.results_view import METRIC_LABELS

    run = tmp_path / "run"
    panel = _panel(qtbot, synth, run, epochs=1, seed=0, batch=32)
    panel.resize(1400, 860)
    panel.show()
    assert panel.form.source_combo.currentText() == "Imported ground truth"
    assert panel.form.manifest_edit.text() == str(synth / "manifest.csv")
    with qtbot.waitSignal(panel.run_started, timeout=10_000):
        panel.start_button.click()
    assert panel.is_running() and not panel.start_button.isEnabled()
    qtbot.waitUntil(lambda: panel.outcome is not None, timeout=RUN_TIMEOUT_MS)
    assert panel.outcome == "finished", panel.progress_page.log_view.toPlainText()
    _wait_results(qtbot, panel)

    metrics = json.loads((run / "metrics.json").read_text())
    cfg = json.loads((run / "config.json").read_text())["config"]
    assert cfg["epochs"] == 1 and cfg["batch"] == 32 and cfg["window"] == 30 and cfg["model_overrides"] == TINY
    # overall table = metrics.json, row by row
    view = panel.results
    assert [view.summary_table.verticalHeaderItem(r).text() for r in range(len(METRIC_KEYS))] == \
        [METRIC_LABELS[k] for k in METRIC_KEYS]
    assert [row[0] for row in _table_values(view.summary_table)] == [metrics[k] for k in METRIC_KEYS]
    # per-subject table = every fold's metrics.json
    subjects = ["s01", "s02", "s03"]
    assert [view.subject_table.verticalHeaderItem(r).text() for r in range(3)] == subjects
    for s, row in zip(subjects, _table_values(view.subject_table)):
        fold = json.loads((run / "folds" / s / "metrics.json").read_text())
        assert row == [fold[k] for k in METRIC_KEYS]
        assert row == [metrics["per_subject"][s][k] for k in METRIC_KEYS]
    # confusion heatmap = the pooled confusion matrix
    conf = metrics["confusion"]
    assert conf["rows"] == ["negative", "positive", "surprise"] and conf["columns"][-1] == "unscored"
    assert _table_values(view.confusion_table) == conf["matrix"]
    assert [view.confusion_table.horizontalHeaderItem(c).text() for c in range(len(conf["columns"]))] == conf["columns"]
    # progress: every training done, one loss point per fold and the final model
    assert panel.progress_page.fold_bar.value() == panel.progress_page.fold_bar.maximum() == 4
    assert sorted(panel.progress_page.curves) == ["final", *subjects]
    assert "run_end" not in panel.progress_page.log_view.toPlainText() and "final_end final" in panel.progress_page.log_view.toPlainText()
    # "Use this model" hands the final checkpoint to the main window
    assert panel.use_button.isEnabled() and not panel.resume_button.isEnabled()
    with qtbot.waitSignal(panel.use_model_requested, timeout=5_000) as sig:
        panel.use_button.click()
    assert sig.args == [str(run / "final" / "model.safetensors"), str(run)]

    # reference-compatible counting: the engine's recount, shown in the same tables
    view.set_mode("reference")
    _wait_results(qtbot, panel)
    ref = reference_report(read_run(run))
    assert view.report.mode == "reference"
    assert [row[0] for row in _table_values(view.summary_table)] == [ref.pooled[k] for k in METRIC_KEYS]
    assert _table_values(view.confusion_table) == ref.confusion["matrix"]
    view.set_mode("megc")
    _wait_results(qtbot, panel)

    # a second run beside it, and the difference
    view.compare_with(uninterrupted)
    _wait_results(qtbot, panel)
    other = json.loads((uninterrupted / "metrics.json").read_text())
    values = _table_values(view.summary_table)
    assert view.summary_table.columnCount() == 3
    assert [row[1] for row in values] == [other[k] for k in METRIC_KEYS]
    assert [row[2] for row in values] == [other[k] - metrics[k] for k in METRIC_KEYS]
    assert _table_values(view.confusion_table) == conf["matrix"]
    assert _table_values(view.confusion_table_b) == other["confusion"]["matrix"]
    assert [row[-2:] for row in _table_values(view.subject_table)] == \
        [[other["per_subject"][s]["f1"], other["per_subject"][s]["strs"]] for s in subjects]

    # CSV export: the rows shown, numbers as numbers
    out = view.export_csv(tmp_path / "report.csv")
    rows = list(csv.reader(out.open(newline="")))
    assert rows[0] == ["run", "mode", "subject", *METRIC_KEYS]
    overall = [r for r in rows if len(r) > 2 and r[0] == str(run) and r[2] == "overall"]
    assert [float(x) for x in overall[0][3:]] == [float(metrics[k]) for k in METRIC_KEYS]
    assert sum(1 for r in rows if len(r) > 2 and r[2] == "overall") == 2

    panel.tabs.setCurrentWidget(view)
    qtbot.wait(100)
    panel.grab().save(str(artifacts_dir / "training_panel_results.png"))
    panel.tabs.setCurrentWidget(panel.progress_page)
    qtbot.wait(100)
    panel.grab().save(str(artifacts_dir / "training_panel_progress.png"))


def test_cancel_reattach_and_resume_give_the_uninterrupted_checkpoints(qtbot, synth, feature_cache, uninterrupted,
                                                                      tmp_path, monkeypatch):
    from metst_engine.runs import EXIT_CANCELLED
    from metst_gui.training import training_panel

    run = tmp_path / "run"
    first = _panel(qtbot, synth, run, epochs=CANCEL_EPOCHS, seed=CANCEL_SEED, batch=BATCH)
    assert first.start()
    assert not first.start()                                   # one run at a time
    qtbot.waitUntil(lambda: first.monitor.state.trainings.get("s02") is not None
                    and first.monitor.state.trainings["s02"].epoch >= 1, timeout=RUN_TIMEOUT_MS)

    # closing the app: "leave it running" detaches; the run goes on without the panel
    process = first.monitor.process
    monkeypatch.setattr(first, "_ask_close", lambda: training_panel.CLOSE_LEAVE)
    assert first.confirm_close() is True and first.monitor is None and process.poll() is None

    # another panel (another app) re-attaches to the running run from its folder and cancels it
    second = _panel(qtbot, synth, tmp_path / "unused", epochs=1, seed=0, batch=32)
    assert second.attach(run)
    assert second.is_running() and second.cancel_button.isEnabled()
    assert second.form.epochs_spin.value() == CANCEL_EPOCHS and second.form.seed_spin.value() == CANCEL_SEED
    second.cancel()
    qtbot.waitUntil(lambda: second.outcome is not None, timeout=RUN_TIMEOUT_MS)
    assert second.outcome == "cancelled", second.progress_page.log_view.toPlainText()
    assert process.wait(timeout=60) == EXIT_CANCELLED
    assert "continue with --resume" in second.progress_page.log_view.toPlainText()
    done = [s for s in ("s01", "s02", "s03") if (run / "folds" / s / "metrics.json").is_file()]
    assert done and done[0] == "s01" and len(done) < 3 and not (run / "metrics.json").exists()
    assert second.resume_button.isEnabled() and not second.use_button.isEnabled()
    _wait_results(qtbot, second)
    assert second.results.report.done_folds == done

    # resume from the re-attached panel; closing meanwhile asks first
    assert second.resume()
    monkeypatch.setattr(second, "_ask_close", lambda: training_panel.CLOSE_CANCEL)
    assert second.confirm_close() is False and second.is_running()
    qtbot.waitUntil(lambda: second.outcome is not None, timeout=RUN_TIMEOUT_MS)
    assert second.outcome == "finished", second.progress_page.log_view.toPlainText()
    assert second.confirm_close() is True                       # nothing running: no question
    events = [json.loads(line) for line in (run / "progress.jsonl").read_text().splitlines()]
    last_start = max(i for i, e in enumerate(events) if e["event"] == "run_start")
    assert [e["fold"] for e in events[last_start:] if e["event"] == "fold_skipped"] == done

    for rel in [f"folds/{s}/model.safetensors" for s in ("s01", "s02", "s03")] + ["final/model.safetensors"]:
        a, b = _tensors(uninterrupted / rel), _tensors(run / rel)
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a), rel
    assert json.loads((run / "metrics.json").read_text()) == json.loads((uninterrupted / "metrics.json").read_text())


def test_attach_to_a_finished_run_shows_it_and_refuses_to_start_over_it(qtbot, synth, feature_cache, uninterrupted):
    from metst_gui.training.training_panel import TrainingPanel

    panel = TrainingPanel()
    qtbot.addWidget(panel)
    assert panel.attach(uninterrupted)
    qtbot.waitUntil(lambda: panel.outcome is not None, timeout=10_000)
    assert panel.outcome == "finished" and not panel.is_running()
    _wait_results(qtbot, panel)
    metrics = json.loads((uninterrupted / "metrics.json").read_text())
    assert [row[0] for row in _table_values(panel.results.summary_table)] == [metrics[k] for k in METRIC_KEYS]
    assert panel.use_button.isEnabled() and not panel.cancel_button.isEnabled()
    assert not panel.start()                                    # the folder already holds a run
    assert "already holds a run" in panel.message.text()
    assert not panel.attach(uninterrupted / "folds")             # not a run folder
    assert "not a training run folder" in panel.message.text()


def test_ray_settings_reach_the_command_line_and_a_refused_run_shows_the_error(qtbot, synth, tmp_path):
    panel = _panel(qtbot, synth, tmp_path / "run", epochs=1, seed=0, batch=32)
    panel.form.where_combo.setCurrentIndex(panel.form.where_combo.findData("ray"))
    with pytest.raises(ValueError, match="address"):
        panel.settings()
    panel.form.ray_edit.setText("ray://head:10001")
    cmd = panel.settings().command()
    assert cmd[cmd.index("--executor") + 1] == "ray" and cmd[cmd.index("--ray-address") + 1] == "ray://head:10001"
    assert cmd[1:4] == ["-m", "metst_engine.cli", "train"]
    # the form is checked by TrainConfig.validate before anything starts (here: an unknown network option)
    panel.form.where_combo.setCurrentIndex(panel.form.where_combo.findData("local"))
    panel.form.overrides_edit.setText('{"no_such_option": 1}')
    assert not panel.start()
    assert panel.monitor is None and "no_such_option" in panel.message.text()
    # whatever metst train refuses, its one error line ends up in the panel (here: a manifest that is no CSV)
    panel.form.overrides_edit.setText("")
    bad = tmp_path / "bad.csv"
    bad.write_text("not,a,manifest\n")
    panel.form.source_combo.setCurrentIndex(panel.form.source_combo.findData(None))
    panel.form.manifest_edit.setText(str(bad))
    assert panel.start()
    qtbot.waitUntil(lambda: panel.outcome is not None, timeout=RUN_TIMEOUT_MS)
    assert panel.outcome == "failed"
    assert "error: " in panel.message.text() and "bad.csv" in panel.message.text()
    assert "bad.csv" in panel.progress_page.log_view.toPlainText()
    assert not (tmp_path / "run" / "config.json").exists() and not panel.resume_button.isEnabled()


def test_progress_state_counts_trainings_and_estimates_time_left():
    from metst_engine.runs import ProgressState
    from metst_gui.training.run_monitor import format_seconds

    state = ProgressState(final=True)
    state.apply({"event": "run_start", "subjects": ["s01", "s02", "s03"]})
    state.apply({"event": "fold_start", "fold": "s01"})
    for epoch in (1, 2):
        state.apply({"event": "epoch", "fold": "s01", "epoch": epoch, "epochs": 4, "losses": {"loss": 1.0 / epoch},
                     "seconds": 9.0 if epoch == 1 else 1.0})      # the first epoch pays for compilation
    assert state.names == ["s01", "s02", "s03", "final"] and state.current == "s01"
    assert state.mean_epoch_seconds() == 1.0 and state.current_eta() == 2.0
    assert state.run_eta() == 2.0 + 3 * 4 * 1.0
    state.apply({"event": "fold_end", "fold": "s01", "seconds": 14.0})        # 10 s in epochs, 4 s predicting and scoring
    assert state.trainings_done() == 1 and state.current is None
    assert state.run_eta() == 3 * (4 * 1.0 + 4.0)
    state.apply({"event": "fold_start", "fold": "s02"})
    state.apply({"event": "epoch", "fold": "s02", "epoch": 1, "epochs": 4, "losses": {"loss": 0.5}, "seconds": 1.0})
    state.apply({"event": "run_start", "subjects": ["s01", "s02", "s03"]})   # cancelled, resumed: s02 starts over
    assert state.trainings["s02"].losses == [] and state.trainings["s01"].done
    state.apply({"event": "fold_skipped", "fold": "s01"})
    assert state.trainings_done() == 1
    state.apply({"event": "run_end"})
    assert state.run_eta() == 0.0
    assert format_seconds(None) == "estimating…" and format_seconds(75) == "1:15" and format_seconds(3725) == "1:02:05"
