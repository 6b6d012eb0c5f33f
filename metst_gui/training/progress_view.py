"""The training panel's "Progress" page: fold and epoch bars with time left, loss curves per fold, the log."""

from __future__ import annotations

from pathlib import Path

import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from metst_engine.runs import ProgressState
from metst_gui.training.run_monitor import format_seconds


class ProgressView(QtWidgets.QWidget):
    """Shows a :class:`~metst_engine.runs.ProgressState` as the monitor updates it; holds one loss curve per training."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
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
        self.curves: dict[str, pg.PlotDataItem] = {}
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
        lay = QtWidgets.QVBoxLayout(self)
        lay.addWidget(self.state_label)
        lay.addLayout(bars)
        lay.addWidget(split, 1)

    def clear(self) -> None:
        """Empty log and plot, for a run that is about to be followed."""
        self.log_view.clear()
        self.loss_plot.plotItem.clear()
        self.loss_plot.plotItem.legend.clear()
        self.curves.clear()

    def show_event(self, event: dict, state: ProgressState) -> None:
        """An epoch extends its training's loss curve; a (re)started fold starts its curve again."""
        kind, fold = event.get("event"), event.get("fold")
        if kind == "epoch" and fold:
            t = state.trainings[fold]
            curve = self.curves.get(fold)
            if curve is None:
                color = pg.intColor(len(self.curves), hues=max(len(state.names), 2))
                curve = self.loss_plot.plot([], [], pen=pg.mkPen(color, width=2), symbol="o", symbolSize=6,
                                            symbolBrush=color, name=fold)
                self.curves[fold] = curve
            curve.setData(list(range(1, len(t.losses) + 1)), t.losses)
        elif kind in ("fold_start", "final_start") and fold in self.curves:
            self.curves[fold].setData([], [])

    def show_state(self, state: ProgressState | None, running: bool, run_dir: Path | None) -> None:
        """Bars, their labels and (while ``running``) the time left and the state line."""
        if not running:
            self.fold_label.setText("Folds")
            self.epoch_label.setText("Epochs")
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
        # time left only while the run goes: after a cancel, a failure or the end it means nothing
        if state.run_ended:
            self.fold_label.setText("Folds — done")
        else:
            self.fold_label.setText(f"Folds — {format_seconds(state.run_eta())} left" if running else "Folds")
        current = state.trainings.get(state.current) if state.current else None
        if current is not None and current.epochs:
            self.epoch_bar.setRange(0, current.epochs)
            self.epoch_bar.setValue(current.epoch)
            self.epoch_bar.setFormat(f"{current.name}: epoch {current.epoch} / {current.epochs}")
            self.epoch_label.setText(f"Epochs — {format_seconds(state.current_eta())} left" if running else "Epochs")
        elif state.run_ended:
            self.epoch_bar.setRange(0, 1)
            self.epoch_bar.setValue(1)
            self.epoch_bar.setFormat("all trainings done")
            self.epoch_label.setText("Epochs")
        if running:
            where = f"fold {state.current}" if state.current else "preparing"
            self.state_label.setText(f"Running: {where} — {run_dir}")
