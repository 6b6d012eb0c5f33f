"""Issue 14: every CLI verb fed a table of hostile and careless inputs.

Exit code 3 means a bug in metst, so a case fails on: exit 3, a traceback, a hang (60 s),
a file written outside the folders the command may write (its output folder, the project,
the feature cache), or success (exit 0) on input that is invalid. The verbs run in-process
through :func:`metst_engine.cli.main` (one process for the whole table keeps it fast); the
read-only mount, which needs a real process boundary, is in ``test_hostile.py``.

The table with each input's exit code and first message line is written to
``out/test-artifacts/hostile_inputs.md`` for the issue's closing note.
"""

from __future__ import annotations

import json
import math
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metst_engine.cli import main
from metst_engine.errors import InputError
from project_support import tiny_video

HANG_S = 60
RESULTS: dict[str, tuple[int, str]] = {}


@dataclass(frozen=True)
class Case:
    name: str
    argv: Callable[[Path], list[str]]   #: from the table's root folder
    codes: tuple[int, ...] = (1, 2)     #: acceptable exit codes (0 only for odd but valid input)
    expect: str = ""                    #: text the message must hold


def _p(*parts: str) -> Callable[[Path], str]:
    return lambda r: str(r.joinpath(*parts))


def C(name: str, *argv: str | Callable[[Path], str], codes: tuple[int, ...] = (1, 2), expect: str = "") -> Case:
    return Case(name, lambda r: [a(r) if callable(a) else a for a in argv], codes, expect)


V, PROJ, OUT, FIFO, JUNK = _p("v.mp4"), _p("proj"), _p("out"), _p("fifo"), _p("junk.bin")
EVIL = _p("elsewhere", "evil")

