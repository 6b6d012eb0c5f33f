"""The training panel's launch form: label source, model and its settings, where to run, the run folder.

:meth:`TrainingForm.launch` turns the fields into a :class:`~metst_engine.runs.TrainLaunch`
(the engine's ``TrainConfig.validate`` names a wrong field); :meth:`TrainingForm.apply` shows
the launch of a run folder that was opened.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from PySide6 import QtWidgets

from metst_engine.model_catalog import CATALOG, DEFAULT_MODEL, model_info, per_model
from metst_engine.rois import available_roi_sets
from metst_engine.runs import TrainConfig, TrainLaunch

MANIFEST_FILE = "Manifest file…"
STRATEGIES = {"spotting_mainly": "spotting mainly (the authors' default)",
              "result_synergy": "result synergy (drop neutral-majority spots)", "none": "none (spotting only)"}


def _spin(lo: int, hi: int, value: int, step: int = 1, special: str | None = None) -> QtWidgets.QSpinBox:
    s = QtWidgets.QSpinBox()
    s.setRange(lo, hi)
    s.setSingleStep(step)
    s.setValue(value)
    if special:
        s.setSpecialValueText(special)
    return s


def _row(*widgets: QtWidgets.QWidget) -> QtWidgets.QWidget:
    w = QtWidgets.QWidget()
    lay = QtWidgets.QHBoxLayout(w)
    lay.setContentsMargins(0, 0, 0, 0)
    for x in widgets:
        lay.addWidget(x)
    return w


def _browse_button(slot) -> QtWidgets.QPushButton:  # type: ignore[no-untyped-def]
    button = QtWidgets.QPushButton("…")
    button.setFixedWidth(28)
    button.clicked.connect(slot)
    return button


class TrainingForm(QtWidgets.QGroupBox):
    """The "Training run (leave-one-subject-out)" box."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__("Training run (leave-one-subject-out)", parent)
        self._build_label_fields()
        self._build_model_fields()
        self._build_run_fields()
        form = QtWidgets.QFormLayout()
        for label, field in (
                ("Labels", self.source_combo), ("Manifest", _row(self.manifest_edit, self.manifest_browse)),
                ("Model", self.model_combo), ("ROI set", self.rois_combo), ("Window k", self.window_spin),
                ("Frame skip", self.skip_spin), ("Epochs", self.epochs_spin), ("Learning rate", self.lr_edit),
                ("Batch size", self.batch_spin), ("Negative ratio", self.ratio_spin), ("Synergy", self.synergy_check),
                ("Strategy", self.strategy_combo), ("Seed", self.seed_spin), ("Final model", self.final_check),
                ("Network", self.overrides_edit), ("Run on", self.where_combo), ("Ray address", self.ray_edit),
                ("Run folder", _row(self.run_dir_edit, self.run_browse))):
            form.addRow(label, field)
        self.setLayout(form)

    def _build_label_fields(self) -> None:
        self.source_combo = QtWidgets.QComboBox()
        self.source_combo.addItem(MANIFEST_FILE, None)
        self.source_combo.currentIndexChanged.connect(self._source_changed)
        self.manifest_edit = QtWidgets.QLineEdit()
        self.manifest_edit.setPlaceholderText("dataset manifest CSV (or a folder holding manifest.csv)")
        self.manifest_browse = _browse_button(self._browse_manifest)

    def _build_model_fields(self) -> None:
        self.model_combo = QtWidgets.QComboBox()
        for model in CATALOG.values():
            self.model_combo.addItem(model.label, model.name)
        self.rois_combo = QtWidgets.QComboBox()
        self.rois_combo.addItem("the model's own", None)
        for name in available_roi_sets():
            self.rois_combo.addItem(name, name)
        self.window_spin = _spin(4, 1000, model_info(DEFAULT_MODEL).window, step=2)
        self.skip_spin = _spin(0, 100, 0, special="auto (fps / 30)")
        self.epochs_spin = _spin(0, 10000, 0, special=f"model default ({per_model('epochs')})")
        self.lr_edit = QtWidgets.QLineEdit()
        self.lr_edit.setPlaceholderText(f"model default ({per_model('lr')})")
        self.batch_spin = _spin(1, 100000, 256)
        self.ratio_spin = QtWidgets.QDoubleSpinBox()
        self.ratio_spin.setRange(0.01, 1000)
        self.ratio_spin.setDecimals(2)
        self.ratio_spin.setValue(4.0)
        self.synergy_check = QtWidgets.QCheckBox("neutral class in the loss (feature-level)")
        self.synergy_check.setChecked(True)
        self.strategy_combo = QtWidgets.QComboBox()
        for key, label in STRATEGIES.items():
            self.strategy_combo.addItem(label, key)
        self.seed_spin = _spin(0, 2**31 - 1, 0)
        self.final_check = QtWidgets.QCheckBox("train a final model on all subjects")
        self.final_check.setChecked(True)
        self.overrides_edit = QtWidgets.QLineEdit()
        self.overrides_edit.setPlaceholderText('network options as JSON, e.g. {"depth": 2}')

    def _build_run_fields(self) -> None:
        self.where_combo = QtWidgets.QComboBox()
        self.where_combo.addItem("This machine", "local")
        self.where_combo.addItem("Ray cluster", "ray")
        self.ray_edit = QtWidgets.QLineEdit()
        self.ray_edit.setPlaceholderText("ray://head:10001 or auto")
        self.where_combo.currentIndexChanged.connect(lambda _: self.ray_edit.setEnabled(self.where() == "ray"))
        self.ray_edit.setEnabled(False)
        self.run_dir_edit = QtWidgets.QLineEdit()
        self.run_dir_edit.setPlaceholderText("new run folder")
        self.run_browse = _browse_button(self._browse_run_dir)

    def where(self) -> str:
        return str(self.where_combo.currentData())

    def ray_address(self) -> str | None:
        """The Ray address when "Ray cluster" is chosen and one is given."""
        return (self.ray_edit.text().strip() or None) if self.where() == "ray" else None

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

    def launch(self) -> TrainLaunch:
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
        where = self.where()
        if where == "ray" and not self.ray_address():
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
        return TrainLaunch(config, str(Path(run_dir).resolve()), executor=where, ray_address=self.ray_address())

    def apply(self, launch: TrainLaunch) -> None:
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
