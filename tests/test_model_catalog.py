"""Model names and defaults have one home (metst_engine.model_catalog); the front ends only read it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from metst_engine.model_catalog import CATALOG, DEFAULT_MODEL, MODEL_DEFAULTS, MODEL_NAMES, ModelInfo, model_info, per_model


def test_the_catalog_lists_exactly_the_registered_networks():
    from metst_engine.models import MODELS, default_config, model_names

    assert sorted(MODEL_NAMES) == model_names() == sorted(MODELS)
    for name in MODEL_NAMES:
        assert default_config(name)                     # each has a network config to build


def test_training_defaults_follow_the_catalog():
    from metst_engine.training import TrainConfig

    assert MODEL_DEFAULTS == {"metst": {"epochs": 50, "lr": 3e-4, "rois": "metst"},
                              "metst_plus": {"epochs": 50, "lr": 3e-4, "rois": "metst_plus"}}
    for name, info in CATALOG.items():
        cfg = TrainConfig(dataset="x", model=name).resolved()
        assert (cfg.epochs, cfg.lr, cfg.rois) == (info.epochs, info.lr, info.rois)
    assert TrainConfig(dataset="x").model == DEFAULT_MODEL and TrainConfig(dataset="x").window == 50
    with pytest.raises(ValueError, match="unknown model 'nope'; known: metst, metst_plus"):
        TrainConfig(dataset="x", model="nope").resolved()
    with pytest.raises(ValueError, match="even window"):
        ModelInfo("x", "X", "metst", epochs=1, lr=1.0, window=31)
    assert per_model("epochs") == "metst 50, metst_plus 50" and model_info("metst_plus").label == "ME-TST+"


def test_the_cli_offers_the_catalog_without_importing_torch():
    code = ("import sys; from metst_engine.cli import build_parser; "
            "p = build_parser(); sys.exit('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
    help_code = ("import sys, contextlib, io; from metst_engine.cli import main\n"
                 "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()): main(['train', '--help'])\n"
                 "sys.exit('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", help_code], check=False).returncode == 0


def test_an_unknown_model_is_refused_by_the_catalog_before_torch_is_loaded():
    code = ("import sys; from metst_engine.runs import TrainConfig\n"
            "try: TrainConfig(dataset='x', model='nope').validate()\n"
            "except ValueError as exc: print(exc)\n"
            "sys.exit('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and done.stdout.strip() == "unknown model 'nope'; known: metst, metst_plus"
