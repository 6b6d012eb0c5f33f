"""Issue 14: each numbered failure of the hostile-input review, reproduced and fixed.

Every test here failed on the code before the fix (a write outside its folder, an internal
error, a project nothing could open, a silent acceptance) and checks what a user now sees:
one message naming the file and what to do, exit code 1 or 2, nothing saved lost.
"""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from metst_engine.cli import main
from metst_engine.errors import CheckpointError, DatasetError, InputError
from project_support import tiny_video


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*")) if folder.exists() else []


# --------------------------------------------------------------------------- 1. ids as paths
def test_1_analysis_refuses_a_video_id_that_leaves_its_folder(tmp_path):
    from metst_engine.analysis import AnalyzeJob, analyze_videos
    from metst_engine.spotting import BaselineSpotter

    video = tiny_video(tmp_path / "v.mp4")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for evil in (str(elsewhere / "evil"), "../evil", "a\nb"):
        with pytest.raises(InputError, match="video id .* use letters"):
            analyze_videos([AnalyzeJob(evil, "s1", video)], BaselineSpotter())
    assert files_under(elsewhere) == [] and not (tmp_path / "evil.csv").exists()


def test_1_gui_analyze_worker_reports_a_hostile_id_and_writes_nothing_outside(tmp_path, qtbot):
    from metst_gui.project.analyze_worker import AnalyzeJob, AnalyzeWorker

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    worker = AnalyzeWorker([AnalyzeJob(str(elsewhere / "evil"), "s1", tiny_video(tmp_path / "v.mp4"))])
    failed: list[str] = []
    worker.failed.connect(failed.append)
    worker.run()            # in this thread: the same code the QThread runs
    assert len(failed) == 1 and "video id" in failed[0]
    assert files_under(elsewhere) == []


def test_1_training_refuses_a_subject_that_would_leave_the_run_folder(tmp_path, capsys):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    manifest = tmp_path / "m.csv"
    manifest.write_text("subject,video,path,fps,onset,apex,offset,type,emotion\n"
                        f"{elsewhere / 'x'},v1,v1.mp4,30,1,2,3,micro,positive\n"
                        "s2,v2,v2.mp4,30,1,2,3,micro,negative\n", encoding="utf-8")
    rc, _, err = run_cli(capsys, "train", "--dataset", manifest, "--loso", "-o", tmp_path / "run", "--window", "30")
    assert rc == 1 and "subject" in err and "m.csv" in err and "Traceback" not in err
    assert files_under(elsewhere) == []


def test_1_a_fold_is_never_written_outside_the_run_folder(tmp_path):
    from metst_engine.training import FoldOutput, write_fold

    elsewhere = tmp_path / "elsewhere"
    with pytest.raises(InputError, match="subject"):
        write_fold(tmp_path / "run", FoldOutput(str(elsewhere / "x"), b"", {"k_prime": 1}))
    assert not elsewhere.exists()


def test_1_project_add_refuses_hostile_video_ids_and_subjects(tmp_path, capsys):
    video = tiny_video(tmp_path / "v.mp4")
    assert run_cli(capsys, "project", "create", tmp_path / "p")[0] == 0
    for args in (["--video-id", "../evil"], ["--video-id", "/elsewhere/evil"], ["--video-id", "two\nlines"]):
        rc, _, err = run_cli(capsys, "project", "add", tmp_path / "p", video, "--subject", "s1", *args)
        assert rc == 1 and "video id" in err and "--video-id" in err
    rc, _, err = run_cli(capsys, "project", "add", tmp_path / "p", video, "--subject", "../s")
    assert rc == 1 and "subject" in err


# --------------------------------------------------------------------------- 2. formula injection
FORMULA = '=HYPERLINK("http://x","y")'


def test_2_prediction_csv_escapes_formulas_and_reads_them_back(tmp_path):
    from metst_engine.intervals import Interval
    from metst_engine.intervals_io import read_predictions, write_predictions

    out = write_predictions(tmp_path / "p.csv", [(FORMULA, "+v1", Interval(3, 9, apex=5, emotion="@e"))])
    rows = list(csv.reader(out.open(encoding="utf-8")))
    assert rows[1][0] == "'" + FORMULA and rows[1][1] == "'+v1" and rows[1][5] == "'@e"
    back = read_predictions([out])
    assert list(back) == ["+v1"] and back["+v1"][0].emotion == "@e"


