"""Exports: round trips (hypothesis), formula-injection escaping, ELAN tiers and times from the video."""

from __future__ import annotations

import csv
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from project_support import tiny_video

from metst_engine.errors import InputError
from metst_engine.project import Project
from metst_engine.project.exports import (
    ExportRow,
    read_csv,
    read_xlsx,
    write_csv,
    write_xlsx,
)
from metst_engine.tables import escape_cell, unescape_cell

HOSTILE = ["=1+1", "+SUM(A1)", "-2", "@cmd", "=HYPERLINK(\"http://x\",\"y\")", "'=already quoted", "'", "\t=tab",
           "\r=cr", "=cmd|' /C calc'!A0", "a,b;\"c\"\nd", "  padded  ", "ünïcødé 表情 😀", "<xml>&amp;</xml>"]
text = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=30))
#: XML (XLSX) cannot hold most control characters, and reading XML turns "\r" into "\n"; spreadsheets
#: keep 15-16 significant digits, so XLSX scores are drawn at the 6 decimals predictions carry.
xml_text = st.one_of(st.sampled_from([h for h in HOSTILE if "\r" not in h]),
                     st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=30))


def rows(txt: st.SearchStrategy[str], score: st.SearchStrategy[float]) -> st.SearchStrategy[ExportRow]:
    frame = st.integers(0, 10_000)
    seconds = st.floats(0, 1e4, allow_nan=False).map(lambda x: round(x, 6))
    return st.builds(
        lambda subject, video, onset, length, apex_at, type_, emotion, state, source, annotator, score, note, t:
        ExportRow(subject, video, onset, None if apex_at is None else onset + min(apex_at, length), onset + length,
                  type_, emotion, state, source, annotator, score, note, t, None if apex_at is None else t, t),
        txt, txt.filter(bool), frame, st.integers(0, 50), st.none() | st.integers(0, 50),
        st.sampled_from(["micro", "macro"]), st.none() | txt.filter(bool),
        st.sampled_from(["pending", "accepted", "rejected", "corrected"]),
        st.sampled_from(["predicted", "manual", "imported"]), st.none() | txt.filter(bool),
        st.none() | score, txt, st.none() | seconds)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(rows(text, st.floats(allow_nan=False, allow_infinity=False)), max_size=6))
def test_csv_round_trip(table):
    with tempfile.TemporaryDirectory() as d:
        path = write_csv(Path(d) / "x.csv", table)
        assert read_csv(path) == table
        assert_no_formula_cells(path)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(rows(xml_text, st.floats(-1e6, 1e6).map(lambda x: round(x, 6))), max_size=4))
def test_xlsx_round_trip(table):
    with tempfile.TemporaryDirectory() as d:
        path = write_xlsx(Path(d) / "x.xlsx", table)
        assert read_xlsx(path) == table


