"""The training & evaluation panel: configure a LOSO run, follow it, cancel / resume it, show results.

A self-contained widget the review main window docks or tabs. It starts ``metst train`` as
a separate process (``metst_engine.runs``), follows it only through the run folder
(``run_monitor``; the same path re-attaches to a run that outlived the app) and shows
results through ``results_view``. No training code runs in the GUI process.

The main window connects:

- ``set_label_sources({"Imported ground truth": manifest, "Reviewed annotations": ..., ...})``:
  manifests the project store exports; "Manifest file…" stays for any other manifest.
- ``use_model_requested(checkpoint, run_dir)``: "Use this model" was pressed; re-predict the
  chosen videos with ``checkpoint`` as a new prediction run.
- ``run_started(run_dir)`` / ``run_ended(run_dir, outcome)``: record the run (its parameters and
  final checkpoint, read through ``metst_engine.runs.RunFolder``) in the project.
- ``confirm_close()`` from its closeEvent: False means "do not close".
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from metst_engine.errors import MetstError
from metst_engine.model_catalog import CATALOG, DEFAULT_MODEL, model_info, per_model
from metst_engine.rois import available_roi_sets
from metst_engine.runs import RunFolder, TrainConfig, TrainLaunch, request_stop
from metst_gui.training.results_view import ResultsView
from metst_gui.training.run_monitor import RunMonitor, format_seconds

MANIFEST_FILE = "Manifest file…"
STRATEGIES = {"spotting_mainly": "spotting mainly (the authors' default)",
              "result_synergy": "result synergy (drop neutral-majority spots)", "none": "none (spotting only)"}
CLOSE_STOP, CLOSE_LEAVE, CLOSE_CANCEL = "stop", "leave", "cancel"


class TrainingPanel(QtWidgets.QWidget):
    """Launch form (left), progress / results tabs (right)."""

    run_started = QtCore.Signal(str)                    # run folder
    run_ended = QtCore.Signal(str, str)                 # run folder, outcome (finished|cancelled|failed|stopped)
    use_model_requested = QtCore.Signal(str, str)       # checkpoint, run folder

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.run_dir: Path | None = None
        self.monitor: RunMonitor | None = None
        self.outcome: str | None = None
        self._curves: dict[str, pg.PlotDataItem] = {}
        self._build_form()
        self._build_progress()
        self.results = ResultsView()
        self.tabs = QtWidgets.QTabWidget()
        self.tabs.addTab(self.progress_page, "Progress")
        self.tabs.addTab(self.results, "Results")
        split = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal)
        split.addWidget(self.form_page)
        split.addWidget(self.tabs)
        split.setStretchFactor(1, 1)
        split.setSizes([380, 820])
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(split)
        self._refresh_buttons()

    # ================================================================== form
    def _build_form(self) -> None:
        self.source_combo = QtWidgets.QComboBox()
        self.source_combo.addItem(MANIFEST_FILE, None)
        self.source_combo.currentIndexChanged.connect(self._source_changed)
        self.manifest_edit = QtWidgets.QLineEdit()
        self.manifest_edit.setPlaceholderText("dataset manifest CSV (or a folder holding manifest.csv)")
        manifest_browse = QtWidgets.QPushButton("…")
        manifest_browse.setFixedWidth(28)
        manifest_browse.clicked.connect(self._browse_manifest)
        self.model_combo = QtWidgets.QComboBox()
        for model in CATALOG.values():
            self.model_combo.addItem(model.label, model.name)
        self.rois_combo = QtWidgets.QComboBox()
        self.rois_combo.addItem("the model's own", None)
        for name in available_roi_sets():
            self.rois_combo.addItem(name, name)
        self.window_spin = self._spin(4, 1000, model_info(DEFAULT_MODEL).window, step=2)
        self.skip_spin = self._spin(0, 100, 0, special="auto (fps / 30)")
        self.epochs_spin = self._spin(0, 10000, 0, special=f"model default ({per_model('epochs')})")
        self.lr_edit = QtWidgets.QLineEdit()
        self.lr_edit.setPlaceholderText(f"model default ({per_model('lr')})")
        self.batch_spin = self._spin(1, 100000, 256)
        self.ratio_spin = QtWidgets.QDoubleSpinBox()
        self.ratio_spin.setRange(0.01, 1000)
        self.ratio_spin.setDecimals(2)
        self.ratio_spin.setValue(4.0)
        self.synergy_check = QtWidgets.QCheckBox("neutral class in the loss (feature-level)")
        self.synergy_check.setChecked(True)
        self.strategy_combo = QtWidgets.QComboBox()
        for key, label in STRATEGIES.items():
            self.strategy_combo.addItem(label, key)
        self.seed_spin = self._spin(0, 2**31 - 1, 0)
        self.final_check = QtWidgets.QCheckBox("train a final model on all subjects")
        self.final_check.setChecked(True)
        self.overrides_edit = QtWidgets.QLineEdit()
        self.overrides_edit.setPlaceholderText('network options as JSON, e.g. {"depth": 2}')
        self.where_combo = QtWidgets.QComboBox()
        self.where_combo.addItem("This machine", "local")
        self.where_combo.addItem("Ray cluster", "ray")
        self.ray_edit = QtWidgets.QLineEdit()
        self.ray_edit.setPlaceholderText("ray://head:10001 or auto")
        self.where_combo.currentIndexChanged.connect(lambda _: self.ray_edit.setEnabled(self._where() == "ray"))
        self.ray_edit.setEnabled(False)
        self.run_dir_edit = QtWidgets.QLineEdit()
        self.run_dir_edit.setPlaceholderText("new run folder")
        run_browse = QtWidgets.QPushButton("…")
        run_browse.setFixedWidth(28)
        run_browse.clicked.connect(self._browse_run_dir)

        form = QtWidgets.QFormLayout()
        form.addRow("Labels", self.source_combo)
        form.addRow("Manifest", self._row(self.manifest_edit, manifest_browse))
        form.addRow("Model", self.model_combo)
        form.addRow("ROI set", self.rois_combo)
        form.addRow("Window k", self.window_spin)
        form.addRow("Frame skip", self.skip_spin)
        form.addRow("Epochs", self.epochs_spin)
        form.addRow("Learning rate", self.lr_edit)
        form.addRow("Batch size", self.batch_spin)
        form.addRow("Negative ratio", self.ratio_spin)
        form.addRow("Synergy", self.synergy_check)
        form.addRow("Strategy", self.strategy_combo)
        form.addRow("Seed", self.seed_spin)
        form.addRow("Final model", self.final_check)
        form.addRow("Network", self.overrides_edit)
        form.addRow("Run on", self.where_combo)
        form.addRow("Ray address", self.ray_edit)
        form.addRow("Run folder", self._row(self.run_dir_edit, run_browse))
        box = QtWidgets.QGroupBox("Training run (leave-one-subject-out)")
        box.setLayout(form)

        self.start_button = QtWidgets.QPushButton("Start")
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.setToolTip("stop at the next batch; finished folds are kept")
        self.cancel_button.clicked.connect(self.cancel)
        self.resume_button = QtWidgets.QPushButton("Resume")
        self.resume_button.setToolTip("continue from the first unfinished fold")
        self.resume_button.clicked.connect(self.resume)
        self.attach_button = QtWidgets.QPushButton("Open run folder…")
        self.attach_button.setToolTip("follow a running run or show a finished one")
        self.attach_button.clicked.connect(self._browse_attach)
        self.use_button = QtWidgets.QPushButton("Use this model")
        self.use_button.setToolTip("re-predict videos with the run's final model (a new prediction run)")
        self.use_button.clicked.connect(self._use_model)
        buttons = QtWidgets.QGridLayout()
        buttons.addWidget(self.start_button, 0, 0)
        buttons.addWidget(self.cancel_button, 0, 1)
        buttons.addWidget(self.resume_button, 0, 2)
        buttons.addWidget(self.attach_button, 1, 0, 1, 2)
        buttons.addWidget(self.use_button, 1, 2)
        self.message = QtWidgets.QLabel()
        self.message.setWordWrap(True)

        self.form_page = QtWidgets.QWidget()
        lay = QtWidgets.QVBoxLayout(self.form_page)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(box)
        lay.addLayout(buttons)
        lay.addWidget(self.message)
        lay.addStretch(1)

    @staticmethod
    def _spin(lo: int, hi: int, value: int, step: int = 1, special: str | None = None) -> QtWidgets.QSpinBox:
        s = QtWidgets.QSpinBox()
        s.setRange(lo, hi)
        s.setSingleStep(step)
        s.setValue(value)
        if special:
            s.setSpecialValueText(special)
        return s

    @staticmethod
    def _row(*widgets: QtWidgets.QWidget) -> QtWidgets.QWidget:
        w = QtWidgets.QWidget()
        lay = QtWidgets.QHBoxLayout(w)
        lay.setContentsMargins(0, 0, 0, 0)
        for x in widgets:
            lay.addWidget(x)
        return w

    def _where(self) -> str:
        return str(self.where_combo.currentData())

    # ================================================================== progress page
    def _build_progress(self) -> None:
        self.fold_bar = QtWidgets.QProgressBar()
        self.fold_label = QtWidgets.QLabel("Folds")
        self.epoch_bar = QtWidgets.QProgressBar()
        self.epoch_label = QtWidgets.QLabel("Epochs")
        self.state_label = QtWidgets.QLabel("No run.")
        self.loss_plot = pg.PlotWidget(background="w")
        self.loss_plot.setLabel("bottom", "epoch")
        self.loss_plot.setLabel("left", "training loss")
        self.loss_plot.addLegend(offset=(-5, 5))
        self.loss_plot.showGrid(x=True, y=True, alpha=0.2)
        self.loss_plot.getAxis("left").enableAutoSIPrefix(False)
        self.log_view = QtWidgets.QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(5000)
        self.log_view.setLineWrapMode(QtWidgets.QPlainTextEdit.LineWrapMode.NoWrap)
        bars = QtWidgets.QGridLayout()
        bars.addWidget(self.fold_label, 0, 0)
        bars.addWidget(self.fold_bar, 0, 1)
        bars.addWidget(self.epoch_label, 1, 0)
        bars.addWidget(self.epoch_bar, 1, 1)
        bars.setColumnStretch(1, 1)
        split = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        split.addWidget(self.loss_plot)
        split.addWidget(self.log_view)
        split.setSizes([300, 200])
        self.progress_page = QtWidgets.QWidget()
        lay = QtWidgets.QVBoxLayout(self.progress_page)
        lay.addWidget(self.state_label)
        lay.addLayout(bars)
        lay.addWidget(split, 1)

    # ================================================================== API
    def set_label_sources(self, sources: Mapping[str, str | Path]) -> None:
        """Offer these manifests as label sources (e.g. "Imported ground truth", "Reviewed
        annotations", "Both"); "Manifest file…" stays for any other file."""
        current = self.source_combo.currentText()
        self.source_combo.blockSignals(True)
        self.source_combo.clear()
        for name, path in sources.items():
            self.source_combo.addItem(name, str(path))
        self.source_combo.addItem(MANIFEST_FILE, None)
        keep = self.source_combo.findText(current) if current != MANIFEST_FILE else -1
        self.source_combo.setCurrentIndex(max(keep, 0))
        self.source_combo.blockSignals(False)
        self._source_changed()

    def settings(self) -> TrainLaunch:
        """The form as a launch; ValueError names the field that is wrong (``TrainConfig.validate``)."""
        manifest = self.manifest_edit.text().strip()
        if not manifest or not Path(manifest).exists():
            raise ValueError(f"labels: manifest {manifest!r} not found")
        run_dir = self.run_dir_edit.text().strip()
        if not run_dir:
            raise ValueError("run folder: choose where the run is written")
        lr_text = self.lr_edit.text().strip()
        try:
            lr = float(lr_text) if lr_text else None
        except ValueError:
            raise ValueError(f"learning rate: {lr_text!r} is not a number") from None
        text = self.overrides_edit.text().strip()
        try:
            overrides = json.loads(text) if text else {}
        except ValueError as exc:
            raise ValueError(f"network options: not JSON ({exc})") from None
        if not isinstance(overrides, dict):
            raise ValueError("network options: must be a JSON object")
        where = self._where()
        address = self.ray_edit.text().strip() or None
        if where == "ray" and not address:
            raise ValueError("Ray cluster: give the cluster address")
        config = TrainConfig(
            dataset=str(Path(manifest).resolve()), model=str(self.model_combo.currentData()),
            rois=self.rois_combo.currentData(), window=self.window_spin.value(), skip=self.skip_spin.value() or None,
            epochs=self.epochs_spin.value() or None, lr=lr, batch=self.batch_spin.value(),
            ratio=self.ratio_spin.value(), synergy=self.synergy_check.isChecked(),
            strategy=str(self.strategy_combo.currentData()), seed=self.seed_spin.value(),
            videos="all",                       # a project's own data: videos without MEs are evidence too
            final=self.final_check.isChecked(), model_overrides=overrides)
        config.resolved().validate()
        return TrainLaunch(config, str(Path(run_dir).resolve()), executor=where,
                           ray_address=address if where == "ray" else None)

    def apply_settings(self, launch: TrainLaunch) -> None:
        """Show ``launch`` in the form (e.g. the settings of a run folder that was opened)."""
        s = launch.config
        self.source_combo.setCurrentIndex(self.source_combo.findData(None))
        self.manifest_edit.setText(s.dataset)
        self.model_combo.setCurrentIndex(max(0, self.model_combo.findData(s.model)))
        rois = self.rois_combo.findData(s.rois) if s.rois and s.rois != s.model else 0
        self.rois_combo.setCurrentIndex(max(0, rois))
        self.window_spin.setValue(s.window)
        self.skip_spin.setValue(s.skip or 0)
        self.epochs_spin.setValue(s.epochs or 0)
        self.lr_edit.setText("" if s.lr is None else repr(s.lr))
        self.batch_spin.setValue(s.batch)
        self.ratio_spin.setValue(s.ratio)
        self.synergy_check.setChecked(s.synergy)
        self.strategy_combo.setCurrentIndex(max(0, self.strategy_combo.findData(s.strategy)))
        self.seed_spin.setValue(s.seed)
        self.final_check.setChecked(s.final)
        self.overrides_edit.setText(json.dumps(s.model_overrides) if s.model_overrides else "")
        self.run_dir_edit.setText(launch.run_dir)

    def is_running(self) -> bool:
        """A run this panel follows is (or may be) still going."""
        return self.monitor is not None and self.monitor.outcome is None and self.monitor.is_alive() is not False

    def start(self) -> bool:
        """Start a new run from the form; False (with the reason shown) when it cannot."""
        if self.is_running():
            return self._say("A run is going; cancel it or wait for it first.", error=True)
        try:
            settings = self.settings()
        except ValueError as exc:
            return self._say(str(exc), error=True)
        if RunFolder(settings.run_dir).is_run():
            return self._say(f"{settings.run_dir} already holds a run: open it to resume it, or choose a new folder.",
                             error=True)
        return self._launch(settings, resume=False)

    def resume(self) -> bool:
        """Continue the shown run from its first unfinished fold, with the settings it was made with."""
        if self.is_running():
            return self._say("The run is still going.", error=True)
        if self.run_dir is None or not RunFolder(self.run_dir).is_run():
            return self._say("Open a run folder to resume first.", error=True)
        where = self._where()
        address = (self.ray_edit.text().strip() or None) if where == "ray" else None
        return self._launch(TrainLaunch.of_run(self.run_dir, executor=where, ray_address=address), resume=True)

    def cancel(self) -> None:
        """Ask the run to stop at its next safe point (finished folds are kept; Resume continues)."""
        if self.monitor is None or not self.is_running():
            return
        pid = self.monitor.pid()
        if pid is None:
            self._say("This run was not started from metst-gui; stop it where it was started.", error=True)
            return
        request_stop(pid)
        self._say("Cancelling: the run stops at its next batch.")
        self.cancel_button.setEnabled(False)

    def attach(self, run_dir: str | Path) -> bool:
        """Show a run folder: follow it if it is running (also one this app did not start), else its results."""
        run = Path(run_dir)
        try:
            RunFolder(run).require_run()
        except MetstError as exc:
            return self._say(str(exc), error=True)
        if self.is_running():
            return self._say("A run is going in this panel; cancel it or wait first.", error=True)
        self.apply_settings(TrainLaunch.of_run(run.resolve()))
        self._follow(run, process=None)
        self._say(f"Opened {run}.")
        return True

    def confirm_close(self) -> bool:
        """For the main window's closeEvent: True if the app may close (asks while a run is going)."""
        if not self.is_running():
            return True
        answer = self._ask_close()
        if answer == CLOSE_CANCEL:
            return False
        if answer == CLOSE_STOP:
            self.cancel()
        self._detach()
        return True

    # ================================================================== internals
    def _ask_close(self) -> str:
        box = QtWidgets.QMessageBox(self)
        box.setIcon(QtWidgets.QMessageBox.Icon.Question)
        box.setWindowTitle("Training run in progress")
        box.setText("A training run is still going.")
        box.setInformativeText("Stop it (finished folds are kept and it can be resumed), or leave it running "
                               "and open its run folder again later?")
        stop = box.addButton("Stop the run", QtWidgets.QMessageBox.ButtonRole.DestructiveRole)
        leave = box.addButton("Leave it running", QtWidgets.QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QtWidgets.QMessageBox.StandardButton.Cancel)
        box.exec()
        clicked = box.clickedButton()
        return CLOSE_STOP if clicked is stop else CLOSE_LEAVE if clicked is leave else CLOSE_CANCEL

    def _detach(self) -> None:
        if self.monitor is not None:
            self.monitor.stop()
            self.monitor = None

    def _launch(self, settings: TrainLaunch, resume: bool) -> bool:
        try:
            process = settings.start(resume=resume)
        except OSError as exc:
            return self._say(f"could not start metst train: {exc}", error=True)
        run = Path(settings.run_dir)
        self._follow(run, process=process)
        self.tabs.setCurrentWidget(self.progress_page)
        self._say("Resumed." if resume else "Started.")
        self.run_started.emit(str(run))
        return True

    def _follow(self, run: Path, process: subprocess.Popen | None) -> None:
        self._detach()
        self.run_dir = run
        self.outcome = None
        self.log_view.clear()
        self.loss_plot.plotItem.clear()
        self.loss_plot.plotItem.legend.clear()
        self._curves.clear()
        self.monitor = RunMonitor(run, process=process, parent=self)
        self.monitor.event_received.connect(self._on_event)
        self.monitor.log_line.connect(self.log_view.appendPlainText)
        self.monitor.ended.connect(self._on_ended)
        self.results.show_run(run)
        self.monitor.start()
        self._update_bars()
        self._refresh_buttons()

    def _on_event(self, event: dict) -> None:
        kind, fold = event.get("event"), event.get("fold")
        if kind == "epoch" and fold and self.monitor is not None:
            t = self.monitor.state.trainings[fold]
            curve = self._curves.get(fold)
            if curve is None:
                i = len(self._curves)
                color = pg.intColor(i, hues=max(len(self.monitor.state.names), 2))
                curve = self.loss_plot.plot([], [], pen=pg.mkPen(color, width=2), symbol="o", symbolSize=6,
                                            symbolBrush=color, name=fold)
                self._curves[fold] = curve
            curve.setData(list(range(1, len(t.losses) + 1)), t.losses)
        elif kind in ("fold_start", "final_start") and fold in self._curves:
            self._curves[fold].setData([], [])
        if kind in ("fold_end", "fold_skipped") and self.run_dir is not None and not self.results.is_loading():
            self.results.show_run(self.run_dir)
        self._update_bars()

    def _update_bars(self) -> None:
        state = self.monitor.state if self.monitor else None
        if state is None or not state.names:
            self.fold_bar.setRange(0, 1)
            self.fold_bar.setValue(0)
            self.epoch_bar.setRange(0, 1)
            self.epoch_bar.setValue(0)
            return
        total, done = len(state.names), state.trainings_done()
        self.fold_bar.setRange(0, total)
        self.fold_bar.setValue(done)
        self.fold_bar.setFormat(f"{done} / {total} trainings (folds + final)")
        remaining = format_seconds(state.run_eta()) if not state.run_ended else "done"
        self.fold_label.setText(f"Folds — {remaining} left" if not state.run_ended else "Folds — done")
        current = state.trainings.get(state.current) if state.current else None
        if current is not None and current.epochs:
            self.epoch_bar.setRange(0, current.epochs)
            self.epoch_bar.setValue(current.epoch)
            self.epoch_bar.setFormat(f"{current.name}: epoch {current.epoch} / {current.epochs}")
            self.epoch_label.setText(f"Epochs — {format_seconds(state.current_eta())} left")
        elif state.run_ended:
            self.epoch_bar.setRange(0, 1)
            self.epoch_bar.setValue(1)
            self.epoch_bar.setFormat("all trainings done")
            self.epoch_label.setText("Epochs")
        if self.monitor is not None and self.monitor.outcome is None:
            where = f"fold {state.current}" if state.current else "preparing"
            self.state_label.setText(f"Running: {where} — {self.run_dir}")

    def _on_ended(self, outcome: str, message: str) -> None:
        self.outcome = outcome
        self._update_bars()
        texts = {"finished": "Finished.", "cancelled": "Cancelled: finished folds are kept; Resume continues.",
                 "failed": f"Failed: {message}", "stopped": f"Stopped: {message}. Resume continues the run."}
        self.state_label.setText(f"{texts.get(outcome, outcome)} — {self.run_dir}")
        self._say(texts.get(outcome, outcome), error=outcome == "failed")
        if self.run_dir is not None:
            self.results.show_run(self.run_dir)
            if outcome == "finished":
                self.tabs.setCurrentWidget(self.results)
            self.run_ended.emit(str(self.run_dir), outcome)
        self._refresh_buttons()

    def _refresh_buttons(self) -> None:
        running = self.is_running()
        has_run = self.run_dir is not None and RunFolder(self.run_dir).is_run()
        finished = has_run and RunFolder(self.run_dir).finished()    # type: ignore[arg-type]
        self.start_button.setEnabled(not running)
        self.cancel_button.setEnabled(running and self.monitor is not None and self.monitor.pid() is not None)
        self.resume_button.setEnabled(not running and has_run and not finished)
        self.attach_button.setEnabled(not running)
        self.use_button.setEnabled(finished and self._checkpoint() is not None)

    def _checkpoint(self) -> Path | None:
        return None if self.run_dir is None else RunFolder(self.run_dir).final_checkpoint()

    def _use_model(self) -> None:
        checkpoint = self._checkpoint()
        if checkpoint is not None and self.run_dir is not None:
            self.use_model_requested.emit(str(checkpoint), str(self.run_dir))

    def _say(self, text: str, error: bool = False) -> bool:
        self.message.setText(text)
        self.message.setStyleSheet("color: #b00020;" if error else "")
        if error:
            self.log_view.appendPlainText(f"» {text}")
        return not error

    def _source_changed(self, *_: object) -> None:
        path = self.source_combo.currentData()
        if path is not None:
            self.manifest_edit.setText(str(path))
        self.manifest_edit.setReadOnly(path is not None)

    def _browse_manifest(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Dataset manifest", "", "CSV (*.csv)")
        if path:
            self.source_combo.setCurrentIndex(self.source_combo.findData(None))
            self.manifest_edit.setText(path)

    def _browse_run_dir(self) -> None:
        path = QtWidgets.QFileDialog.getExistingDirectory(self, "Run folder")
        if path:
            self.run_dir_edit.setText(path)

    def _browse_attach(self) -> None:
        path = QtWidgets.QFileDialog.getExistingDirectory(self, "Open a run folder")
        if path:
            self.attach(path)

    def closeEvent(self, event) -> None:  # type: ignore[no-untyped-def]  # noqa: N802 (Qt name)
        self._detach()
        self.results.wait_for_loaders()
        super().closeEvent(event)


class TrainingWindow(QtWidgets.QMainWindow):
    """The panel on its own (until the review main window docks it); asks before abandoning a run."""

    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("metst — training")
        self.panel = TrainingPanel()
        self.setCentralWidget(self.panel)
        self.resize(1400, 860)

    def closeEvent(self, event) -> None:  # type: ignore[no-untyped-def]  # noqa: N802 (Qt name)
        if self.panel.confirm_close():
            event.accept()
        else:
            event.ignore()


def main(argv: list[str] | None = None) -> int:
    """``python -m metst_gui.training.training_panel [RUN_DIR]``: the panel in its own window, optionally on a run folder."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    win = TrainingWindow()
    if args:
        win.panel.attach(args[0])
    win.show()
    return int(app.exec())


__all__ = ["TrainingPanel", "TrainingWindow", "main"]


if __name__ == "__main__":
    raise SystemExit(main())