def test_2_manifest_writer_escapes_formulas_atomically_and_round_trips(tmp_path):
    from metst_engine.datasets import Dataset, LabelledInterval, VideoEntry, load_manifest, write_manifest

    entry = VideoEntry(FORMULA, "-v1", tmp_path / "v.mp4", 30.0)
    entry.intervals = [LabelledInterval(FORMULA, "-v1", 1, 2, 3, "micro", "positive", "=raw")]
    out = write_manifest(Dataset("d", [entry]), tmp_path / "m.csv")
    text = out.read_text(encoding="utf-8")
    assert "'" + FORMULA.replace('"', '""') in text and ",'-v1," in text and "'=raw" in text
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []      # no temp left
    back = load_manifest(out)
    assert back.videos[0].subject == FORMULA and back.videos[0].video == "-v1"
    assert back.videos[0].intervals[0].raw_emotion == "=raw"
    with pytest.raises(InputError, match="is a folder"):
        write_manifest(Dataset("d", [entry]), tmp_path)


# --------------------------------------------------------------------------- 3. checkpoint metadata
@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    from metst_engine.models import CheckpointMeta, build_model, save_checkpoint

    model = build_model("metst", seed=0, in_channels=10, dim=8, depth=1, d_state=4)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.safetensors"
    save_checkpoint(path, model, CheckpointMeta(roi_set="metst", window=30, fps=30.0, k_prime=3, threshold_p=0.55,
                                                class_names=["negative", "positive", "surprise", "others"]))
    return path


def resave(src: Path, dst: Path, edit) -> Path:
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    with safe_open(str(src), framework="pt") as fh:
        meta = json.loads(fh.metadata()["metst"])
    edit(meta)
    save_file(load_file(str(src)), str(dst), metadata={"metst": json.dumps(meta)})
    return dst


BAD_META = {
    "dim 10^9": lambda m: m["config"].__setitem__("dim", 10**9),
    "n_classes 10^9": lambda m: m["config"].__setitem__("n_classes", 10**9),
    "d_state 10^9": lambda m: m["config"].__setitem__("d_state", 10**9),
    "depth 10^9": lambda m: m["config"].__setitem__("depth", 10**9),
    "depth true": lambda m: m["config"].__setitem__("depth", True),
    "frame_skip 0": lambda m: m.__setitem__("frame_skip", 0),
    "odd window": lambda m: m.__setitem__("window", 31),
    "text window": lambda m: m.__setitem__("window", "fifty"),
    "class_names not a list": lambda m: m.__setitem__("class_names", "negative"),
    "k_prime -1": lambda m: m.__setitem__("k_prime", -1),
    "fps -30": lambda m: m.__setitem__("fps", -30),
    "threshold 7": lambda m: m.__setitem__("threshold_p", 7),
    "provenance a list": lambda m: m.__setitem__("provenance", [1]),
    "drop_path nan": lambda m: m["config"].__setitem__("drop_path", float("nan")),
}


@pytest.mark.parametrize("name", sorted(BAD_META))
def test_3_checkpoint_metadata_is_checked_before_anything_is_built(name, tiny_checkpoint, tmp_path):
    from metst_engine.models import load_checkpoint, read_checkpoint_meta

    bad = resave(tiny_checkpoint, tmp_path / "bad.safetensors", BAD_META[name])
    with pytest.raises(CheckpointError, match="bad metadata: .*cannot be used"):
        read_checkpoint_meta(bad)
    with pytest.raises(CheckpointError, match="bad metadata"):
        load_checkpoint(bad)


def test_3_parameter_count_is_checked_against_the_tensors_present(tiny_checkpoint, tmp_path):
    from metst_engine.models import load_checkpoint

    bad = resave(tiny_checkpoint, tmp_path / "deeper.safetensors", lambda m: m["config"].__setitem__("depth", 64))
    with pytest.raises(CheckpointError, match=r"describes [\d,]+ parameters, the file holds [\d,]+"):
        load_checkpoint(bad)


