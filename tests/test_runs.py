"""metst_engine.runs (issue 18 step 1): one home for the run folder, the settings' command line,
and the metst train process — torch-free, no Qt."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from metst_engine.runs import RunFolder, RunFollower, TrainConfig, TrainLaunch
from metst_engine.runs.config import add_arguments


def test_to_argv_and_from_argv_round_trip_every_cli_setting():
    cfg = TrainConfig(dataset="d.csv", model="metst_plus", rois="metst", window=30, skip=7, epochs=3, lr=3e-4,
                      batch=32, ratio=0.5, redraw="once", synergy=False, strategy="result_synergy",
                      alignment="improved", videos="all", recog_loss="weight_mean", recog_classes=["negative"],
                      seed=5, threads=2, device="cpu", final=False, model_overrides={"depth": 2}, use_cache=False,
                      cache_dir="/tmp/c")
    assert TrainConfig.from_argv(cfg.to_argv()) == cfg
    assert TrainConfig.from_argv(TrainConfig(dataset="d.csv").to_argv()) == TrainConfig(dataset="d.csv")


def test_the_cli_defaults_are_the_config_defaults():
    import argparse

    p = argparse.ArgumentParser()
    add_arguments(p)
    assert TrainConfig.from_args(p.parse_args(["--dataset", "d.csv"])) == TrainConfig(dataset="d.csv")
    with pytest.raises(ValueError, match="--model-overrides"):
        TrainConfig.from_argv(["--dataset", "d", "--model-overrides", "[1]"])


def test_one_validate_names_the_wrong_setting():
    with pytest.raises(ValueError, match="window must be an even number"):
        TrainConfig(dataset="d", window=31).validate()
    with pytest.raises(ValueError, match="lr must be"):
        TrainConfig(dataset="d", lr=0.0).validate()
    with pytest.raises(ValueError, match="no option"):
        TrainConfig(dataset="d", model_overrides={"nope": 1}).validate()


def test_launch_command_and_resume(tmp_path):
    launch = TrainLaunch(TrainConfig(dataset="d.csv"), str(tmp_path / "run"), executor="ray", ray_address="auto")
    cmd = launch.command(resume=True)
    assert cmd[1:6] == ["-m", "metst_engine.cli", "train", "--loso", "-o"]
    assert cmd[-5:] == ["--executor", "ray", "--ray-address", "auto", "--resume"]
    with pytest.raises(ValueError, match="executor"):
        TrainLaunch(TrainConfig(dataset="d"), "r", executor="slurm")


def test_run_folder_paths_and_state(tmp_path):
    from metst_engine.errors import InputError

    run = RunFolder(tmp_path / "run")
    assert not run.is_run() and run.final_checkpoint() is None and run.settings_or_none() is None
    run.path.mkdir()
    cfg = TrainConfig(dataset="d.csv", epochs=2)
    run.write_settings({"config": cfg.to_dict(), "subjects": ["s1", "s2"]})
    assert run.is_run() and run.train_config() == cfg and not run.finished()
    assert run.fold_checkpoint("s1") == run.path / "folds" / "s1" / "model.safetensors"
    with pytest.raises(InputError):
        run.fold_dir("../x")
    run.write_metrics({"f1": 0.5})
    assert run.finished() and run.read_metrics() == {"f1": 0.5}
    assert TrainLaunch.of_run(run.path).config == cfg


def test_follower_reports_a_process_that_failed(tmp_path):
    from metst_engine.runs import launch

    proc = launch([sys.executable, "-c", "import sys; print('error: broken'); sys.exit(1)"], tmp_path)
    proc.wait(timeout=30)
    follower = RunFollower(tmp_path, proc)
    update = follower.poll()
    assert update.ended == ("failed", "error: broken") and follower.outcome == "failed"
    assert update.log_lines[0].startswith("$ ") and RunFolder(tmp_path).launched_pid() == proc.pid
    assert follower.poll().ended is None


def test_runs_imports_neither_torch_nor_qt():
    code = "import sys, metst_engine.runs; sys.exit('torch' in sys.modules or 'PySide6' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parent).returncode == 0


def test_every_wrong_setting_is_named_once_and_the_defaults_are_the_dataclass_ones():
    from metst_engine.runs import config_defaults

    bad = TrainConfig(dataset="d", window=31, batch=0, lr=-1.0, strategy="x", model_overrides={"nope": 1})
    problems = bad.problems()
    assert list(problems) == ["window", "lr", "batch", "strategy", "model_overrides"]
    assert "even number" in problems["window"] and "nope" in problems["model_overrides"]
    with pytest.raises(ValueError, match="window must be an even number"):     # validate: the first one
        bad.validate()
    assert TrainConfig(dataset="d").problems() == {}
    unknown = TrainConfig(dataset="d", model="nope", model_overrides={"x": 1}).problems()
    assert list(unknown) == ["model"]                      # no second message about the unknown model's options
    assert TrainConfig(dataset="d", **config_defaults()) == TrainConfig(dataset="d")
    assert "dataset" not in config_defaults() and config_defaults()["recog_classes"] == TrainConfig("d").recog_classes


def test_a_new_run_folder_is_named_by_day_model_and_labels_and_never_reused(tmp_path):
    import datetime

    from metst_engine.errors import InputError
    from metst_engine.runs import project_runs_folder, run_folder_name

    day = datetime.date(2025, 3, 1)
    assert run_folder_name("metst_plus", "Reviewed + ground truth", day) == "2025-03-01-metst-plus-reviewed-ground-truth"
    assert run_folder_name("metst", "", day) == "2025-03-01-metst"
    root = project_runs_folder(tmp_path / "proj")
    assert root == tmp_path / "proj" / "runs"
    first = RunFolder.create_new(root, "metst", "Reviewed annotations", day)
    second = RunFolder.create_new(root, "metst", "Reviewed annotations", day)
    assert first.path == root / "2025-03-01-metst-reviewed-annotations" and first.path.is_dir()
    assert second.path == root / "2025-03-01-metst-reviewed-annotations-2" and second.path.is_dir()
    blocked = tmp_path / "file"
    blocked.write_text("")
    with pytest.raises(InputError, match="cannot create a run folder"):
        RunFolder.create_new(blocked, "metst", "x", day)


def test_find_runs_lists_each_run_once_with_how_it_ended(tmp_path):
    from metst_engine.runs import find_runs, launch

    root = tmp_path / "runs"
    done = RunFolder(root / "done")
    done.path.mkdir(parents=True)
    done.write_settings({"config": TrainConfig(dataset="d.csv", model="metst_plus").to_dict(), "subjects": ["s1"]})
    done.fold_dir("s1").mkdir(parents=True)
    (done.fold_metrics_file("s1")).write_text('{"f1": 0.25}')
    done.write_metrics({"f1": 0.25, "uf1": 0.5, "per_subject": {"s1": {"f1": 0.25}}})
    failed = root / "failed"                                # refused before it wrote its settings
    launch([sys.executable, "-c", "import sys; print('error: d.csv: not a manifest'); sys.exit(1)"], failed).wait(30)
    (root / "not-a-run").mkdir()
    runs = find_runs([root, done.path, tmp_path / "missing"])
    assert sorted(r.run_dir.name for r in runs) == ["done", "failed"]
    by_name = {r.run_dir.name: r for r in runs}
    assert by_name["done"].status == "finished" and by_name["done"].model == "metst_plus"
    assert by_name["done"].metrics == {"f1": 0.25, "uf1": 0.5} and (by_name["done"].folds_done, by_name["done"].folds) == (1, 1)
    assert by_name["failed"].status == "failed" and "not a manifest" in by_name["failed"].message
    assert runs[0].run_dir.name == "failed"                 # newest first (it was launched last)


@pytest.mark.parametrize("content", ['{"model": "metst", "epochs": 2}', '{"config": {"model": "metst"}}',
                                     '{"config": ["not", "settings"]}'])
def test_a_config_json_without_usable_training_settings_is_one_message_naming_it(tmp_path, content):
    """A folder someone else wrote (or an older layout) must not crash the panel that opens it."""
    from metst_engine.errors import InputError

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match="no usable training settings") as info:
        TrainLaunch.of_run(run)
    assert "config.json" in str(info.value)
