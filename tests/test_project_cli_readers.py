"""``metst project`` beside the GUI: read-only verbs while another process edits, writers refused
with a clear message, completion refused while intervals are pending, EAF export files, file
permissions under the umask, and a closed stdout (``| head``)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from project_support import project_with, tiny_video

from metst_engine.atomic import atomic_path
from metst_engine.cli import main
from metst_engine.project import Project

# The GUI's way of holding a project: Project.open for editing (the lock), an edit saved, the
# window left open; "hold-transaction" also keeps a write transaction open (a slow save).
_HOLDER = """
import sys
from metst_engine.project import Project
p = Project.open(sys.argv[1], annotator="gui")
p.accept(p.review_queue()[0].id)
if sys.argv[2] == "hold-transaction":
    conn = p._db()
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("UPDATE intervals SET note = 'unsaved' WHERE id = 1")
print("holding", p.read_only, flush=True)
sys.stdin.read()
p.close()
"""


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return tiny_video(tmp_path_factory.mktemp("clip") / "a.mp4", n_frames=60)


@pytest.fixture
def proj(tmp_path, clip) -> Path:
    with project_with(tmp_path / "proj", {"a": (clip, "S1")}, annotator="alice") as p:
        csv = tmp_path / "pred.csv"
        csv.write_text("subject,video,onset,apex,offset,emotion,score\nS1,a,5,,10,,0.9\nS1,a,20,,25,,0.8\n"
                       "S1,a,40,,45,,0.7\n", encoding="utf-8")
        p.import_predictions(csv)
        p.add_interval("a", 50, 55, emotion="surprise")
    return tmp_path / "proj"


def run(capsys, *args: object) -> tuple[int, object, str]:
    code = main(["-q", "project", *map(str, args)])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else None), err


@pytest.fixture
def held(proj, request):
    """The project held open for editing by another process, as the GUI holds it."""
    mode = getattr(request, "param", "idle")
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(proj), mode], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding False"
        yield proj
    finally:
        holder.communicate("", timeout=60)


# ---------------------------------------------------------------- 2. readers beside the editor
@pytest.mark.parametrize("held", ["idle", "hold-transaction"], indirect=True)
def test_every_read_only_verb_works_while_another_process_edits(held, tmp_path, capsys):
    code, stats, err = run(capsys, "stats", held)
    assert code == 0 and stats["videos"][0]["accepted"] == 2, err      # the GUI's committed accept shows
    code, ag, err = run(capsys, "agreement", held, "alice", "gui")
    assert code == 0 and ag["events_a"] == 1, err
    for name, extra in (("x.csv", []), ("x.xlsx", []), ("x.eaf", ["--video", "a"])):
        code, out, err = run(capsys, "export", held, "-o", tmp_path / name, *extra)
        assert code == 0 and out["output"] == str(tmp_path / name) and (tmp_path / name).stat().st_size > 0, err
    csv = (tmp_path / "x.csv").read_text(encoding="utf-8-sig")
    assert "unsaved" not in csv and csv.count("\n") == 5                # the open transaction is not seen
    code, _, err = run(capsys, "export", held, "-o", tmp_path / "m.csv", "--format", "manifest")
    assert code == 1 and "no video is marked review complete" in err  # refused for its content, not the lock


def test_writers_are_refused_with_who_holds_the_project(held, tmp_path, capsys, clip):
    preds = tmp_path / "p.csv"
    preds.write_text("subject,video,onset,apex,offset,emotion,score\nS1,a,1,,3,,0.9\n", encoding="utf-8")
    for args in (("complete", held, "a"), ("import", held, "--predictions", preds),
                 ("add", held, clip, "--subject", "S2", "--video-id", "c"), ("relocate", held, "a", clip)):
        code, out, err = run(capsys, *args)
        assert code == 1 and out is None
        assert f"cannot {args[0]}: opened read-only: process" in err and "has this project open for editing" in err
    with Project.open(held, read_only=True) as p:
        assert [v.name for v in p.videos()] == ["a"] and not p.video("a").complete and len(p.runs()) == 1


# ---------------------------------------------------------------- 1. complete refuses pending intervals
def test_complete_refuses_pending_intervals_and_reject_pending_completes(proj, tmp_path, capsys):
    code, out, err = run(capsys, "complete", proj, "a")
    assert code == 1 and out is None
    assert "video 'a' still has 3 pending interval(s) (ids 1, 2, 3)" in err
    assert f"metst project complete {proj} a --reject-pending" in err
    with Project.open(proj, read_only=True) as p:
        assert not p.video("a").complete and len(p.intervals("a", states=["pending"])) == 3

    code, out, err = run(capsys, "complete", proj, "a", "--reject-pending")
    assert code == 0 and out == {"video": "a", "complete": True, "rejected_pending": 3}, err
    with Project.open(proj, read_only=True) as p:
        assert p.video("a").complete and [r.state for r in p.intervals("a")] == ["rejected"] * 3 + ["accepted"]
        assert [e["action"] for e in p.edit_log(2)] == ["complete", "reject pending"]
    code, out, err = run(capsys, "export", proj, "-o", tmp_path / "m.csv", "--format", "manifest")
    assert code == 0 and out["left_out"] == {}
    rows = (tmp_path / "m.csv").read_text(encoding="utf-8").splitlines()
    assert len(rows) == 2 and ",50,,55,micro,surprise," in rows[1]  # only the finding; rejected = negatives


# ---------------------------------------------------------------- 3. ELAN: rejected tier, no stray files
def test_eaf_export_puts_rejected_apart_or_leaves_them_out_and_leaves_no_stray_file(proj, tmp_path, capsys):
    from pympi.Elan import Eaf

    with Project.open(proj, annotator="alice") as p:
        first, second, _ = p.intervals("a", states=["pending"])
        p.accept(first.id)
        p.reject(second.id)
    out_dir = tmp_path / "elan"
    out_dir.mkdir()
    for i in range(2):                                              # the second run replaces the file
        code, _, err = run(capsys, "export", proj, "-o", out_dir / "a.eaf", "--video", "a")
        assert code == 0, err
    assert sorted(p.name for p in out_dir.iterdir()) == ["a.eaf"]
    assert sorted(p.name for p in proj.iterdir() if p.name.startswith(".") or p.suffix == ".bak") == []
    eaf = Eaf(str(out_dir / "a.eaf"))
    assert sorted(eaf.get_tier_names()) == ["alice", "pending proposals", "rejected proposals"]
    assert [a[2] for a in eaf.get_annotation_data_for_tier("alice")] == [
        "expression (micro, accepted, predicted)", "surprise (micro, accepted, manual)"]
    assert [a[2] for a in eaf.get_annotation_data_for_tier("rejected proposals")] == [
        "expression (micro, rejected, predicted, by alice)"]
    code, _, err = run(capsys, "export", proj, "-o", out_dir / "b.eaf", "--video", "a", "--rejected", "omit")
    assert code == 0, err
    eaf = Eaf(str(out_dir / "b.eaf"))
    assert sorted(eaf.get_tier_names()) == ["alice", "pending proposals"]
    assert sorted(p.name for p in out_dir.iterdir()) == ["a.eaf", "b.eaf"]


# ---------------------------------------------------------------- 7. permissions follow the umask
@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_writes_respect_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        with atomic_path(tmp_path / "new.txt") as tmp:
            tmp.write_text("x", encoding="utf-8")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.txt").stat().st_mode) == mode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.txt"]


def test_exports_and_run_metrics_are_0644_under_umask_022(proj, tmp_path, capsys):
    from metst_engine.runs.folder import write_json

    old = os.umask(0o022)
    try:
        for name, extra in (("x.csv", []), ("x.xlsx", []), ("x.eaf", ["--video", "a"])):
            assert run(capsys, "export", proj, "-o", tmp_path / name, *extra)[0] == 0
        write_json(tmp_path / "run" / "metrics.json", {"f1": 0.5})
    finally:
        os.umask(old)
    for f in ("x.csv", "x.xlsx", "x.eaf", "run/metrics.json"):
        assert stat.S_IMODE((tmp_path / f).stat().st_mode) == 0o644, f


# ---------------------------------------------------------------- 8. a closed stdout
@pytest.mark.parametrize("args, code", [
    (["project", "stats", "{proj}"], 1), (["project", "export", "{proj}", "-o", "{tmp}/x.csv"], 1),
    (["project", "agreement", "{proj}", "alice", "bob"], 1),
    (["project", "--help"], 0), (["--version"], 0)])         # argparse itself ignores a failed help write
def test_a_reader_that_closes_early_ends_the_verb_quietly(proj, tmp_path, args, code):
    read_end, write_end = os.pipe()
    os.close(read_end)                  # the reader (head) has already gone: every write fails
    try:
        done = subprocess.run([sys.executable, "-m", "metst_engine.cli",
                               *[a.format(proj=proj, tmp=tmp_path) for a in args]],
                              stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=120, check=False)
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (code, "")    # no traceback, no "internal error"