def test_3_predict_with_a_hostile_checkpoint_exits_1_without_allocating(tiny_checkpoint, tmp_path, capsys):
    bad = resave(tiny_checkpoint, tmp_path / "huge.safetensors", BAD_META["dim 10^9"])
    video = tiny_video(tmp_path / "v.mp4")
    rc, _, err = run_cli(capsys, "predict", video, "--model", bad, "-o", tmp_path / "p.csv")
    assert rc == 1 and "huge.safetensors" in err and "config.dim must be in [1, 4096]" in err
    assert not (tmp_path / "p.csv").exists()


# --------------------------------------------------------------------------- 4. prediction CSV reader
@pytest.mark.parametrize("content, problem", [
    (b"subject,video,onset,apex,offset,emotion,score\ns,v,inf,,5,,\n", "not a finite number"),
    (b"subject,video,onset,apex,offset,emotion,score\ns,v,1,,1e400,,\n", "not a finite number"),
    (b"subject,video,onset,apex,offset,emotion,score\ns,v,1,,99999999999999999999,,\n", "too large"),
    (b"subject,video,onset,apex,offset,emotion,score\ns,v\xff\xfe,1,,5,,\n", "not UTF-8"),
])
def test_4_prediction_reader_names_the_file_for_inf_and_bad_bytes(tmp_path, capsys, content, problem):
    from metst_engine.intervals_io import read_predictions

    pred = tmp_path / "pred.csv"
    pred.write_bytes(content)
    with pytest.raises(InputError, match=problem):
        read_predictions([pred])
    gt = tmp_path / "gt.csv"
    gt.write_text("subject,video,path,fps,onset,apex,offset,type,emotion\ns,v,v.mp4,30,,,,,\n", encoding="utf-8")
    rc, _, err = run_cli(capsys, "evaluate", "--gt", gt, "--pred", pred)
    assert rc == 1 and "pred.csv" in err and problem in err


# --------------------------------------------------------------------------- 5. label sheets
@pytest.mark.parametrize("cell", ["nan", "inf", "-inf", "NaN"])
def test_5_label_sheet_nan_or_inf_frame_is_a_clear_error(tmp_path, cell):
    """The row is refused with a message naming sheet, row and column (the loaders report it
    as a skipped row: one bad row never aborts an import)."""
    from openpyxl import Workbook

    from metst_engine.datasets._sheets import BadRow, read_sheet

    wb = Workbook()
    ws = wb.active
    ws.append(["Subject", "Onset", "Apex", "Offset"])
    ws.append(["s1", cell, 5, 9])
    wb.save(tmp_path / "labels.xlsx")
    sheet = read_sheet(tmp_path / "labels.xlsx", ["subject", "onset"])
    row, cells = sheet.rows[0]
    with pytest.raises(BadRow, match="not a frame number") as bad:
        sheet.number(cells, "onset")
    assert sheet.where(row, bad.value.col) == "sheet 'Sheet', row 2, column B (Onset)"


# --------------------------------------------------------------------------- 6. damaged database
def _damage(db: Path) -> None:
    """Zero every page but the first (the header): interior B-tree pages gone, as a disk fault would."""
    conn = sqlite3.connect(db)
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    data = bytearray(db.read_bytes())
    assert len(data) > 4 * page
    data[page:len(data) - page] = bytes(len(data) - 2 * page)
    db.write_bytes(bytes(data))


def _project_with_work(folder: Path) -> None:
    from metst_engine.project import Project

    with Project.create(folder) as p:
        for i in range(400):
            p.add_subject(f"subject-{i:04d}-" + "x" * 40)
    for b in (folder / "backups").iterdir():      # the creation day's copy (empty): as if a day passed
        b.unlink()
    with Project.open(folder):                      # the next day's first open backs up yesterday's work
        pass


def test_6_damaged_database_says_so_and_points_to_the_backup(tmp_path, capsys):
    folder = tmp_path / "proj"
    _project_with_work(folder)
    backups = list((folder / "backups").glob("project-*.sqlite"))
    assert len(backups) == 1           # made automatically on the first day of work
    _damage(folder / "project.sqlite")
    for argv in (["stats", folder], ["complete", folder, "v1"], ["export", folder, "-o", tmp_path / "x.csv"]):
        rc, _, err = run_cli(capsys, "project", *argv)
        assert rc == 1, err
        assert "damaged" in err and str(backups[0]) in err and "metst project restore" in err
        assert "internal error" not in err
    rc, out, err = run_cli(capsys, "project", "restore", folder)
    assert rc == 0, err
    assert json.loads(out)["restored_from"] == str(backups[0])
    assert list(folder.glob("project.sqlite.damaged-*"))            # the damaged file is kept
    rc, out, _ = run_cli(capsys, "project", "stats", folder)
    assert rc == 0 and len(json.loads(out)["subjects"]) == 400


