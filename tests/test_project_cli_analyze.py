"""``metst project analyze``: spot a project's videos and import the proposals; Ctrl-C imports nothing."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from metst_engine.cli import main
from metst_engine.project import Project
from metst_engine.runs import EXIT_CANCELLED


@pytest.fixture(scope="module")
def synth_video(tmp_path_factory) -> Path:
    from metst_engine.synth import SynthConfig, generate

    config = SynthConfig(subjects=1, videos_per_subject=1, seconds=8.0, me_per_minute=30.0, seed=1)
    return generate(tmp_path_factory.mktemp("synth") / "videos", config).videos[0].path


@pytest.fixture
def project(tmp_path, synth_video, monkeypatch) -> Path:
    monkeypatch.setenv("METST_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "interviews"
    assert main(["-q", "project", "create", str(folder)]) == 0
    assert main(["-q", "project", "add", str(folder), str(synth_video), "--subject", "s01", "--video-id", "v1"]) == 0
    return folder


def test_analyze_imports_one_prediction_run_with_curves(project, capsys):
    capsys.readouterr()
    assert main(["-q", "project", "analyze", str(project), "v1", "--alignment", "improved"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["videos"] == ["v1"] and out["added"] > 0 and out["skipped"] == 0
    with Project.open(project, read_only=True) as p:
        assert len(p.intervals("v1")) == out["added"]
        assert {r.state for r in p.intervals("v1")} == {"pending"}
        assert len(p.curves(p.video("v1").id)) == 1
    assert main(["-q", "project", "analyze", str(project)]) == 0          # all videos; untouched ones replaced
    again = json.loads(capsys.readouterr().out)
    assert again["replaced"] == out["added"] and again["run"] != out["run"]


def test_ctrl_c_cancels_and_imports_nothing(project, capsys, monkeypatch):
    from metst_engine import progress

    real = progress._Bar.update_to

    def interrupt_once(self, done, total):          # Ctrl-C arrives while windows are being computed
        if not getattr(interrupt_once, "sent", False):
            interrupt_once.sent = True
            signal.raise_signal(signal.SIGINT)
        real(self, done, total)
    monkeypatch.setattr(progress._Bar, "update_to", interrupt_once)
    capsys.readouterr()
    assert main(["-q", "project", "analyze", str(project), "--no-cache"]) == EXIT_CANCELLED
    err = capsys.readouterr().err
    assert "analyze cancelled; nothing imported" in err and err.count("\n") == 1
    with Project.open(project, read_only=True) as p:
        assert p.intervals("v1") == [] and p.curves(p.video("v1").id) == []


def test_an_unknown_video_is_one_clear_error(project, capsys):
    capsys.readouterr()
    assert main(["-q", "project", "analyze", str(project), "nope"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error:") and "nope" in err