CASES: list[Case] = [
    # ---------------------------------------------------------------- extract
    C("extract: missing input", "extract", _p("nope.mp4"), "-o", _p("out", "x.npz"), expect="does not exist"),
    C("extract: FIFO as video", "extract", FIFO, "-o", _p("out", "x.npz"), expect="not a regular file"),
    C("extract: random bytes as video", "extract", JUNK, "-o", _p("out", "x.npz")),
    C("extract: empty file as video", "extract", _p("empty.csv"), "-o", _p("out", "x.npz")),
    C("extract: symlink loop", "extract", _p("loop"), "-o", _p("out", "x.npz")),
    C("extract: odd window", "extract", V, "-k", "31", "-o", _p("out", "x.npz"), expect="even"),
    C("extract: window 0", "extract", V, "-k", "0", "-o", _p("out", "x.npz")),
    C("extract: huge window", "extract", V, "-k", str(10**12), "-o", _p("out", "x.npz")),
    C("extract: skip 0", "extract", V, "-s", "0", "-o", _p("out", "x.npz")),
    C("extract: fps NaN", "extract", V, "--fps", "nan", "-o", _p("out", "x.npz")),
    C("extract: fps -30", "extract", V, "--fps", "-30", "-o", _p("out", "x.npz")),
    C("extract: fps inf", "extract", V, "--fps", "1e999", "-o", _p("out", "x.npz")),
    C("extract: ROI set is a path outside", "extract", V, "--rois", "/etc/passwd", "-o", _p("out", "x.npz")),
    C("extract: ROI set unknown", "extract", V, "--rois", "no_such_set", "-o", _p("out", "x.npz")),
    C("extract: --dataset output is a file", "extract", _p("ds"), "--dataset", "-o", _p("afile"),
      expect="not a folder"),
    C("extract: --dataset on a file", "extract", V, "--dataset", "-o", OUT),
    # ---------------------------------------------------------------- info
    C("info: missing", "info", _p("nope.mp4")),
    C("info: FIFO", "info", FIFO, expect="not a regular file"),
    C("info: random bytes", "info", JUNK),
    C("info: symlink to /dev/zero", "info", _p("zero_link")),
    C("info: non-UTF-8 file name", "info", lambda r: os.fsdecode(os.path.join(os.fsencode(r), b"caf\xe9.bin"))),
    C("info: name with a newline", "info", _p("new\nline.mp4"), expect="new\\nline.mp4"),
    C("info: fps NaN", "info", V, "--fps", "nan"),
    # ---------------------------------------------------------------- rois
    C("rois: unknown set", "rois", "no_such_set"),
    C("rois: name with newline", "rois", "a\nb"),
    C("rois: path to a junk file", "rois", JUNK),
    C("rois: path to a FIFO", "rois", FIFO),
    # ---------------------------------------------------------------- synth
    C("synth: 0 subjects", "synth", _p("out", "s"), "--subjects", "0"),
    C("synth: NaN seconds", "synth", _p("out", "s"), "--seconds", "nan"),
    C("synth: huge size", "synth", _p("out", "s"), "--size", str(10**9)),
    C("synth: fps -1", "synth", _p("out", "s"), "--fps", "-1"),
    C("synth: OUT_DIR is a file", "synth", _p("afile")),
    C("synth: OUT_DIR under /proc", "synth", "/proc/metst-hostile/s", "--seconds", "1", "--subjects", "1",
      "--videos-per-subject", "1"),
    # ---------------------------------------------------------------- train
    C("train: dataset missing", "train", "--dataset", _p("nope.csv"), "--loso", "-o", _p("out", "run")),
    C("train: dataset is a FIFO", "train", "--dataset", FIFO, "--loso", "-o", _p("out", "run")),
    C("train: subject /elsewhere/x", "train", "--dataset", _p("evil_manifest.csv"), "--loso", "-o",
      _p("out", "run"), expect="subject"),
    C("train: manifest not UTF-8", "train", "--dataset", _p("latin1.csv"), "--loso", "-o", _p("out", "run")),
    C("train: manifest NaN onset", "train", "--dataset", _p("nan_manifest.csv"), "--loso", "-o", _p("out", "run")),
    C("train: manifest apex outside", "train", "--dataset", _p("apex_manifest.csv"), "--loso", "-o",
      _p("out", "run"), expect="apex"),
    C("train: manifest huge frame", "train", "--dataset", _p("huge_manifest.csv"), "--loso", "-o", _p("out", "run")),
    C("train: empty manifest", "train", "--dataset", _p("empty.csv"), "--loso", "-o", _p("out", "run")),
    C("train: odd window", "train", "--dataset", _p("good_manifest.csv"), "--loso", "-o", _p("out", "run"),
      "--window", "31"),
    C("train: lr NaN", "train", "--dataset", _p("good_manifest.csv"), "--loso", "-o", _p("out", "run"), "--lr", "nan"),
    C("train: ratio inf", "train", "--dataset", _p("good_manifest.csv"), "--loso", "-o", _p("out", "run"),
      "--ratio", "inf"),
    C("train: unknown device", "train", "--dataset", _p("good_manifest.csv"), "--loso", "-o", _p("out", "run"),
      "--device", "quantum"),
    C("train: overrides not an object", "train", "--dataset", _p("good_manifest.csv"), "--loso", "-o",
      _p("out", "run"), "--model-overrides", "[1]"),
    C("train: depth 10^9 override", "train", "--dataset", _p("good_manifest.csv"), "--loso", "-o",
      _p("out", "run"), "--model-overrides", '{"depth": 1000000000}', expect="depth"),
    C("train: corrupt config.json on resume", "train", "--dataset", _p("good_manifest.csv"), "--loso", "-o",
      _p("badrun"), "--resume"),
    # ---------------------------------------------------------------- predict
    C("predict: missing video", "predict", _p("nope.mp4"), "-o", _p("out", "p.csv")),
    C("predict: FIFO video", "predict", FIFO, "-o", _p("out", "p.csv")),
    C("predict: video id /elsewhere/evil", "predict", V, "--video-id", EVIL, "-o", _p("out", "p.csv"),
      expect="video id"),
    C("predict: video id with newline", "predict", V, "--video-id", "a\nb", "-o", _p("out", "p.csv")),
    C("predict: k' -1", "predict", V, "--k-prime", "-1", "-o", _p("out", "p.csv")),
    C("predict: p 2", "predict", V, "-p", "2", "-o", _p("out", "p.csv")),
    C("predict: floor NaN", "predict", V, "--floor", "nan", "-o", _p("out", "p.csv")),
    C("predict: window huge", "predict", V, "-k", str(10**12), "-o", _p("out", "p.csv")),
    *[C(f"predict: checkpoint {name}", "predict", V, "--model", _p(f"ckpt_{name}.safetensors"),
        "-o", _p("out", "p.csv"), expect=expect)
      for name, expect in (("dim", "config.dim"), ("n_classes", "config.n_classes"), ("d_state", "config.d_state"),
                           ("depth", "config.depth"), ("frame_skip", "frame_skip"), ("odd_window", "window"),
                           ("text_window", "window"), ("class_names", "class_names"), ("k_prime", "k_prime"),
                           ("fps", "fps"), ("count", "parameters"))],
    C("predict: pickle as checkpoint", "predict", V, "--model", _p("pickle.pt"), "-o", _p("out", "p.csv"),
      expect="pickle"),
    C("predict: junk as checkpoint", "predict", V, "--model", JUNK, "-o", _p("out", "p.csv")),
    C("predict: FIFO as checkpoint", "predict", V, "--model", FIFO, "-o", _p("out", "p.csv")),
    C("predict: empty checkpoint", "predict", V, "--model", _p("empty.csv"), "-o", _p("out", "p.csv")),
    # ---------------------------------------------------------------- evaluate
    C("evaluate: inf frame", "evaluate", "--gt", _p("good_manifest.csv"), "--pred", _p("inf_pred.csv"),
      expect="inf_pred.csv"),
    C("evaluate: NaN frame", "evaluate", "--gt", _p("good_manifest.csv"), "--pred", _p("nan_pred.csv")),
    C("evaluate: non-UTF-8 predictions", "evaluate", "--gt", _p("good_manifest.csv"), "--pred", _p("latin1.csv"),
      expect="UTF-8"),
    C("evaluate: FIFO predictions", "evaluate", "--gt", _p("good_manifest.csv"), "--pred", FIFO),
    C("evaluate: empty predictions", "evaluate", "--gt", _p("good_manifest.csv"), "--pred", _p("empty.csv")),
    C("evaluate: predictions are a folder", "evaluate", "--gt", _p("good_manifest.csv"), "--pred", OUT),
    C("evaluate: huge field", "evaluate", "--gt", _p("good_manifest.csv"), "--pred", _p("huge_field.csv")),
    C("evaluate: NUL bytes", "evaluate", "--gt", _p("good_manifest.csv"), "--pred", _p("nul.csv")),
    C("evaluate: gt FIFO", "evaluate", "--gt", FIFO, "--pred", _p("inf_pred.csv")),
    C("evaluate: gt NaN onset", "evaluate", "--gt", _p("nan_manifest.csv"), "--pred", _p("inf_pred.csv")),
    C("evaluate: iou NaN", "evaluate", "--gt", _p("good_manifest.csv"), "--pred", _p("good_pred.csv"),
      "--iou", "nan"),
    C("evaluate: skip 0", "evaluate", "--gt", _p("good_manifest.csv"), "--pred", _p("good_pred.csv"),
      "--mode", "reference", "--skip", "0"),
    # ---------------------------------------------------------------- project
    C("project create: under a file", "project", "create", _p("afile", "p")),
    C("project create: under /proc", "project", "create", "/proc/metst-hostile/p"),
    C("project create: where one exists", "project", "create", PROJ, expect="already exists"),
    C("project create: name with a newline (valid)", "project", "create", _p("out", "new\nline"), codes=(0,)),
    C("project stats: not a project", "project", "stats", _p("out"), expect="not a metst project"),
    C("project stats: junk database", "project", "stats", _p("junkproj"), expect="damaged"),
    C("project stats: damaged database", "project", "stats", _p("damaged"), expect="damaged"),
    C("project complete: damaged database", "project", "complete", _p("damaged"), "v", expect="damaged"),
    C("project stats: half-created", "project", "stats", _p("halfproj"), expect="interrupted"),
    C("project stats: FIFO as database", "project", "stats", _p("fifoproj")),
    C("project add: video id /elsewhere/evil", "project", "add", PROJ, V, "--subject", "s9", "--video-id", EVIL,
      expect="video id"),
    C("project add: video id ..", "project", "add", PROJ, V, "--subject", "s9", "--video-id", ".."),
    C("project add: subject with newline", "project", "add", PROJ, V, "--subject", "a\nb", "--video-id", "w"),
    C("project add: empty subject", "project", "add", PROJ, V, "--subject", "", "--video-id", "w"),
    C("project add: FIFO video", "project", "add", PROJ, FIFO, "--subject", "s9"),
    C("project add: non-UTF-8 file name", "project", "add", PROJ,
      lambda r: os.fsdecode(os.path.join(os.fsencode(r), b"caf\xe9.bin")), "--subject", "s9"),
    C("project add: fps NaN", "project", "add", PROJ, V, "--subject", "s9", "--video-id", "w", "--fps", "nan"),
    C("project import: inf predictions", "project", "import", PROJ, "--predictions", _p("inf_pred.csv")),
    C("project import: non-UTF-8 predictions", "project", "import", PROJ, "--predictions", _p("latin1.csv")),
    C("project import: FIFO predictions", "project", "import", PROJ, "--predictions", FIFO),
    C("project import: unknown video", "project", "import", PROJ, "--predictions", _p("unknown_pred.csv"),
      expect="not in the project"),
    C("project import: params not an object", "project", "import", PROJ, "--predictions", _p("good_pred.csv"),
      "--params", "[1]"),
    C("project import: intervals junk", "project", "import", PROJ, "--intervals", JUNK),
    C("project import: intervals FIFO", "project", "import", PROJ, "--intervals", FIFO),
    C("project import: ground truth with subject /elsewhere/x", "project", "import", PROJ, "--ground-truth",
      "manifest", _p("evil_manifest.csv")),
    C("project import: ground truth sheet missing", "project", "import", PROJ, "--ground-truth", "casme3",
      _p("nope")),
    C("project export: -o an existing folder", "project", "export", PROJ, "-o", OUT, "--format", "csv",
      expect="is a folder"),
    C("project export: -o under /proc", "project", "export", PROJ, "-o", "/proc/metst-hostile.csv"),
    C("project export: eaf without --video", "project", "export", PROJ, "-o", _p("out", "x.eaf")),
    C("project export: unknown suffix", "project", "export", PROJ, "-o", _p("out", "x.doc")),
    C("project export: symlink output to elsewhere (valid)", "project", "export", PROJ, "-o", _p("out", "link.csv"),
      codes=(0,)),
    C("project complete: unknown video", "project", "complete", PROJ, "no_such_video"),
    C("project relocate: FIFO", "project", "relocate", PROJ, "v", FIFO),
    C("project relocate: missing", "project", "relocate", PROJ, "v", _p("nope.mp4")),
    C("project restore: no backups", "project", "restore", _p("nobackup")),
]