def test_6_damaged_database_without_backups_says_how_to_salvage(tmp_path, capsys):
    folder = tmp_path / "proj"
    _project_with_work(folder)
    for b in (folder / "backups").iterdir():
        b.unlink()
    _damage(folder / "project.sqlite")
    rc, _, err = run_cli(capsys, "project", "stats", folder)
    assert rc == 1 and "no automatic backup" in err and ".recover" in err
    rc, _, err = run_cli(capsys, "project", "restore", folder)
    assert rc == 1 and "no automatic backup" in err


def test_6_backups_are_one_per_day_and_the_oldest_are_dropped(tmp_path):
    from metst_engine.project import Project
    from metst_engine.project.recovery import KEEP_BACKUPS, daily_backup

    with Project.create(tmp_path / "p") as p:
        for day in range(1, KEEP_BACKUPS + 5):
            daily_backup(p._db(), p.db_path, today=f"2020-01-{day:02d}")
        assert daily_backup(p._db(), p.db_path, today="2020-01-18") is None      # one per day
    names = sorted(b.name for b in (tmp_path / "p" / "backups").iterdir())
    assert len(names) == KEEP_BACKUPS and names[-1] > "project-2020-01-18"


# --------------------------------------------------------------------------- 7. read-only folder
def _read_only_run(folder: Path, *argv: str) -> subprocess.CompletedProcess:
    """Run the CLI where ``folder`` cannot be written: a read-only bind mount (as root, in a user
    namespace) or a folder without write permission (other users)."""
    cmd = [sys.executable, "-m", "metst_engine.cli", *argv]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    if os.geteuid() == 0:
        script = (f'mount --bind "{folder}" "{folder}" && mount -o remount,bind,ro "{folder}" && '
                  + " ".join(f"'{c}'" for c in cmd))
        probe = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "true"], capture_output=True)
        if probe.returncode != 0:
            pytest.skip("running as root without user namespaces: cannot make a read-only folder")
        return subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script],
                              capture_output=True, text=True, env=env, timeout=120)
    folder.chmod(0o555)
    try:
        return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    finally:
        folder.chmod(0o755)


def test_7_a_read_only_project_folder_opens_for_reading_and_exports(tmp_path):
    from metst_engine.project import Project

    folder = tmp_path / "proj"
    with Project.create(folder) as p:
        p.add_video(tiny_video(tmp_path / "v.mp4"), "s1")
        p.add_interval("v", 2, 9, apex=5, emotion="positive")
    for side in folder.glob("project.sqlite-*"):
        side.unlink()
    res = _read_only_run(folder, "project", "stats", str(folder))
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["videos"][0]["total"] == 1
    res = _read_only_run(folder, "project", "export", str(folder), "-o", str(tmp_path / "out.csv"))
    assert res.returncode == 0, res.stderr
    assert "positive" in (tmp_path / "out.csv").read_text(encoding="utf-8-sig")
    res = _read_only_run(folder, "project", "complete", str(folder), "v")
    assert res.returncode == 1 and "cannot complete" in res.stderr and "not writable" in res.stderr


# --------------------------------------------------------------------------- 8. output paths
def test_8_an_output_that_is_a_folder_or_unwritable_is_exit_1(tmp_path, capsys):
    from metst_engine.intervals_io import write_predictions

    with pytest.raises(InputError, match="is a folder; give a file name"):
        write_predictions(tmp_path, [])
    assert run_cli(capsys, "project", "create", tmp_path / "p")[0] == 0
    rc, _, err = run_cli(capsys, "project", "export", tmp_path / "p", "-o", tmp_path, "--format", "csv")
    assert rc == 1 and "is a folder" in err
    (tmp_path / "afile").write_text("x")
    for target in (tmp_path / "afile" / "proj", Path("/proc/metst-hostile-test")):
        rc, _, err = run_cli(capsys, "project", "create", target)
        assert rc == 1 and "internal error" not in err and str(target.parent) in err


