"""Ray executor (issue 8): same folds as the local executor, failures retried then named, resume, extraction.

A local Ray with 2 CPUs is started once for the module; the tests skip when Ray is not
installed (``pip install -e ".[cluster]"``), except the one that checks the install hint.
"""

from __future__ import annotations

import builtins
import functools
import json
import os
import shutil
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from metst_engine.executors import RAY_INSTALL_HINT, ExecutorUnavailable, Outcome, Task, make_executor
from metst_engine.training import FoldsFailed, TrainConfig, run_loso

ROOT = Path(__file__).resolve().parent.parent
SUBJECTS = ["s01", "s02", "s03"]


# ------------------------------------------------------------------------------- without ray
def test_ray_executor_without_ray_says_how_to_install(monkeypatch, capsys, tmp_path):
    real_import = builtins.__import__

    def no_ray(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "ray", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(ExecutorUnavailable, match=r'pip install "metst\[cluster\]"'):
        make_executor("ray")
    from metst_engine.cli import main

    code = main(["train", "--dataset", str(tmp_path), "--loso", "-o", str(tmp_path / "run"), "--executor", "ray"])
    err = capsys.readouterr().err
    assert code == 1 and err.strip() == f"error: {RAY_INSTALL_HINT}"
    assert main(["train", "--dataset", str(tmp_path), "--loso", "-o", str(tmp_path / "r"), "--ray-address", "auto"]) == 2


# ------------------------------------------------------------------------------- with ray
@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install -e '.[cluster]'")
    # workers import this checkout's metst_engine, and this folder's helpers (the failure injector)
    path = os.pathsep.join([str(ROOT), str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")])
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": path}})
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def synth_set(tmp_path_factory) -> Path:
    from metst_engine.synth import SynthConfig, generate

    out = tmp_path_factory.mktemp("synth")
    generate(out, SynthConfig(subjects=3, videos_per_subject=1, seconds=6, seed=5))
    return out


def _config(synth_set: Path, cache: Path) -> TrainConfig:
    return TrainConfig(dataset=str(synth_set), model="metst", rois="metst", window=30, epochs=2, batch=16, ratio=4.0,
                       seed=3, model_overrides={"depth": 2, "dim": 32}, cache_dir=str(cache))


@pytest.fixture(scope="module")
def local_run(synth_set, tmp_path_factory) -> Path:
    """The reference: the same LOSO with the local (in-process) executor; fills the feature cache."""
    base = tmp_path_factory.mktemp("local")
    run_loso(_config(synth_set, base / "cache"), base / "run")
    return base


def _fold_metrics(run: Path, subject: str) -> dict[str, Any]:
    m = json.loads((run / "folds" / subject / "metrics.json").read_text())
    m.pop("seconds")
    return m


def _events(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / "progress.jsonl").read_text().splitlines()]


def _assert_same_fold(a: Path, b: Path, subject: str) -> None:
    from safetensors.torch import load_file

    assert _fold_metrics(a, subject) == _fold_metrics(b, subject)
    ta = load_file(str(a / "folds" / subject / "model.safetensors"))
    tb = load_file(str(b / "folds" / subject / "model.safetensors"))
    assert ta.keys() == tb.keys() and all(bool((ta[k] == tb[k]).all()) for k in ta), subject
    assert (a / "folds" / subject / "predictions.csv").read_bytes() == (b / "folds" / subject / "predictions.csv").read_bytes()


def test_ray_loso_gives_the_local_executor_folds(ray_local, synth_set, local_run, tmp_path):
    from metst_engine.executors import RayExecutor

    ray_run = tmp_path / "ray_run"
    executor = RayExecutor()
    # the videos go through Ray tasks too (reading the local run's cache: the CLI test extracts afresh)
    out = run_loso(_config(synth_set, local_run / "cache"), ray_run, executor=executor)
    executor.close()
    assert ray_local.is_initialized(), "an executor must not shut down a Ray it did not start"
    for subject in SUBJECTS:
        _assert_same_fold(local_run / "run", ray_run, subject)
    assert (ray_run / "final" / "model.safetensors").read_bytes() == \
        (local_run / "run" / "final" / "model.safetensors").read_bytes()
    assert out == json.loads((local_run / "run" / "metrics.json").read_text())
    # the driver wrote the same events as a local run: each fold's epochs, then its end
    events = _events(ray_run)
    for fold in SUBJECTS + ["final"]:
        assert [e["epoch"] for e in events if e["event"] == "epoch" and e["fold"] == fold] == [1, 2], fold
    assert sorted(e["fold"] for e in events if e["event"] == "fold_end") == SUBJECTS
    assert sum(e["event"] == "extract" for e in events) == 3 and events[-1]["event"] == "run_end"


def _flaky(marks: str, plan: dict[str, str], name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Runs in a Ray worker: counts the attempt in ``marks``, then fails as ``plan`` says or runs ``fn``."""
    attempt = len(list(Path(marks).glob(f"{name}.*")))
    Path(marks, f"{name}.{attempt}").touch()
    action = plan.get(name)
    if action == "raise":
        raise RuntimeError(f"injected failure in {name}")
    if action == "crash_first" and attempt == 0:
        os._exit(1)                                   # the worker dies: a lost task
    return fn(*args, **kwargs)


class InjectingExecutor:
    """Wraps an executor so that chosen tasks fail inside the workers."""

    def __init__(self, inner: Any, marks: Path, plan: dict[str, str]):
        self.inner, self.marks, self.plan = inner, marks, plan
        self.in_process = inner.in_process

    def share(self, obj: Any) -> Any:
        return self.inner.share(obj)

    def run(self, tasks: Sequence[Task], cancel: Callable[[], bool] | None = None) -> Iterator[Outcome]:
        wrapped = [Task(t.name, functools.partial(_flaky, str(self.marks), self.plan, t.name, t.fn), t.args, t.kwargs,
                        t.num_cpus, t.num_gpus) for t in tasks]
        return self.inner.run(wrapped, cancel)

    def close(self) -> None:
        self.inner.close()


def test_failed_fold_is_retried_named_and_resumed(ray_local, synth_set, local_run, tmp_path):
    from metst_engine.executors import RayExecutor

    cfg = _config(synth_set, local_run / "cache")      # features from the cache: this test is about the folds
    run, marks = tmp_path / "run", tmp_path / "marks"
    marks.mkdir()
    executor = InjectingExecutor(RayExecutor(max_retries=1), marks, {"s02": "raise", "s01": "crash_first"})
    with pytest.raises(FoldsFailed, match=r"s02: RuntimeError: injected failure in s02") as info:
        run_loso(cfg, run, executor=executor)
    assert list(info.value.failures) == ["s02"]
    assert len(list(marks.glob("s02.*"))) == 2, "one try and one retry"
    assert len(list(marks.glob("s01.*"))) == 2, "the lost worker's task ran again"
    for subject in ("s01", "s03"):                      # the other folds went on and were written
        _assert_same_fold(local_run / "run", run, subject)
    assert (run / "final" / "model.safetensors").is_file()
    assert not (run / "folds" / "s02").exists() and not (run / "metrics.json").exists()
    events = _events(run)
    assert [(e["fold"], e["error"]) for e in events if e["event"] == "fold_failed"] == \
        [("s02", "RuntimeError: injected failure in s02")]
    assert events[-1]["event"] == "run_failed" and events[-1]["failed"] == ["s02"]

    executor = RayExecutor()
    out = run_loso(cfg, run, resume=True, executor=executor)
    executor.close()
    resumed = _events(run)[len(events):]
    assert [e["fold"] for e in resumed if e["event"] == "fold_start"] == ["s02"]
    assert not any(e["event"] == "final_start" for e in resumed)
    _assert_same_fold(local_run / "run", run, "s02")
    assert out == json.loads((local_run / "run" / "metrics.json").read_text())


def test_cli_extracts_a_dataset_on_ray_like_the_local_executor(ray_local, synth_set, local_run, tmp_path):
    import subprocess

    from metst_engine.cache import cached_features
    from metst_engine.extraction import discover_videos
    from metst_engine.features import ExtractParams, FeatureSet

    items = discover_videos(synth_set)[:2]
    data = tmp_path / "data"
    for it in items:                                     # a dataset folder holding these two videos
        (data / it.path.relative_to(synth_set)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(it.path, data / it.path.relative_to(synth_set))
    (data / "broken.mp4").write_bytes(items[0].path.read_bytes()[:3000])     # and one that fails every try
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    address = ray_local.get_runtime_context().gcs_address          # join the module's Ray, as a cluster
    r = subprocess.run([sys.executable, "-m", "metst_engine.cli", "extract", str(data), "--dataset", "-k", "30",
                        "-o", str(tmp_path / "ray"), "--no-cache", "--executor", "ray", "--ray-address", address],
                       capture_output=True, text=True, timeout=300, env=env, check=False)
    assert r.returncode == 1, r.stderr
    summary = {s["video"]: s for s in json.loads(r.stdout)}
    assert sorted(summary) == sorted(["broken"] + [it.video_id for it in items])
    assert "broken.mp4" in summary["broken"]["error"] and "broken.mp4" in r.stderr
    assert all(summary[it.video_id]["error"] is None for it in items)
    for it in items:     # the local run extracted the same videos in-process into its cache
        _, local = cached_features(it.path, ExtractParams(rois="metst", window=30), local_run / "cache")
        assert local is not None
        remote = FeatureSet.load(tmp_path / "ray" / f"{it.video_id}.npz")
        np.testing.assert_array_equal(local.features, remote.features)
        np.testing.assert_array_equal(local.starts, remote.starts)
        assert local.params == remote.params
