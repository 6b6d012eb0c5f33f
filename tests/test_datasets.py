"""Label loaders on small fixture sheets in the exact released layouts."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import Workbook

from metst_engine.datasets import (
    Dataset,
    LabelledInterval,
    LabelRules,
    VideoEntry,
    k_prime,
    list_frames,
    load_casme2,
    load_casme3,
    load_emotion_map,
    load_manifest,
    load_samm_lv,
    map_emotion,
    write_manifest,
)
from metst_engine.errors import DatasetError
from metst_engine.intervals import EMOTIONS
from metst_engine.resources_path import resource_path


def write_xlsx(path: Path, rows: list[list[object]], title: str = "Sheet1") -> Path:
    wb = Workbook()
    ws = wb.active
    ws.title = title
    for r in rows:
        ws.append(r)
    wb.save(path)
    return path


def touch_frames(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for n in names:
        (folder / n).write_bytes(b"\xff\xd8\xff\xd9")  # a minimal JPEG marker pair


# ---------------------------------------------------------------- emotion maps, rules
def test_emotion_maps_from_resources():
    for name in ("casme3", "samm_lv", "casme2", "manifest"):
        assert resource_path("emotions", f"{name}.json").is_file()
        m = load_emotion_map(name)
        assert set(m.values()) <= set(EMOTIONS)
    c3 = load_emotion_map("casme3")
    assert {k for k, v in c3.items() if v == "negative"} == {"anger", "disgust", "fear", "sad"}
    assert c3["happy"] == "positive" and c3["others"] == "others"
    s = load_emotion_map("samm_lv")
    assert {k for k, v in s.items() if v == "negative"} == {
        "anger", "contempt", "disgust", "fear", "sadness"}
    assert s["happiness"] == "positive" and s["other"] == "others"
    assert map_emotion(" Happiness ", s) == ("positive", "Happiness")
    assert map_emotion(None, s) == (None, None)
    assert map_emotion("Confused", s) == (None, "Confused")


def test_k_prime():
    ivs = [LabelledInterval("1", "v", 0, None, 9, "micro"), LabelledInterval("1", "v", 10, None, 25)]
    assert k_prime(ivs) == int(((9 + 15) / 2 + 1) / 2)  # 6
    # after a skip of 7: lengths 9//7-0 = 1 and 25//7-10//7 = 2 -> int((1.5 + 1) / 2) = 1
    assert k_prime(ivs, skip=7) == 1
    with pytest.raises(ValueError):
        k_prime([])


def test_rules_for_mode():
    assert LabelRules.for_mode("megc") == LabelRules(True, False)
    assert LabelRules.for_mode("metst_code").drop_onset_zero
    with pytest.raises(ValueError):
        LabelRules.for_mode("other")


# ---------------------------------------------------------------- CAS(ME)^3
CASME3_HEADER = ["Subject", "Filename", "Onset", "Apex", "Offset", "AU", "Objective class",
                 "emotion"]


def casme3_fixture(tmp_path: Path, rows: list[list[object]]) -> Path:
    root = tmp_path / "casme3"
    root.mkdir()
    write_xlsx(root / "casme3_label.xlsx", [CASME3_HEADER] + rows, title="ME")
    touch_frames(root / "data" / "spNO.1" / "a" / "color", ["1.jpg", "2.jpg", "3.jpg", "5.jpg"])
    touch_frames(root / "data" / "spNO.1" / "b" / "color", ["1.jpg", "2.jpg"])
    touch_frames(root / "data" / "spNO.2" / "a" / "color", ["1.jpg"])
    return root


def test_casme3_loader(tmp_path):
    root = casme3_fixture(tmp_path, [
        ["spNO.1", "a", "100", "105", "112", "4+7", "1", "Happy"],  # numbers as text
        ["spNO.1", "a", 20, 24, 0, "1", "2", "anger"],  # offset 0 -> apex
        [2, "a", 0, 3, 9, "", "", "others"],  # onset 0, subject as number
        ["spNO.1", "a", 50, 55, 60, "", "", "Confused"],  # unknown emotion
    ])
    ds = load_casme3(root)
    assert ds.name == "CAS(ME)^3"
    assert [v.video for v in ds.videos] == ["spNO.1_a", "spNO.1_b", "spNO.2_a"]
    a = ds.video("spNO.1_a")
    assert a.subject == "spNO.1" and a.fps == 30.0
    assert [(i.onset, i.apex, i.offset, i.emotion, i.raw_emotion) for i in a.intervals] == [
        (19, 23, 23, "negative", "anger"),
        (49, 54, 59, None, "Confused"),
        (99, 104, 111, "positive", "Happy"),
    ]
    assert all(i.type == "micro" for i in a.intervals)
    assert ds.video("spNO.2_a").intervals[0].onset == 0  # onset 0 kept, first frame
    assert ds.video("spNO.1_b").intervals == []
    assert any("Confused" in w for w in ds.warnings)
    # compat rules drop the onset-0 row
    compat = load_casme3(root, rules=LabelRules.for_mode("metst_code"))
    assert compat.video("spNO.2_a").intervals == []
    assert ds.subjects() == ["spNO.1", "spNO.2"]


def test_casme3_frames_number_minus_one_with_gap(tmp_path):
    root = casme3_fixture(tmp_path, [])
    frames = list_frames(load_casme3(root).video("spNO.1_a"))
    # files 1,2,3,5: index 3 (file 4 missing) is filled with the next file, 5.jpg
    assert [f.name for f in frames] == ["1.jpg", "2.jpg", "3.jpg", "5.jpg", "5.jpg"]


def test_casme3_errors_name_sheet_row_column(tmp_path):
    root = casme3_fixture(tmp_path, [
        ["spNO.1", "a", 10, 12, 15, "", "", "happy"],
        ["spNO.1", "a", "ten", 12, 15, "", "", "happy"],
    ])
    with pytest.raises(DatasetError) as err:
        load_casme3(root)
    msg = str(err.value)
    assert "casme3_label.xlsx" in msg and "sheet 'ME'" in msg
    assert "row 3" in msg and "column C (Onset)" in msg and "'ten'" in msg
    assert err.value.path == root / "casme3_label.xlsx"


def test_casme3_offset_before_onset_and_missing_header(tmp_path):
    root = casme3_fixture(tmp_path, [["spNO.1", "a", 30, 12, 15, "", "", "happy"]])
    with pytest.raises(DatasetError, match=r"row 2, column E \(Offset\)"):
        load_casme3(root)
    bad = write_xlsx(tmp_path / "bad.xlsx", [["Subject", "Video"], [1, "a"]])
    with pytest.raises(DatasetError, match="no header row"):
        load_casme3(root, label_sheet=bad)
    with pytest.raises(DatasetError, match="not found"):
        load_casme3(tmp_path / "nowhere")
    (tmp_path / "junk.xlsx").write_text("not a workbook")
    with pytest.raises(DatasetError, match="cannot read"):
        load_casme3(root, label_sheet=tmp_path / "junk.xlsx")


# ---------------------------------------------------------------- SAMM-LV
SAMM_HEADER = ["Subject", "Filename", "Inducement Code", "Onset", "Apex", "Offset", "Duration",
               "Type", "Action Units", "Notes"]


def samm_fixture(tmp_path: Path, rows: list[list[object]], emotions: bool = True) -> Path:
    root = tmp_path / "samm"
    root.mkdir()
    title_rows: list[list[object]] = [["SAMM Long Videos"]] + [[f"note {i}"] for i in range(2, 10)]
    title_rows[3] = []  # a blank title row, as in the release
    write_xlsx(root / "SAMM_LongVideos_V3_Release.xlsx", title_rows + [SAMM_HEADER] + rows,
               title="FACS_Movement_Only")
    if emotions:
        write_xlsx(root / "SAMM_Micro_FACS_Codes_v2.xlsx", [
            ["Subject", "Filename", "Inducement Code", "Onset Frame", "Apex Frame",
             "Offset Frame", "Duration", "Type", "Action Units", "Estimated Emotion",
             "Objective Classes", "Notes"],
            [6, "006_1_2", 1, 1, 2, 3, 3, "Micro", "AU4", "Anger", 1, ""],
            [6, "006_1_3", 1, 1, 2, 3, 3, "Micro", "AU12", "Happiness", 1, ""],
            [7, "007_3_1", 1, 1, 2, 3, 3, "Micro", "AU1", "Other", 1, ""],
        ])
    touch_frames(root / "SAMM_longvideos" / "006_1",
                 [f"006_1_{i:05d}.jpg" for i in (1, 2, 3, 10)])
    touch_frames(root / "SAMM_longvideos" / "007_3", ["007_3_00001.jpg"])
    return root


def test_samm_lv_loader(tmp_path):
    # the header is on spreadsheet row 10, data from row 11
    root = samm_fixture(tmp_path, [
        [6, "006_1_2", 1, 1500.5, 1520, 1560, 61, "Micro - 1/2", "4", ""],  # fractional onset
        [6, "006_1_3", 1, "2001", -1, "2040", 40, "Micro - 1/2", "12", ""],  # apex -1, text
        [6, "006_1_4", 1, 3000, 3050, 3200, 200, "Macro", "12", ""],
        [7, "007_3_1", 2, 100, 130, 0, 0, "Micro - 1/2", "1", ""],  # offset 0 -> apex
    ])
    ds = load_samm_lv(root)
    assert [v.video for v in ds.videos] == ["006_1", "007_3"]
    v = ds.video("006_1")
    assert v.subject == "006" and v.fps == 200.0
    got = [(i.onset, i.apex, i.offset, i.type, i.emotion, i.raw_emotion) for i in v.intervals]
    assert got == [
        (1499, 1519, 1559, "micro", "negative", "Anger"),
        (2000, None, 2039, "micro", "positive", "Happiness"),
        (2999, 3049, 3199, "macro", None, None),
    ]
    w = ds.video("007_3").intervals[0]
    assert (w.onset, w.apex, w.offset, w.emotion) == (99, 129, 129, "others")
    assert len(ds.intervals("micro")) == 3 and len(ds.intervals(None)) == 4
    # frames by sorted position
    assert [f.name for f in list_frames(v)] == [f"006_1_{i:05d}.jpg" for i in (1, 2, 3, 10)]
    # the evaluation view after a skip of 7
    assert v.intervals[0].to_interval(7).onset == 1499 // 7


def test_samm_lv_without_emotion_sheet_and_bad_type(tmp_path):
    root = samm_fixture(tmp_path, [[6, "006_1_2", 1, 10, 12, 15, 6, "Micro - 1/2", "", ""]],
                        emotions=False)
    ds = load_samm_lv(root)
    assert ds.video("006_1").intervals[0].emotion is None
    assert any("not found" in w for w in ds.warnings)
    root2 = tmp_path / "b"
    root2.mkdir()
    root2 = samm_fixture(root2, [[6, "006_1_2", 1, 10, 12, 15, 6, "Blink", "", ""]])
    with pytest.raises(DatasetError, match=r"row 11, column H \(Type\)"):
        load_samm_lv(root2)


def test_samm_lv_offset_zero_without_apex_is_an_error(tmp_path):
    root = samm_fixture(tmp_path, [[6, "006_1_2", 1, 10, -1, 0, 0, "Micro - 1/2", "", ""]])
    with pytest.raises(DatasetError, match=r"row 11, column F \(Offset\).*no apex"):
        load_samm_lv(root)


# ---------------------------------------------------------------- CAS(ME)^2
def test_casme2_loader(tmp_path):
    root = tmp_path / "casme2"
    root.mkdir()
    write_xlsx(root / "code_final.xlsx", [
        [15, "anger1_1", 557, 572, 608, "4+7", "negative", "macro-expression", "anger"],
        ["15", "anger1_1", "700", "705", "0", "4", "Positive", "micro-expression", "happy"],
        ["s16", "happy2_1", 10, 12, 14, "", "surprise", "micro-expression", ""],
    ])
    touch_frames(root / "rawpic" / "s15" / "15_0101disgustingteeth", ["img1.jpg"])
    touch_frames(root / "rawpic" / "s15" / "anger1_1", ["img1.jpg", "img2.jpg", "img4.jpg"])
    touch_frames(root / "rawpic" / "s16" / "16_0102happy2_1", ["img1.jpg"])
    ds = load_casme2(root)
    assert [v.video for v in ds.videos] == ["s15_15_0101disgustingteeth", "s15_anger1_1",
                                            "s16_16_0102happy2_1"]
    a = ds.video("s15_anger1_1")
    assert [(i.onset, i.apex, i.offset, i.type, i.emotion) for i in a.intervals] == [
        (556, 571, 607, "macro", "negative"), (699, 704, 704, "micro", "positive")]
    assert ds.video("s16_16_0102happy2_1").intervals[0].emotion == "surprise"
    assert [f.name for f in list_frames(a)] == ["img1.jpg", "img2.jpg", "img4.jpg", "img4.jpg"]
    write_xlsx(root / "bad.xlsx", [[15, "anger1_1", 5, 6, 7, "", "negative", "??", ""]])
    with pytest.raises(DatasetError, match=r"row 1, column H \(type\)"):
        load_casme2(root, label_sheet=root / "bad.xlsx")


# ---------------------------------------------------------------- manifest
def test_manifest_round_trip(tmp_path):
    frames = tmp_path / "frames" / "v1"
    touch_frames(frames, ["0.jpg", "1.jpg"])
    ds = Dataset("mine", [
        VideoEntry("S1", "S1_v1", frames, 30.0, [
            LabelledInterval("S1", "S1_v1", 3, 5, 9, "micro", "positive", "Happy"),
            LabelledInterval("S1", "S1_v1", 20, None, 40, "macro", None, None),
        ]),
        VideoEntry("S2", "S2_v1", tmp_path / "clips" / "s2.mp4", 25.0, []),
    ])
    out = write_manifest(ds, tmp_path / "sets" / "manifest.csv")
    text = out.read_text()
    assert text.splitlines()[0] == "subject,video,path,fps,onset,apex,offset,type,emotion,raw_emotion"
    assert "../frames/v1" in text and "S2,S2_v1,../clips/s2.mp4,25,,,,,," in text
    back = load_manifest(out)
    assert back.name == "manifest"
    assert [v.video for v in back.videos] == ["S1_v1", "S2_v1"]
    assert back.videos[0].path.resolve() == frames.resolve()
    assert back.videos[0].intervals == ds.videos[0].intervals
    assert back.videos[1].intervals == [] and back.videos[1].fps == 25.0
    assert [f.name for f in list_frames(back.videos[0])] == ["0.jpg", "1.jpg"]


@pytest.mark.parametrize("row,match", [
    ("S1,v1,f,30,5,,x,micro,,", r"row 3, column offset: not a number"),
    ("S1,v1,f,30,9,,5,micro,,", r"row 3, column offset: 5 before onset 9"),
    ("S1,v1,f,30,1,,5,blink,,", r"row 3, column type"),
    ("S1,v1,f,30,1,,5,micro,angry,", r"row 3, column emotion"),
    ("S1,v1,f,25,1,,5,micro,,", r"row 3, column fps: 25.0 differs"),
    ("S1,v1,f,abc,1,,5,micro,,", r"row 3, column fps: not a number"),
    ("S1,v1,f,30,,,5,,,", r"row 3, column offset: set on a row without onset"),
    (",v1,f,30,1,,5,micro,,", r"row 3, column subject: empty"),
    ("S1,v1,f,30,1.5,,5,micro,,", r"row 3, column onset: not a frame index"),
])
def test_manifest_errors(tmp_path, row, match):
    p = tmp_path / "m.csv"
    p.write_text("subject,video,path,fps,onset,apex,offset,type,emotion,raw_emotion\n"
                 "S1,v1,f,30,1,2,3,micro,negative,Anger\n" + row + "\n")
    with pytest.raises(DatasetError, match=match) as err:
        load_manifest(p)
    assert err.value.path == p


def test_manifest_missing_columns(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text("subject,video,path\nS1,v1,f\n")
    with pytest.raises(DatasetError, match="missing column"):
        load_manifest(p)
    with pytest.raises(DatasetError, match="not found"):
        load_manifest(tmp_path / "none.csv")


def test_resource_path_falls_back_to_checkout(monkeypatch):
    import importlib.resources

    from metst_engine import resources_path as rp

    def missing(name):
        raise ModuleNotFoundError(name)

    monkeypatch.setattr(importlib.resources, "files", missing)
    p = rp.resource_path("emotions", "samm_lv.json")
    assert Path(str(p)) == Path(rp.__file__).resolve().parent.parent / "resources" / "emotions" / "samm_lv.json"
    assert p.is_file()