# --------------------------------------------------------------------------- 9. non-UTF-8 file names
def test_9_file_names_with_non_utf8_bytes(tmp_path, capsys):
    from metst_engine.video import video_fingerprint

    raw = os.path.join(os.fsencode(tmp_path), b"caf\xe9.mp4")
    tiny_video(Path(os.fsdecode(raw)))
    assert len(video_fingerprint(os.fsdecode(raw))) == 40
    assert video_fingerprint(os.fsdecode(raw)) != video_fingerprint(tiny_video(tmp_path / "cafe.mp4"))
    assert run_cli(capsys, "project", "create", tmp_path / "p")[0] == 0
    rc, _, err = run_cli(capsys, "project", "add", tmp_path / "p", os.fsdecode(raw), "--subject", "s1")
    assert rc == 1 and "not valid UTF-8" in err and "rename" in err
    rc, _, _ = run_cli(capsys, "project", "add", tmp_path / "p", tmp_path / "cafe.mp4", "--subject", "s1")
    assert rc == 0


# --------------------------------------------------------------------------- 10. interrupted creation
def test_10_a_half_created_project_is_recognised_and_finished(tmp_path, capsys):
    for content in (b"", None):
        folder = tmp_path / f"p{content is None}"
        folder.mkdir()
        db = folder / "project.sqlite"
        if content is None:                     # an SQLite file whose schema never committed
            conn = sqlite3.connect(db)
            conn.execute("PRAGMA journal_mode = WAL").fetchone()
            conn.close()
        else:
            db.write_bytes(content)
        rc, _, err = run_cli(capsys, "project", "stats", folder)
        assert rc == 1 and "creation was interrupted" in err and "metst project create" in err
        rc, out, err = run_cli(capsys, "project", "create", folder)
        assert rc == 0, err
        rc, out, err = run_cli(capsys, "project", "stats", folder)
        assert rc == 0 and json.loads(out)["videos"] == []


def test_10_a_creation_killed_midway_leaves_no_project_file(tmp_path, monkeypatch):
    from metst_engine.project import Project, schema

    def killed(conn, to_version=schema.SCHEMA_VERSION):
        conn.execute("CREATE TABLE half (x)")
        raise KeyboardInterrupt      # the process dies here

    monkeypatch.setattr(schema, "migrate", killed)
    with pytest.raises(KeyboardInterrupt):
        Project.create(tmp_path / "p")
    assert not (tmp_path / "p" / "project.sqlite").exists()
    monkeypatch.undo()
    with Project.create(tmp_path / "p") as p:
        assert p.videos() == [] and not p.read_only
    assert not list((tmp_path / "p").glob(".project.sqlite.creating-*"))


# --------------------------------------------------------------------------- 11. silent acceptance
def test_11_manifest_apex_outside_the_interval_is_refused(tmp_path):
    from metst_engine.datasets import load_manifest

    m = tmp_path / "m.csv"
    m.write_text("subject,video,path,fps,onset,apex,offset,type,emotion\ns,v,v.mp4,30,10,25,20,micro,\n",
                 encoding="utf-8")
    with pytest.raises(DatasetError, match="row 2, column apex: 25 outside \\[10, 20\\]"):
        load_manifest(m)


def test_11_training_refuses_labels_past_the_end_of_the_video(tmp_path, monkeypatch):
    from metst_engine import training
    from metst_engine.datasets import Dataset, LabelledInterval, VideoEntry
    from metst_engine.training import TrainConfig, prepare_videos

    entry = VideoEntry("s1", "v1", tmp_path / "v1.mp4", 30.0)
    entry.intervals = [LabelledInterval("s1", "v1", 90, 95, 140, "micro", "positive")]
    feats = SimpleNamespace(n_frames=100, skip=1, k=30, starts=np.arange(0, 70, 15), channel_names=["a"])
    monkeypatch.setattr(training, "extract_video", lambda *a, **k: feats)
    with pytest.raises(InputError, match=r"'v1' has 100 frames .* end past it \(\[90, 140\]\)"):
        prepare_videos(TrainConfig(dataset=str(tmp_path / "m.csv"), window=30), Dataset("d", [entry]))