def _write_checkpoints(root: Path) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    from metst_engine.models import CheckpointMeta, build_model, save_checkpoint

    good = root / "ckpt_good.safetensors"
    save_checkpoint(good, build_model("metst", seed=0, in_channels=10, dim=8, depth=1, d_state=4),
                    CheckpointMeta(roi_set="metst", window=30, fps=30.0, k_prime=3, threshold_p=0.55))
    state = load_file(str(good))
    from safetensors import safe_open

    with safe_open(str(good), framework="pt") as fh:
        meta = json.loads(fh.metadata()["metst"])
    edits = {"dim": ("config", "dim", 10**9), "n_classes": ("config", "n_classes", 10**9),
             "d_state": ("config", "d_state", 10**9), "depth": ("config", "depth", 10**9),
             "frame_skip": (None, "frame_skip", 0), "odd_window": (None, "window", 31),
             "text_window": (None, "window", "fifty"), "class_names": (None, "class_names", "negative"),
             "k_prime": (None, "k_prime", -1), "fps": (None, "fps", -30), "count": ("config", "depth", 3)}
    for name, (section, key, value) in edits.items():
        m = json.loads(json.dumps(meta))
        (m[section] if section else m)[key] = value
        save_file(state, str(root / f"ckpt_{name}.safetensors"), metadata={"metst": json.dumps(m)})
    torch.save({"w": torch.zeros(2)}, root / "pickle.pt")


