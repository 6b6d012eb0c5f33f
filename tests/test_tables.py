"""The one interval-table module: schemas, the cell rule, the number parser, where errors point.

The four tables (predictions, manifests, project exports, reports) are written and read
through :mod:`metst_engine.tables`; these tests pin the shared rules and the bytes each
table is written as (so files from earlier versions and other tools stay compatible).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metst_engine.datasets import Dataset, LabelledInterval, VideoEntry, load_manifest, write_manifest
from metst_engine.errors import DatasetError, InputError
from metst_engine.intervals import Interval
from metst_engine.intervals_io import PREDICTIONS, read_predictions, write_predictions
from metst_engine.project.exports import EXPORT, ExportRow, read_csv, write_csv
from metst_engine.tables import MAX_FRAME, Column, Schema, safe_cell, write_report_csv

HEADER = "subject,video,onset,apex,offset,emotion,score\n"


def pred(tmp_path: Path, body: str, header: str = HEADER) -> Path:
    p = tmp_path / "pred.csv"
    p.write_text(header + body, encoding="utf-8")
    return p


# ------------------------------------------------------------------ bytes as written
def test_each_table_keeps_its_bytes(tmp_path):
    p = write_predictions(tmp_path / "p.csv", [("s", "v", Interval(1, 5, apex=2, emotion="=e", score=0.123456789))])
    assert p.read_bytes() == b"subject,video,onset,apex,offset,emotion,score\r\ns,v,1,2,5,'=e,0.123457\r\n"
    entry = VideoEntry("s", "v", tmp_path / "v.mp4", 29.97)
    entry.intervals = [LabelledInterval("s", "v", 3, None, 9, "micro", "positive", None)]
    m = write_manifest(Dataset("d", [entry, VideoEntry("s", "w", tmp_path / "w.mp4", 30.0)]), tmp_path / "m.csv")
    assert m.read_bytes() == (b"subject,video,path,fps,onset,apex,offset,type,emotion,raw_emotion\n"
                              b"s,v,v.mp4,29.97,3,,9,micro,positive,\ns,w,w.mp4,30,,,,,,\n")
    row = ExportRow("S", "v", 1, None, 2, "micro", None, "pending", "manual", "-a", 0.5, " n ", 0.1234567, None, 1 / 3)
    e = write_csv(tmp_path / "e.csv", [row])
    assert e.read_bytes() == ("\ufeff" + ",".join(EXPORT.names) + "\r\n"
                              "S,v,1,,2,micro,,pending,manual,'-a,0.5, n ,0.123457,,0.333333\r\n").encode()
    r = write_report_csv(tmp_path / "r.csv", ["run", "f1"], [["+x", float("nan")], [], [True, 3]])
    assert r.read_bytes() == b"run,f1\r\n'+x,\r\n\r\ntrue,3\r\n"


def test_one_based_frames_are_written_and_read_back(tmp_path):
    iv = Interval(0, 4, apex=2)
    p = write_predictions(tmp_path / "p.csv", [("s", "v", iv)], one_based=True)
    assert p.read_text().splitlines()[1] == "s,v,1,3,5,,"
    assert read_predictions([p], one_based=True) == {"v": [iv]}
    with pytest.raises(InputError, match="line 2, column onset: frame 0 in a file read as one-based"):
        read_predictions([pred(tmp_path, "s,v,0,,3,,\n")], one_based=True)
    with pytest.raises(InputError, match=r"column apex: 9 outside \[2, 4\]"):    # as the file counts
        read_predictions([pred(tmp_path, "s,v,2,9,4,,\n")], one_based=True)


# ------------------------------------------------------------------ one number parser
@pytest.mark.parametrize("cell, problem", [
    ("abc", "not a number: 'abc'"), ("inf", "not a finite number"), ("nan", "not a finite number"),
    ("1e400", "not a finite number"), ("1.5", "not a frame index >= 0: '1.5'"), ("-1", "not a frame index >= 0"),
    (str(MAX_FRAME), "frame number too large"), ("", "empty"),
])
def test_one_frame_parser_for_every_table(tmp_path, cell, problem):
    with pytest.raises(InputError, match=f"line 2, column offset: {problem}"):
        read_predictions([pred(tmp_path, f"s,v,1,,{cell},,\n")])
    m = tmp_path / "m.csv"
    m.write_text(f"subject,video,path,fps,onset,apex,offset,type,emotion\ns,v,v.mp4,30,1,,{cell},micro,\n")
    with pytest.raises(DatasetError, match=f"row 2, column offset: {problem}"):
        load_manifest(m)
    e = tmp_path / "e.csv"
    e.write_text(f"video,onset,offset\nv,1,{cell}\n")
    with pytest.raises(InputError, match=f"row 2, column offset: {problem}"):
        read_csv(e)


def test_frames_are_whole_numbers_however_written(tmp_path):
    assert read_predictions([pred(tmp_path, "s,v,1.0,2e0,3,,1e-3\n")]) == {"v": [Interval(1, 3, apex=2, score=0.001)]}


# ------------------------------------------------------------------ where an error points
def test_errors_name_the_first_line_of_the_row(tmp_path):
    p = pred(tmp_path, 's,v,1,,5,"two\nlines",\n\ns,v,x,,5,,\n')
    with pytest.raises(InputError, match="line 5, column onset") as err:
        read_predictions([p])
    assert err.value.path == p


def test_cells_past_the_header_are_refused_unless_empty(tmp_path):
    assert read_predictions([pred(tmp_path, "s,v,1,,5,,0.5,,\n")])["v"][0].score == 0.5
    with pytest.raises(InputError, match="line 2: 8 cells but 7 columns; remove 'x'"):
        read_predictions([pred(tmp_path, "s,v,1,,5,,0.5,x\n")])


def test_header_names_are_matched_without_case_or_spaces(tmp_path):
    p = pred(tmp_path, "s,v,1,,5,,\n", header=" Subject , VIDEO ,Onset,apex,OFFSET,emotion,score\n")
    assert read_predictions([p]) == {"v": [Interval(1, 5)]}
    with pytest.raises(InputError, match="missing column"):
        read_predictions([pred(tmp_path, "v,1\n", header="video,onset\n")])


def test_what_is_not_a_regular_file_is_refused_for_every_table(tmp_path):
    fifo = tmp_path / "fifo.csv"
    os.mkfifo(fifo)
    for read, what in ((lambda: read_predictions([fifo]), "predictions file"), (lambda: load_manifest(fifo), "manifest"),
                       (lambda: read_csv(fifo), "table of intervals")):
        with pytest.raises(InputError, match=f"not a regular file.*{what}"):
            read()
    with pytest.raises(DatasetError, match="is a folder"):
        load_manifest(tmp_path)


def test_text_that_utf8_cannot_hold_is_refused_naming_the_column(tmp_path):
    with pytest.raises(InputError, match="column subject: .* is not valid UTF-8"):
        write_predictions(tmp_path / "p.csv", [("caf\udce9", "v", Interval(1, 2))])
    assert not (tmp_path / "p.csv").exists()
    with pytest.raises(InputError, match="row 2 holds text that is not valid UTF-8"):
        write_report_csv(tmp_path / "r.csv", ["a"], [["caf\udce9"]])


# ------------------------------------------------------------------ the cell rule
@given(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20)))
def test_a_cell_is_never_a_formula(value):
    cell = safe_cell(value)
    assert not cell.startswith(("=", "+", "@", "\t", "\r")) and not (cell.startswith("-") and isinstance(value, str))
    if isinstance(value, float) and not math.isnan(value):
        assert float(cell) == value


def test_a_schema_of_ones_own(tmp_path):
    """A new table is its columns: text escaped, frames shifted, numbers formatted, rows read back."""
    schema = Schema("clip list", (Column("name"), Column("at", "frame"), Column("gain", "number", fmt=".2f")),
                    required=("name", "at"))
    out = schema.write_csv(tmp_path / "c.csv", [{"name": "=x", "at": 4, "gain": 1 / 3}, {"name": "y", "at": 0}],
                           base=1)
    assert out.read_text().splitlines() == ["name,at,gain", "'=x,5,0.33", "y,1,"]
    rows = schema.read_csv(out, base=1)
    assert [(r.line, r.text("name"), r.frame("at"), r.number("gain")) for r in rows] == [(2, "=x", 4, 0.33),
                                                                                         (3, "y", 0, None)]
    assert PREDICTIONS.names == ("subject", "video", "onset", "apex", "offset", "emotion", "score")
