"""The training panel's launch form: label source, model and epochs, the rest under "Advanced".

:meth:`TrainingForm.launch` turns the fields into a :class:`~metst_engine.runs.TrainLaunch`; the
engine's ``TrainConfig.problems`` (what ``validate`` checks) names every wrong field, and each
message is shown under its field. :meth:`TrainingForm.apply` shows the launch of a run folder
that was opened. Defaults are the engine's (``config_defaults``, ``model_catalog``), never restated here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from metst_engine.model_catalog import CATALOG, DEFAULT_MODEL, model_info
from metst_engine.rois import available_roi_sets
from metst_engine.runs import (
    TrainConfig,
    TrainLaunch,
    config_defaults,
    parse_model_overrides,
    run_folder_name,
)

MANIFEST_FILE = "Manifest file…"
STRATEGIES = {"spotting_mainly": "spotting mainly (the authors' default)",
              "result_synergy": "result synergy (drop neutral-majority spots)", "none": "none (spotting only)"}
ERROR_STYLE = "color: #b00020;"
#: TrainConfig fields without a widget of their own: their message goes under "Network".
OTHER_FIELD = "model_overrides"


class FormProblems(ValueError):
    """Wrong fields of the form: field -> message (each also shown under its field)."""

    def __init__(self, problems: Mapping[str, str]) -> None:
        self.problems = dict(problems)
        super().__init__("; ".join(self.problems.values()))


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


class Collapsible(QtWidgets.QWidget):
    """A "▸ title" button over a body that stays hidden until the button is pressed."""

    def __init__(self, title: str, body: QtWidgets.QWidget, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.toggle = QtWidgets.QToolButton()
        self.toggle.setText(title)
        self.toggle.setCheckable(True)
        self.toggle.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toggle.setArrowType(QtCore.Qt.ArrowType.RightArrow)
        self.toggle.setStyleSheet("QToolButton { border: none; font-weight: bold; }")
        self.toggle.toggled.connect(self.set_expanded)
        self.body = body
        body.setVisible(False)
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.toggle)
        lay.addWidget(body)

    def is_expanded(self) -> bool:
        return self.toggle.isChecked()

    def set_expanded(self, expanded: bool) -> None:
        if self.toggle.isChecked() != expanded:
            self.toggle.setChecked(expanded)        # comes back here through toggled
            return
        self.toggle.setArrowType(QtCore.Qt.ArrowType.DownArrow if expanded else QtCore.Qt.ArrowType.RightArrow)
        self.body.setVisible(expanded)


class TrainingForm(QtWidgets.QGroupBox):
    """The "New training run" box: labels, model, epochs; "Advanced" holds the other settings."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__("New training run (leave-one-subject-out)", parent)
        self.defaults = config_defaults()
        self.errors: dict[str, QtWidgets.QLabel] = {}
        self._automatic_root: Path | None = None
        self._build_label_fields()
        self._build_model_fields()
        self._build_run_fields()
        self.simple = QtWidgets.QFormLayout()
        self._add_rows(self.simple, (("Labels", "dataset", self.source_combo),
                                     ("Manifest", "manifest", _row(self.manifest_edit, self.manifest_browse)),
                                     ("Model", "model", self.model_combo), ("Epochs", "epochs", self.epochs_spin)))
        self.simple.insertRow(1, "", self.source_hint)
        self.simple.setRowVisible(1, False)
        advanced = QtWidgets.QWidget()
        form = QtWidgets.QFormLayout(advanced)
        form.setContentsMargins(0, 0, 0, 0)
        self._add_rows(form, (
            ("ROI set", "rois", self.rois_combo), ("Window k", "window", self.window_spin),
            ("Frame skip", "skip", self.skip_spin), ("Learning rate", "lr", self.lr_edit),
            ("Batch size", "batch", self.batch_spin), ("Negative ratio", "ratio", self.ratio_spin),
            ("Synergy", "synergy", self.synergy_check), ("Strategy", "strategy", self.strategy_combo),
            ("Seed", "seed", self.seed_spin), ("Final model", "final", self.final_check),
            ("Network", OTHER_FIELD, self.overrides_edit), ("Run on", "where", self.where_combo),
            ("Ray address", "ray_address", self.ray_edit), ("Run folder", "run_dir",
                                                            _row(self.run_dir_edit, self.run_browse))))
        self.advanced = Collapsible("Advanced", advanced)
        lay = QtWidgets.QVBoxLayout(self)
        lay.addLayout(self.simple)
        lay.addWidget(self.advanced)
        self._model_changed()
        self._source_changed()

    def _add_rows(self, form: QtWidgets.QFormLayout,
                  rows: tuple[tuple[str, str, QtWidgets.QWidget], ...]) -> None:
        """Each field with a (hidden until needed) message under it."""
        for label, key, field in rows:
            error = QtWidgets.QLabel()
            error.setStyleSheet(ERROR_STYLE)
            error.setWordWrap(True)
            error.setVisible(False)
            self.errors[key] = error
            box = QtWidgets.QWidget()
            v = QtWidgets.QVBoxLayout(box)
            v.setContentsMargins(0, 0, 0, 0)
            v.setSpacing(1)
            v.addWidget(field)
            v.addWidget(error)
            form.addRow(label, box)

    def _build_label_fields(self) -> None:
        self.source_combo = QtWidgets.QComboBox()
        self.source_combo.addItem(MANIFEST_FILE, None)
        self.source_combo.currentIndexChanged.connect(self._source_changed)
        self.source_hint = QtWidgets.QLabel()
        self.source_hint.setWordWrap(True)
        self.source_hint.setStyleSheet("color: #555;")
        self.manifest_edit = QtWidgets.QLineEdit()
        self.manifest_edit.setPlaceholderText("dataset manifest CSV (or a folder holding manifest.csv)")
        self.manifest_browse = _browse_button(self._browse_manifest)

    def _build_model_fields(self) -> None:
        d = self.defaults
        self.model_combo = QtWidgets.QComboBox()
        for model in CATALOG.values():
            self.model_combo.addItem(model.label, model.name)
        self.model_combo.setCurrentIndex(self.model_combo.findData(d["model"]))
        self._shown_model = DEFAULT_MODEL
        self.model_combo.currentIndexChanged.connect(self._model_changed)
        self.rois_combo = QtWidgets.QComboBox()
        self.rois_combo.addItem("the model's own", None)
        for name in available_roi_sets():
            self.rois_combo.addItem(name, name)
        self.window_spin = _spin(4, 1000, d["window"], step=2)
        self.skip_spin = _spin(0, 100, 0, special="auto (fps / 30)")
        self.epochs_spin = _spin(1, 10000, model_info(d["model"]).epochs)
        self.lr_edit = QtWidgets.QLineEdit()
        self.batch_spin = _spin(1, 100000, d["batch"])
        self.ratio_spin = QtWidgets.QDoubleSpinBox()
        self.ratio_spin.setRange(0.01, 1000)
        self.ratio_spin.setDecimals(2)
        self.ratio_spin.setValue(d["ratio"])
        self.synergy_check = QtWidgets.QCheckBox("neutral class in the loss (feature-level)")
        self.synergy_check.setChecked(d["synergy"])
        self.strategy_combo = QtWidgets.QComboBox()
        for key, label in STRATEGIES.items():
            self.strategy_combo.addItem(label, key)
        self.strategy_combo.setCurrentIndex(self.strategy_combo.findData(d["strategy"]))
        self.seed_spin = _spin(0, 2**31 - 1, d["seed"])
        self.final_check = QtWidgets.QCheckBox("train a final model on all subjects")
        self.final_check.setChecked(d["final"])
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

    # ------------------------------------------------------------------ API
    def where(self) -> str:
        return str(self.where_combo.currentData())

    def ray_address(self) -> str | None:
        """The Ray address when "Ray cluster" is chosen and one is given."""
        return (self.ray_edit.text().strip() or None) if self.where() == "ray" else None

    def set_runs_root(self, root: Path | None) -> None:
        """With a root, an empty "Run folder" means a new folder there (the engine names it)."""
        self._automatic_root = root
        self._update_run_dir_hint()

    def labels_name(self) -> str:
        """The label source as a short name (for the run folder's name)."""
        if self.source_combo.currentData() is not None:
            return self.source_combo.currentText()
        return Path(self.manifest_edit.text().strip()).stem or "manifest"

    def set_label_sources(self, sources: Mapping[str, str | Path | None], hints: Mapping[str, str] | None = None) -> None:
        """Offer these manifests as label sources; a source without a manifest (None) is listed but
        disabled, with its hint (why, and what makes it usable) as tooltip and under the field. "Manifest file…" stays for any other file."""
        hints = dict(hints or {})
        current = self.source_combo.currentText()
        combo = self.source_combo
        combo.blockSignals(True)
        combo.clear()
        for name, path in sources.items():
            combo.addItem(name, None if path is None else str(path))
            if path is None:
                combo.model().item(combo.count() - 1).setEnabled(False)
            if name in hints:
                combo.setItemData(combo.count() - 1, hints[name], QtCore.Qt.ItemDataRole.ToolTipRole)
        combo.addItem(MANIFEST_FILE, None)
        usable = [i for i in range(combo.count()) if combo.model().item(i).isEnabled()]
        keep = combo.findText(current)
        combo.setCurrentIndex(keep if keep in usable and current != MANIFEST_FILE else usable[0])
        combo.blockSignals(False)
        grouped: dict[str, list[str]] = {}
        for name, hint in hints.items():
            grouped.setdefault(hint, []).append(name)
        self.source_hint.setText("\n".join(f"{' and '.join(names)}: {hint}" for hint, names in grouped.items()))
        self.simple.setRowVisible(1, bool(hints))
        self._source_changed()

    def launch(self) -> TrainLaunch:
        """The form as a launch (an empty run folder: "" = a new one in the runs root); FormProblems
        (a ValueError) names every wrong field, and each message is shown under its field."""
        self.clear_errors()
        problems: dict[str, str] = {}
        config = self._config(problems)
        run_dir = self.run_dir_edit.text().strip()
        if not run_dir and self._automatic_root is None:
            problems["run_dir"] = "run folder: choose where the run is written"
        if self.where() == "ray" and not self.ray_address():
            problems["ray_address"] = "Ray cluster: give the cluster address"
        if problems:
            self.show_errors(problems)
            raise FormProblems(problems)
        return TrainLaunch(config, str(Path(run_dir).resolve()) if run_dir else "", executor=self.where(),
                           ray_address=self.ray_address())

    def _config(self, problems: dict[str, str]) -> TrainConfig:
        manifest = self.manifest_edit.text().strip()
        if not manifest or not Path(manifest).exists():
            problems["dataset"] = f"labels: manifest {manifest!r} not found"
        lr_text = self.lr_edit.text().strip()
        try:
            lr = float(lr_text) if lr_text else None
        except ValueError:
            problems["lr"], lr = f"learning rate: {lr_text!r} is not a number", None
        try:
            overrides = parse_model_overrides(self.overrides_edit.text().strip())
        except ValueError as exc:
            problems[OTHER_FIELD], overrides = f"network options: not a JSON object ({exc})", {}
        config = TrainConfig(
            dataset=str(Path(manifest).resolve()) if manifest else "", model=str(self.model_combo.currentData()),
            rois=self.rois_combo.currentData(), window=self.window_spin.value(), skip=self.skip_spin.value() or None,
            epochs=self.epochs_spin.value(), lr=lr, batch=self.batch_spin.value(),
            ratio=self.ratio_spin.value(), synergy=self.synergy_check.isChecked(),
            strategy=str(self.strategy_combo.currentData()), seed=self.seed_spin.value(),
            videos="all",                       # a project's own data: videos without MEs are evidence too
            final=self.final_check.isChecked(), model_overrides=overrides)
        for key, message in config.resolved().problems().items():
            problems.setdefault(key if key in self.errors else OTHER_FIELD, message)
        return config

    def clear_errors(self) -> None:
        for label in self.errors.values():
            label.clear()
            label.setVisible(False)

    def show_errors(self, problems: Mapping[str, str]) -> None:
        """Each message under its field; "Advanced" opens when one of its fields is wrong."""
        for key, message in problems.items():
            label = self.errors.get(key, self.errors[OTHER_FIELD])
            label.setText("\n".join(filter(None, (label.text(), message))))
            label.setVisible(True)
            if self.advanced.body.isAncestorOf(label):
                self.advanced.set_expanded(True)

    def apply(self, launch: TrainLaunch) -> None:
        """Show ``launch`` in the form (e.g. the settings of a run folder that was opened)."""
        s = launch.config
        same = [i for i in range(self.source_combo.count()) if self.source_combo.itemData(i) is not None
                and Path(self.source_combo.itemData(i)).resolve() == Path(s.dataset).resolve()]
        self.source_combo.setCurrentIndex(same[0] if same else self.source_combo.findText(MANIFEST_FILE))
        self.manifest_edit.setText(s.dataset)
        self.model_combo.setCurrentIndex(max(0, self.model_combo.findData(s.model)))
        rois = self.rois_combo.findData(s.rois) if s.rois and s.rois != s.model else 0
        self.rois_combo.setCurrentIndex(max(0, rois))
        self.window_spin.setValue(s.window)
        self.skip_spin.setValue(s.skip or 0)
        self.epochs_spin.setValue(s.epochs or model_info(s.model).epochs)
        self.lr_edit.setText("" if s.lr is None else repr(s.lr))
        self.batch_spin.setValue(s.batch)
        self.ratio_spin.setValue(s.ratio)
        self.synergy_check.setChecked(s.synergy)
        self.strategy_combo.setCurrentIndex(max(0, self.strategy_combo.findData(s.strategy)))
        self.seed_spin.setValue(s.seed)
        self.final_check.setChecked(s.final)
        self.overrides_edit.setText(json.dumps(s.model_overrides) if s.model_overrides else "")
        self.run_dir_edit.setText(launch.run_dir)

    # ------------------------------------------------------------------ reactions
    def _model_changed(self, *_: object) -> None:
        """Epochs and window follow the model's own defaults unless they were changed."""
        old, new = model_info(self._shown_model), model_info(str(self.model_combo.currentData()))
        if self.epochs_spin.value() == old.epochs:
            self.epochs_spin.setValue(new.epochs)
        if self.window_spin.value() == old.window:
            self.window_spin.setValue(new.window)
        self.lr_edit.setPlaceholderText(f"the model's default ({new.lr:g})")
        self._shown_model = new.name
        self._update_run_dir_hint()

    def _source_changed(self, *_: object) -> None:
        path = self.source_combo.currentData()
        if path is not None:
            self.manifest_edit.setText(str(path))
        own_file = self.source_combo.currentText() == MANIFEST_FILE
        self.simple.setRowVisible(2, own_file)
        if not own_file and path is None:
            self.manifest_edit.clear()
        self._update_run_dir_hint()

    def _update_run_dir_hint(self) -> None:
        if self._automatic_root is None:
            self.run_dir_edit.setPlaceholderText("new run folder")
            return
        name = run_folder_name(str(self.model_combo.currentData()), self.labels_name())
        self.run_dir_edit.setPlaceholderText(f"automatic: {self._automatic_root / name}")

    def _browse_manifest(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Dataset manifest", "", "CSV (*.csv)")
        if path:
            self.source_combo.setCurrentIndex(self.source_combo.findText(MANIFEST_FILE))
            self.manifest_edit.setText(path)

    def _browse_run_dir(self) -> None:
        path = QtWidgets.QFileDialog.getExistingDirectory(self, "Run folder")
        if path:
            self.run_dir_edit.setText(path)