@pytest.fixture(scope="module")
def table_root(tmp_path_factory) -> Path:
    from metst_engine.project import Project

    root = tmp_path_factory.mktemp("hostile")
    for d in ("elsewhere", "out", "ds", "cache"):
        (root / d).mkdir()
    tiny_video(root / "v.mp4")
    tiny_video(root / "ds" / "clip.mp4")
    os.mkfifo(root / "fifo")
    (root / "junk.bin").write_bytes(bytes(range(256)) * 64)
    (root / "empty.csv").write_bytes(b"")
    (root / "afile").write_text("a file\n")
    os.symlink(root / "loop", root / "loop")
    os.symlink("/dev/zero", root / "zero_link")
    (root / os.fsdecode(b"caf\xe9.bin")).write_bytes(b"\x00" * 100)
    (root / "new\nline.mp4").write_bytes(b"\x00" * 100)
    os.symlink(root / "elsewhere" / "x.csv", root / "out" / "link.csv")
    head = "subject,video,path,fps,onset,apex,offset,type,emotion\n"
    (root / "good_manifest.csv").write_text(head + "s1,v,v.mp4,25,2,5,9,micro,positive\n"
                                                   "s2,w,v.mp4,25,2,5,9,micro,negative\n", encoding="utf-8")
    (root / "evil_manifest.csv").write_text(head + f"{root / 'elsewhere' / 'x'},v,v.mp4,25,2,5,9,micro,\n"
                                                   "s2,w,v.mp4,25,2,5,9,micro,\n", encoding="utf-8")
    (root / "nan_manifest.csv").write_text(head + "s1,v,v.mp4,25,nan,5,9,micro,\n", encoding="utf-8")
    (root / "apex_manifest.csv").write_text(head + "s1,v,v.mp4,25,2,30,9,micro,\n", encoding="utf-8")
    (root / "huge_manifest.csv").write_text(head + "s1,v,v.mp4,25,2,5,1e300,micro,\n", encoding="utf-8")
    (root / "latin1.csv").write_bytes((head + "s\xe9,v,v.mp4,25,2,5,9,micro,\n").encode("latin-1"))
    phead = "subject,video,onset,apex,offset,emotion,score\n"
    (root / "good_pred.csv").write_text(phead + "s1,v,2,5,9,positive,0.9\n", encoding="utf-8")
    (root / "unknown_pred.csv").write_text(phead + "s1,zzz,2,5,9,positive,0.9\n", encoding="utf-8")
    (root / "inf_pred.csv").write_text(phead + "s1,v,inf,,9,,\n", encoding="utf-8")
    (root / "nan_pred.csv").write_text(phead + "s1,v,2,,nan,,\n", encoding="utf-8")
    (root / "huge_field.csv").write_text(phead + "s1," + "v" * 200_000 + ",2,,9,,\n", encoding="utf-8")
    (root / "nul.csv").write_bytes((phead + "s1,v\x00,2,,9,,\n").encode())
    (root / "badrun").mkdir()
    (root / "badrun" / "config.json").write_text("{not json", encoding="utf-8")
    _write_checkpoints(root)
    with Project.create(root / "proj") as p:
        p.add_video(root / "v.mp4", "s1")
        p.add_interval("v", 2, 9, apex=5, emotion="positive")
    with Project.create(root / "damaged") as p:
        for i in range(300):
            p.add_subject(f"subject-{i:04d}-" + "x" * 40)
    db = root / "damaged" / "project.sqlite"
    data = bytearray(db.read_bytes())
    data[4096:len(data) - 4096] = bytes(len(data) - 8192)
    db.write_bytes(bytes(data))
    for name, content in (("junkproj", b"not a database" * 100), ("halfproj", b"")):
        (root / name).mkdir()
        (root / name / "project.sqlite").write_bytes(content)
    (root / "fifoproj").mkdir()
    os.mkfifo(root / "fifoproj" / "project.sqlite")
    with Project.create(root / "nobackup") as p:
        pass
    for b in (root / "nobackup" / "backups").iterdir():
        b.unlink()
    return root