def assert_no_formula_cells(path: Path) -> None:
    """No text cell would start a formula in a spreadsheet program."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        for row in csv.DictReader(fh):
            for col in ("subject", "video", "emotion", "note", "annotator"):
                assert not row[col].startswith(("=", "+", "-", "@", "\t", "\r")), row[col]


@given(st.text())
def test_escaping_is_reversible_and_inert(s):
    e = escape_cell(s)
    assert unescape_cell(e) == s
    assert not e.startswith(("=", "+", "-", "@", "\t", "\r"))


def test_xlsx_cells_are_strings_not_formulas(tmp_path):
    from openpyxl import load_workbook

    row = ExportRow("=S", "v", 1, None, 2, "micro", "@emo", "pending", "manual", "-ann", -0.5, "=1+1\x01",
                    0.04, None, 0.08)
    write_xlsx(tmp_path / "x.xlsx", [row])
    ws = load_workbook(tmp_path / "x.xlsx").worksheets[0]
    values = [c.value for c in ws[2]]
    assert values[:3] == ["'=S", "v", 1] and values[6] == "'@emo" and values[9] == "'-ann"
    assert values[10] == -0.5                       # numbers stay numbers
    assert values[11] == "'=1+1\ufffd"              # a control character XML cannot hold is replaced
    assert all(c.data_type != "f" for c in ws[2])


def test_reading_a_bad_csv_names_row_and_column(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("subject,video,onset,apex,offset,type,emotion,state,source\nS,v,5,,3,micro,,pending,manual\n")
    with pytest.raises(InputError, match="row 2, column offset: 3 before onset 5"):
        read_csv(p)
    p.write_text("subject,video,onset,offset,state\nS,v,1,2,maybe\n")
    with pytest.raises(InputError, match="row 2, column state: 'maybe'"):
        read_csv(p)
    p.write_text("subject,onset\n")
    with pytest.raises(InputError, match="missing column"):
        read_csv(p)


# ---------------------------------------------------------------- through the store
@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return tiny_video(tmp_path_factory.mktemp("clip") / "clip.mp4", n_frames=80, fps=20.0)


def _project(folder: Path, clip: Path, annotator: str = "alice") -> Project:
    p = Project.create(folder, annotator=annotator)
    (folder / "media").mkdir()
    shutil.copy(clip, folder / "media" / "clip.mp4")
    p.add_video(folder / "media" / "clip.mp4", "S1", "clip")
    return p


def _comparable(p: Project) -> list[tuple]:
    return sorted(((r.onset, r.apex, r.offset, r.emotion, r.type, r.source, r.state, r.annotator, r.note, r.score)
                   for r in p.intervals()), key=repr)


interval_specs = st.lists(st.tuples(st.integers(0, 70), st.integers(0, 9), st.none() | text.filter(bool), text,
                                    st.sampled_from(["accept", "reject", "correct", "none"]),
                                    st.sampled_from(["alice", "=bob", "+carol"])), max_size=5)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(interval_specs)
def test_export_then_import_gives_the_same_intervals(clip, specs):
    with tempfile.TemporaryDirectory() as d:
        with _project(Path(d) / "a", clip) as a:
            for onset, length, emotion, note, action, who in specs:
                a.annotator = who
                iid = a.add_interval("clip", onset, onset + length, emotion=emotion, note=note).interval_id
                if action == "reject":
                    a.reject(iid)
                elif action == "correct":
                    a.correct(iid, type="macro")
            a.export_csv(Path(d) / "out.csv")
            expected = _comparable(a)
        with _project(Path(d) / "b", clip) as b:
            res = b.import_intervals(Path(d) / "out.csv")
            assert res.added == len(set(expected))
            assert _comparable(b) == sorted(set(expected), key=repr)


def test_export_times_come_from_the_video_timestamps(tmp_path, clip):
    with _project(tmp_path / "p", clip) as p:
        p.add_interval("clip", 10, 19, apex=12, emotion="surprise")
        (row,) = p.export_rows()
        assert (row.onset_s, row.apex_s, row.offset_s) == pytest.approx((0.5, 0.6, 0.95))
        assert row.onset_s == float(p.timestamps("clip")[10])
        p.export_csv(tmp_path / "x.csv")
        header = (tmp_path / "x.csv").read_text(encoding="utf-8-sig").splitlines()[0]
        assert header.startswith("subject,video,onset,apex,offset,type,emotion,state,source,annotator")


def test_eaf_has_one_tier_per_annotator_or_state(tmp_path, clip):
    from pympi.Elan import Eaf

    with _project(tmp_path / "p", clip) as p:
        p.add_interval("clip", 10, 19, emotion="positive", note="<b>&")
        p.annotator = "bob"
        iid = p.add_interval("clip", 40, 49).interval_id
        p.reject(iid)
        p.export_eaf(tmp_path / "a.eaf", "clip")
        p.export_eaf(tmp_path / "s.eaf", "clip", tiers="state")
    eaf = Eaf(str(tmp_path / "a.eaf"))
    assert sorted(eaf.get_tier_names()) == ["alice", "rejected proposals"]     # bob only rejected: no tier
    (start, end, value), = [a[:3] for a in eaf.get_annotation_data_for_tier("alice")]
    assert (start, end) == (500, 1000)              # onset frame 10 at 0.5 s, until frame 20 shows at 1.0 s
    assert value == "positive (micro, accepted, manual): <b>&"
    (value,) = [a[2] for a in eaf.get_annotation_data_for_tier("rejected proposals")]
    assert value == "expression (micro, rejected, manual, by bob)"
    assert eaf.media_descriptors[0]["RELATIVE_MEDIA_URL"] == "./p/media/clip.mp4"
    assert sorted(Eaf(str(tmp_path / "s.eaf")).get_tier_names()) == ["accepted", "rejected"]
