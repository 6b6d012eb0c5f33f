"""The training & evaluation panel: configure a LOSO run, follow it, cancel / resume it, show results.

A self-contained widget the review main window docks or tabs. It starts ``metst train`` as
a separate process (``metst_engine.runs``), follows it only through the run folder
(``run_monitor``, shown by ``progress_view``; the same path re-attaches to a run that outlived the app) and shows
results through ``results_view``. The form is ``training_form``. No training code runs in the GUI process.

The main window connects:

- ``set_label_sources({"Imported ground truth": manifest, "Reviewed annotations": None, ...}, hints)``:
  manifests the project store exports (None: listed but not usable yet, ``hints`` says why);
  "Manifest file…" stays for any other manifest.
- ``show_project_runs(runs_root, places)``: new runs go to a new folder in ``runs_root`` (unless
  one is chosen under "Advanced"); "Past runs" lists the runs in ``places`` and a run still going
  (e.g. from before a restart) is followed again.
- ``use_model_requested(checkpoint, run_dir)``: "Use this model" was pressed; re-predict the
  chosen videos with ``checkpoint`` as a new prediction run.
- ``run_started(run_dir)`` / ``run_ended(run_dir, outcome)``: record the run (its parameters and
  final checkpoint, read through ``metst_engine.runs.RunFolder``) in the project.
- ``confirm_close()`` from its closeEvent: False means "do not close".
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from metst_engine.errors import MetstError
from metst_engine.runs import RunFolder, TrainLaunch, find_runs, request_stop
from metst_gui.training.progress_view import ProgressView
from metst_gui.training.results_view import ResultsView
from metst_gui.training.run_history import RunHistoryView
from metst_gui.training.run_monitor import RunMonitor
from metst_gui.training.training_form import TrainingForm

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
        self.runs_root: Path | None = None
        self._run_places: list[Path] = []
        self._source_names: dict[str, str] = {}
        self._stopping = False
        self.form = TrainingForm()
        self.history = RunHistoryView()
        self.history.run_selected.connect(self._show_past_run)
        self._build_form_page()
        self.progress_page = ProgressView()
        self.results = ResultsView()
        self.tabs = QtWidgets.QTabWidget()
        self.tabs.addTab(self.progress_page, "Progress")
        self.tabs.addTab(self.results, "Results")
        left = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        scroll = QtWidgets.QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        scroll.setWidget(self.form_page)
        left.addWidget(scroll)
        left.addWidget(self.history)
        left.setSizes([470, 330])
        split = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(self.tabs)
        split.setStretchFactor(1, 1)
        split.setSizes([560, 640])
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(split)
        self._refresh_buttons()

    # ================================================================== form page
    def _build_form_page(self) -> None:
        """The form, the run buttons under it and the message line."""
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
        lay.addWidget(self.form)
        lay.addLayout(buttons)
        lay.addWidget(self.message)
        lay.addStretch(1)

    # ================================================================== API
    def set_label_sources(self, sources: Mapping[str, str | Path | None], hints: Mapping[str, str] | None = None) -> None:
        """Offer these manifests as label sources (None: listed, disabled, ``hints`` says why);
        "Manifest file…" stays for any other file."""
        self.form.set_label_sources(sources, hints)
        self._source_names = {str(Path(p).resolve()): name for name, p in sources.items() if p is not None}

    def show_project_runs(self, runs_root: Path | None, places: list[Path]) -> None:
        """New runs go to a new folder in ``runs_root``; list the runs in ``places``; follow one still going."""
        self.runs_root = runs_root
        self.form.set_runs_root(runs_root)
        self._run_places = ([runs_root] if runs_root else []) + list(places)
        runs = self.refresh_runs()
        going = next((r for r in runs if r.running), None)
        if going is not None and self.monitor is None:
            self.attach(going.run_dir)

    def refresh_runs(self) -> list:
        """List the runs of the known places again (``metst_engine.runs.find_runs``)."""
        runs = find_runs(self._run_places)
        self.history.show_runs(runs, self._label_of)
        return runs

    def _label_of(self, dataset: str | None) -> str:
        if not dataset:
            return "–"
        return self._source_names.get(str(Path(dataset).resolve()), Path(dataset).name)

    def _show_past_run(self, run_dir: str) -> None:
        """A run picked in "Past runs": follow it when the panel is free, else just show its results."""
        if self.run_dir is not None and Path(run_dir) == self.run_dir:
            return
        if self.is_running():
            self.results.show_run(Path(run_dir))
            self.tabs.setCurrentWidget(self.results)
        elif self.attach(run_dir) and not self.is_running():
            self.tabs.setCurrentWidget(self.results)

    def settings(self) -> TrainLaunch:
        """The form as a launch; ValueError names the field that is wrong (``TrainConfig.validate``)."""
        return self.form.launch()

    def apply_settings(self, launch: TrainLaunch) -> None:
        """Show ``launch`` in the form (e.g. the settings of a run folder that was opened)."""
        self.form.apply(launch)

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
        if not settings.run_dir and self.runs_root is not None:
            try:
                folder = RunFolder.create_new(self.runs_root, settings.config.model, self.form.labels_name())
            except MetstError as exc:
                return self._say(str(exc), error=True)
            settings.run_dir = str(folder.path)
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
        return self._launch(TrainLaunch.of_run(self.run_dir, executor=self.form.where(),
                                               ray_address=self.form.ray_address()), resume=True)

    def cancel(self) -> None:
        """Ask the run to stop at its next safe point (finished folds are kept; Resume continues)."""
        if self.monitor is None or not self.is_running():
            return
        pid = self.monitor.pid()
        if pid is None:
            self._say("This run was not started from metst-gui; stop it where it was started.", error=True)
            return
        request_stop(pid)
        self.progress_page.stop_estimates()
        self._stopping = True
        self._update_bars()
        self.progress_page.state_label.setText(f"Cancelling: the run stops at its next batch — {self.run_dir}")
        self._say("Cancelling: the run stops at its next batch.")
        self.cancel_button.setEnabled(False)

    def attach(self, run_dir: str | Path) -> bool:
        """Show a run folder: follow it if it is running (also one this app did not start), else its results."""
        run = Path(run_dir)
        if self.is_running():
            return self._say("A run is going in this panel; cancel it or wait first.", error=True)
        try:
            RunFolder(run).require_run()
            launch = TrainLaunch.of_run(run.resolve())
        except MetstError as exc:
            return self._say(str(exc), error=True)
        self.apply_settings(launch)
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
        self._say("Resumed." if resume else f"Started: {run}")
        self.run_started.emit(str(run))
        self.refresh_runs()
        return True

    def _follow(self, run: Path, process: subprocess.Popen | None) -> None:
        self._detach()
        self.run_dir = run
        self.outcome = None
        self._stopping = False
        self.progress_page.clear()
        self.monitor = RunMonitor(run, process=process, parent=self)
        self.monitor.event_received.connect(self._on_event)
        self.monitor.log_line.connect(self.progress_page.log_view.appendPlainText)
        self.monitor.ended.connect(self._on_ended)
        self.results.show_run(run)
        self.monitor.start()
        self._update_bars()
        self._refresh_buttons()

    def _on_event(self, event: dict) -> None:
        if self.monitor is not None:
            self.progress_page.show_event(event, self.monitor.state)
        if (event.get("event") in ("fold_end", "fold_skipped") and self.run_dir is not None
                and not self.results.is_loading()):
            self.results.show_run(self.run_dir)
        self._update_bars()

    def _update_bars(self) -> None:
        running = self.monitor is not None and self.monitor.outcome is None and not self._stopping
        self.progress_page.show_state(self.monitor.state if self.monitor else None, running, self.run_dir)

    def _on_ended(self, outcome: str, message: str) -> None:
        self.outcome = outcome
        self._update_bars()
        texts = {"finished": "Finished.", "cancelled": "Cancelled: finished folds are kept; Resume continues.",
                 "failed": f"Failed: {message}", "stopped": f"Stopped: {message}. Resume continues the run."}
        self.progress_page.state_label.setText(f"{texts.get(outcome, outcome)} — {self.run_dir}")
        self._say(texts.get(outcome, outcome), error=outcome == "failed")
        if self.run_dir is not None:
            self.results.show_run(self.run_dir)
            if outcome == "finished":
                self.tabs.setCurrentWidget(self.results)
            self.run_ended.emit(str(self.run_dir), outcome)
        self.refresh_runs()
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
            self.progress_page.log_view.appendPlainText(f"» {text}")
        return not error

    def _browse_attach(self) -> None:
        path = QtWidgets.QFileDialog.getExistingDirectory(self, "Open a run folder")
        if path:
            self.attach(path)

    def shutdown(self) -> None:
        """Stop following and let the report threads finish (a QThread destroyed while it runs aborts
        the app): on closing, also where the panel is a tab of the review window."""
        self._detach()
        self.results.shutdown()

    def closeEvent(self, event) -> None:  # type: ignore[no-untyped-def]  # noqa: N802 (Qt name)
        self.shutdown()
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