def _snapshot(root: Path) -> set[str]:
    """Every path under root except where commands may write (outputs, projects, the feature cache)."""
    allowed = ("out", "proj", "cache", "nobackup", "halfproj", "damaged")
    out = set()
    for dirpath, dirnames, filenames in os.walk(root):
        rel = Path(dirpath).relative_to(root)
        if rel.parts and rel.parts[0] in allowed:
            continue
        out.update(str(rel / n) for n in filenames + dirnames)
    return out


class _Hang(BaseException):
    pass


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_input(case: Case, table_root: Path, capsys, monkeypatch):
    monkeypatch.setenv("METST_CACHE_DIR", str(table_root / "cache"))
    monkeypatch.chdir(table_root / "out")
    before = _snapshot(table_root)
    elsewhere_before = sorted(os.listdir(table_root / "elsewhere"))

    def hang(signum, frame):
        raise _Hang

    old = signal.signal(signal.SIGALRM, hang)
    signal.alarm(HANG_S)
    capsys.readouterr()
    try:
        rc = main(["-q", *case.argv(table_root)])
    except _Hang:
        pytest.fail(f"{case.name}: no answer within {HANG_S} s (a hang)")
    except SystemExit as exc:                  # argparse: bad usage
        rc = int(exc.code or 0)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    out, err = capsys.readouterr()
    message = next((line for line in err.splitlines() if line.startswith(("error:", "usage:"))), err.strip())
    if rc == 2 and message.startswith("usage:"):
        message = err.strip().splitlines()[-1]
    RESULTS[case.name] = (rc, message.replace(str(table_root), "…"))
    assert "Traceback" not in err and "internal error" not in err, err
    assert rc in case.codes, f"{case.name}: exit {rc}, expected {case.codes}\n{err}"
    if rc != 0:
        assert message.startswith("error:") and len(message) > 12, err
        assert case.expect in err, f"{case.name}: message should mention {case.expect!r}: {err}"
    assert _snapshot(table_root) == before, f"{case.name}: wrote outside its folder: {_snapshot(table_root) - before}"
    assert sorted(os.listdir(table_root / "elsewhere")) == elsewhere_before


def test_zz_write_the_table(artifacts_dir):
    """The closing note's table (runs last in this module; needs the cases above to have run)."""
    if len(RESULTS) < len(CASES):
        pytest.skip("the table needs every case of this module")
    lines = ["| input | exit | message |", "|---|---|---|"]
    for case in CASES:
        rc, msg = RESULTS[case.name]
        msg = msg.replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {case.name} | {rc} | {msg[:220]}{'…' if len(msg) > 220 else ''} |")
    (artifacts_dir / "hostile_inputs.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert all(rc != 3 for rc, _ in RESULTS.values())


# --------------------------------------------------------------------------- properties (hypothesis)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ident=st.text(min_size=0, max_size=40))
def test_any_id_either_stays_in_its_folder_or_is_refused(ident, tmp_path):
    from metst_engine.safe_paths import id_path

    try:
        out = id_path(tmp_path, ident, ".csv")
    except InputError as exc:
        assert "use letters" in str(exc) or "outside" in str(exc)
        return
    assert out.parent == tmp_path and os.sep not in out.name and "\n" not in out.name
    assert os.path.dirname(os.path.abspath(out)) == str(tmp_path)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=300), header=st.sampled_from(
    [b"subject,video,onset,apex,offset,emotion,score\n", b"video,onset,offset\n", b""]))
def test_any_prediction_file_is_read_or_refused_with_its_name(body, header, tmp_path):
    from metst_engine.intervals_io import read_predictions

    path = tmp_path / "pred.csv"
    path.write_bytes(header + body)
    try:
        out = read_predictions([path])
    except InputError as exc:
        assert exc.path == path
        return
    for ivs in out.values():
        for iv in ivs:
            assert 0 <= iv.onset <= iv.offset and (iv.score is None or math.isfinite(iv.score))


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                     lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
                     max_leaves=10)


@settings(max_examples=300, deadline=None)
@given(field=st.sampled_from(["model", "config", "roi_set", "channel_names", "window", "frame_skip", "fps",
                              "class_names", "k_prime", "threshold_p", "provenance", "metrics"]),
       value=_json, config=st.dictionaries(st.sampled_from(["dim", "depth", "d_state", "n_classes", "init",
                                                            "drop_path", "share_branches", "expand"]), _json))
def test_any_checkpoint_metadata_value_is_accepted_only_in_range(field, value, config):
    from metst_engine.models.checkpoint import CheckpointMeta
    from metst_engine.models.meta_schema import CONFIG_RANGES, check_meta

    data = {"model": "metst", "config": config, field: value}
    try:
        check_meta(data)
    except ValueError:
        return
    meta = CheckpointMeta.from_dict(data)           # what passes the schema builds a CheckpointMeta
    for key, v in meta.config.items():
        if key in CONFIG_RANGES and not isinstance(v, bool):
            lo, hi = CONFIG_RANGES[key]
            assert lo <= v <= hi
    assert meta.frame_skip >= 1 and (meta.window is None or meta.window % 2 == 0)
    assert meta.k_prime is None or meta.k_prime >= 1


@given(text=st.text(max_size=30))
def test_the_one_cell_rule_makes_text_inert_and_round_trips(text):
    from metst_engine.tables import FORMULA_STARTS, escape_cell, unescape_cell

    cell = escape_cell(text)
    assert not cell.startswith(FORMULA_STARTS) and unescape_cell(cell) == text
