"""Label loaders on small fixture sheets in the exact released layouts."""

from __future__ import annotations

from pathlib import Path

import pytest
from dataset_shapes import casme2_folder, casme2_root, write_workbook

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
    return write_workbook(path, {title: rows})


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
    assert (LabelRules().frame_numbers, LabelRules().apex) == ("nearest", "repair")
    ref = LabelRules.for_mode("metst_code")
    assert ref.drop_onset_zero and ref.frame_numbers == "floor" and ref.apex == "repair"
    with pytest.raises(ValueError):
        LabelRules.for_mode("other")
    with pytest.raises(ValueError, match="frame_numbers"):
        LabelRules(frame_numbers="ceil")


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


def test_casme3_a_bad_row_is_skipped_and_named_not_fatal(tmp_path):
    root = casme3_fixture(tmp_path, [
        ["spNO.1", "a", 10, 12, 15, "", "", "happy"],
        ["spNO.1", "a", "ten", 12, 15, "", "", "happy"],
        ["spNO.1", "a", 30, 12, 15, "", "", "happy"],   # offset before onset
        ["spNO.1", "a", 40, 55, 50, "", "", "happy"],   # apex after offset: repaired
    ])
    ds = load_casme3(root)
    assert [(i.onset, i.apex, i.offset) for i in ds.video("spNO.1_a").intervals] == [(9, 11, 14), (39, None, 49)]
    skipped = [i for i in ds.row_issues if i.action == "skipped"]
    assert [(i.row, i.reason) for i in skipped] == [(3, "onset not a number"), (4, "offset before onset")]
    msg = skipped[0].message()
    assert "casme3_label.xlsx" in msg and "sheet 'ME'" in msg and "row 3" in msg
    assert "column C (Onset)" in msg and "'ten'" in msg
    (rep,) = [i for i in ds.row_issues if i.action == "repaired"]
    assert (rep.row, rep.reason) == (5, "apex outside the interval") and "column D (Apex)" in rep.message()
    summary = ds.label_summary()
    assert (summary["rows"], summary["expressions"], summary["rows_repaired"], summary["rows_skipped"]) == (4, 2, 1, 2)
    assert summary["skipped"] == {"onset not a number": 1, "offset before onset": 1}
    assert any("row 3" in m and "(skipped)" in m for m in ds.messages())


def test_casme3_errors_for_the_file_as_a_whole(tmp_path):
    root = casme3_fixture(tmp_path, [["spNO.1", "a", "x", 12, 15, "", "", "happy"]])
    with pytest.raises(DatasetError, match="no usable row in 1") as err:
        load_casme3(root)
    assert err.value.path.name == "casme3_label.xlsx"
    bad = write_xlsx(tmp_path / "bad.xlsx", [["Subject", "Video"], [1, "a"]])
    with pytest.raises(DatasetError, match="no header row"):
        load_casme3(root, label_sheet=bad)
    with pytest.raises(DatasetError, match="--sheet"):
        load_casme3(tmp_path / "nowhere")
    (tmp_path / "junk.xlsx").write_text("not a workbook")
    with pytest.raises(DatasetError, match="cannot read"):
        load_casme3(root, label_sheet=tmp_path / "junk.xlsx")


def test_casme3_letter_case_differs_between_sheet_and_folder(tmp_path):
    root = casme3_fixture(tmp_path, [
        ["spNO.14", "J", 10, 12, 15, "", "", "happy"],   # the sheet writes J, the folder is j
        ["spNO.1", "a", 5, 6, 8, "", "", "sad"],
    ])
    touch_frames(root / "data" / "spNO.14" / "j" / "color", ["1.jpg"])
    ds = load_casme3(root)
    assert "spNO.14_J" not in [v.video for v in ds.videos]
    j = ds.video("spNO.14_j")
    assert j.path == root / "data" / "spNO.14" / "j" / "color" and len(j.intervals) == 1
    assert not any("not found" in w for w in ds.warnings)
    # names that differ only in case, none spelled as the sheet spells it: ambiguous
    touch_frames(root / "data" / "spNO.14" / "jj" / "color", ["1.jpg"])
    touch_frames(root / "data" / "spNO.14" / "JJ" / "color", ["1.jpg"])
    write_xlsx(root / "casme3_label.xlsx", [CASME3_HEADER, ["spNO.14", "JJ", 10, 12, 15, "", "", "happy"]])
    assert load_casme3(root).video("spNO.14_JJ").intervals  # the exact spelling wins
    write_xlsx(root / "casme3_label.xlsx", [CASME3_HEADER, ["spNO.14", "Jj", 10, 12, 15, "", "", "happy"]])
    with pytest.raises(DatasetError, match="differ only in case"):
        load_casme3(root)


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
        [6, "006_1_2", 1, 1500, 1520, 1560, 61, "Micro - 1/2", "4", ""],
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
    assert ds.row_issues == []  # apex -1 and offset 0 are the sheet's conventions, not repairs
    # frames by sorted position
    assert [f.name for f in list_frames(v)] == [f"006_1_{i:05d}.jpg" for i in (1, 2, 3, 10)]
    # the evaluation view after a skip of 7
    assert v.intervals[0].to_interval(7).onset == 1499 // 7


def test_samm_lv_frame_numbers_stored_as_almost_whole_floats(tmp_path):
    # the release stores some frame numbers as 7284.999999999999 (Excel's rendering of 7285)
    root = samm_fixture(tmp_path, [
        [6, "006_1_2", 1, 7284.999999999999, 7290, 7310.000000000001, 26, "Micro - 1/2", "4", ""],
        [6, "006_1_3", 1, 1500.5, 1520, 1560, 61, "Micro - 1/2", "12", ""],   # really fractional
    ])
    ds = load_samm_lv(root)
    first, second = ds.video("006_1").intervals
    assert (second.onset, second.offset) == (7284, 7309)   # frames 7285..7310, 0-based
    assert first.onset == 1500   # 1500.5 rounded half up to 1501, reported
    assert [(i.row, i.action, i.reason) for i in ds.row_issues] == [(12, "repaired", "fractional frame number")]
    ref = load_samm_lv(root, rules=LabelRules.for_mode("metst_code"))
    a, b = ref.video("006_1").intervals
    assert (a.onset, b.onset, b.offset) == (1499, 7283, 7309)   # the public code's int(x - 1)
    assert ref.row_issues == []


def test_samm_lv_dirty_rows_repaired_or_skipped(tmp_path):
    root = samm_fixture(tmp_path, [
        [6, "006_1_2", 1, 10, 12, 15, 6, "Micro - 1/2", "", ""],
        [6, "006_1_3", 1, 20, -1, 0, 0, "Micro - 1/2", "", ""],   # offset 0, no apex: unusable
        [6, "006_1_4", 1, 30, 36, 33, 4, "Blink", "", ""],        # not micro / macro
        [6, "006_1_5", 1, 0, 50, 60, 61, "Macro", "", ""],        # onset 0: the first frame
        [6, "006_1_6", 1, 70, 90, 80, 11, "Macro", "", ""],       # apex after the offset
    ], emotions=False)
    ds = load_samm_lv(root)
    assert [(i.onset, i.apex, i.offset) for i in ds.video("006_1").intervals] == [
        (0, 49, 59), (9, 11, 14), (69, None, 79)]
    assert any("not found" in w for w in ds.warnings)   # no emotion sheet
    assert [(i.row, i.action, i.reason) for i in ds.row_issues] == [
        (12, "skipped", "offset 0 and no apex"), (13, "skipped", "unknown type"),
        (14, "repaired", "onset 0"), (15, "repaired", "apex outside the interval")]
    assert "column H (Type)" in ds.row_issues[1].message()
    ref = load_samm_lv(root, rules=LabelRules.for_mode("metst_code"))
    assert [(i.onset, i.apex, i.offset) for i in ref.video("006_1").intervals] == [(9, 11, 14), (69, None, 79)]   # apex dropped in every mode
    assert ("skipped", "onset 0 (reference rules drop it)") in [(i.action, i.reason) for i in ref.row_issues]


def test_samm_lv_sheet_paths_are_given(tmp_path):
    root = samm_fixture(tmp_path, [[6, "006_1_2", 1, 10, 12, 15, 6, "Micro - 1/2", "", ""]])
    labels = (root / "SAMM_LongVideos_V3_Release.xlsx").rename(tmp_path / "SAMM-LV labels (1).xlsx")
    emo = (root / "SAMM_Micro_FACS_Codes_v2.xlsx").rename(tmp_path / "facs.xlsx")
    with pytest.raises(DatasetError, match="pass the file with --sheet"):
        load_samm_lv(root)
    ds = load_samm_lv(root, label_sheet=labels, emotion_sheet=emo)
    assert ds.video("006_1").intervals[0].emotion == "negative"


# ---------------------------------------------------------------- CAS(ME)^2
# Rows shaped like the released CASFEcode_final sheet: subject number, expression name,
# onset, apex, offset (numbers sometimes stored as text), AUs, emotion class, type, self-report.
CASME2_ROWS: list[list[object]] = [
    [1, "anger1_1", 557, 572, 608, "4+10+14+15", "negative", "macro-expression", "anger"],
    [1, "anger1_2", "2854", "2862", "2871", 38, "others", "macro-expression", "sadness"],
    [1, "disgust2_3", 699, 703, 707, "NULL", "others", "micro-expression", "disgust"],
    [1, "happy1_2", 178, 190, 0, 12, "positive", "macro-expression", "happiness"],     # offset 0 -> apex
    [2, "disgust1_3", 552, 559, 565, "L1+L2", "surprise", "micro-expression", "disgust"],
    [11, "disgust1_5", 1221, 1230, 1224, 74, "negative", "macro-expression", "disgust"],  # apex > offset
    [17, "anger1_1", 1763, 0, 1787, 24, "others", "macro-expression", "sadness"],         # apex 0
]
CASME2_FOLDERS = ["15_0401girlcrashing", "15_0102eatingworms", "15_0502funnyerrors", "15_0101disgustingteeth",
                  "16_0101disgustingteeth", "16_0507climbingthewall", "27_0101disgustingteeth",
                  "34_0401girlcrashing"]


def test_casme2_follows_the_workbooks_naming_rules(tmp_path):
    root = casme2_root(tmp_path / "casme2", CASME2_ROWS, CASME2_FOLDERS)
    ds = load_casme2(root)   # default name of the release: CAS(ME)^2code_final.xlsx
    assert ds.name == "CAS(ME)^2"
    # one video per real folder, named as the folder; subjects as the dataset names them
    assert sorted(v.video for v in ds.videos) == sorted(CASME2_FOLDERS)
    assert ds.subjects() == ["s15", "s16", "s27", "s34"]
    assert not [w for w in ds.warnings if "not found" in w]
    anger = ds.video(casme2_folder(1, "anger1"))
    assert anger.video == "15_0401girlcrashing" and anger.subject == "s15"
    assert anger.path == root / "rawpic" / "s15" / "15_0401girlcrashing"
    assert [(i.onset, i.apex, i.offset, i.type, i.emotion, i.raw_emotion) for i in anger.intervals] == [
        (556, 571, 607, "macro", "negative", "negative"), (2853, 2861, 2870, "macro", "others", "others")]
    happy = ds.video("15_0502funnyerrors").intervals[0]
    assert (happy.onset, happy.apex, happy.offset) == (177, 189, 189)
    micro = ds.video("16_0101disgustingteeth").intervals[0]
    assert (micro.type, micro.emotion, micro.onset) == ("micro", "surprise", 551)
    assert ds.video("16_0507climbingthewall").intervals == []   # a folder without expressions
    assert ds.video("15_0101disgustingteeth").intervals == []
    # the two inconsistent rows are repaired (no apex), named by sheet row, not fatal
    assert ds.video("27_0101disgustingteeth").intervals[0].apex is None
    assert [(i.offset, i.apex) for i in ds.video("34_0401girlcrashing").intervals] == [(1786, None)]
    assert [(i.sheet, i.row, i.reason) for i in ds.row_issues] == [
        ("CASFEcode_final", 6, "apex outside the interval"), ("CASFEcode_final", 7, "apex 0")]
    s = ds.label_summary()
    assert (s["rows"], s["expressions"], s["micro"], s["macro"], s["rows_repaired"], s["rows_skipped"]) == (
        len(CASME2_ROWS), 7, 2, 5, 2, 0)
    assert (s["videos"], s["videos_with_expressions"], s["subjects"]) == (8, 6, 4)
    # frames img001.jpg ... : index = number - 1
    assert [f.name for f in list_frames(anger)] == ["img001.jpg", "img002.jpg", "img003.jpg"]


def test_casme2_the_workbooks_own_rules_win(tmp_path):
    # a workbook whose naming rule1 maps subject 1 to folder 16: rows follow the sheet
    root = casme2_root(tmp_path / "c", CASME2_ROWS[:1], ["15_0401girlcrashing", "16_0401girlcrashing"],
                       subjects={1: 16})
    ds = load_casme2(root)
    assert ds.video("16_0401girlcrashing").intervals and not ds.video("15_0401girlcrashing").intervals


def test_casme2_without_naming_rule_sheets_uses_the_published_rules(tmp_path):
    root = casme2_root(tmp_path / "c", CASME2_ROWS, CASME2_FOLDERS, naming=False)
    ds = load_casme2(root)
    assert sum(len(v.intervals) for v in ds.videos) == len(CASME2_ROWS)
    assert ds.video("15_0401girlcrashing").intervals[0].onset == 556
    assert any("no sheet 'naming rule1 and naming rule2'" in w for w in ds.warnings)
    # a CSV export of the label sheet, given with its own name
    csv = tmp_path / "CAS(ME)^2code_final(Updated).csv"
    csv.write_text("".join(",".join("" if c is None else str(c) for c in r) + "\n" for r in CASME2_ROWS))
    ds2 = load_casme2(root, label_sheet=csv)
    assert [(v.video, [(i.onset, i.apex, i.offset) for i in v.intervals]) for v in ds2.videos] == [
        (v.video, [(i.onset, i.apex, i.offset) for i in v.intervals]) for v in ds.videos]
    assert [(i.sheet, i.row) for i in ds2.row_issues] == [("", 6), ("", 7)]
    assert "CAS(ME)^2code_final(Updated).csv: row 6" in ds2.row_issues[0].message()


def test_casme2_sheet_naming_folders_directly_and_dirty_rows(tmp_path):
    # a hand-made sheet that names folders (s15, 15_0401girlcrashing, 0102) is matched directly
    rows = [["s15", "15_0401girlcrashing", 10, 12, 14, "", "negative", "micro-expression", ""],
            ["s15", "0102", 20, 22, 24, "", "positive", "macro-expression", ""],
            [1, "anger1_9", "n/a", 12, 14, "", "negative", "micro-expression", ""],     # unusable onset
            [1, "angry7_1", 10, 12, 14, "", "negative", "micro-expression", ""],        # unknown video
            [30, "anger1_1", 10, 12, 14, "", "negative", "micro-expression", ""],       # unknown subject
            [1, "anger1_3", 30, 32, 34, "", "negative", "blink", ""]]                   # unknown type
    root = casme2_root(tmp_path / "c", rows, ["15_0401GirlCrashing", "15_0102eatingworms"])
    ds = load_casme2(root)
    assert [len(ds.video(n).intervals) for n in ("15_0401GirlCrashing", "15_0102eatingworms")] == [1, 1]
    assert [(i.row, i.action, i.reason) for i in ds.row_issues] == [
        (3, "skipped", "onset not a number"), (4, "skipped", "video not in the naming rules"),
        (5, "skipped", "subject not in the naming rules"), (6, "skipped", "unknown type")]
    assert "sheet 'naming rule1'" in ds.row_issues[2].message()


def test_casme2_a_missing_or_doubled_folder(tmp_path):
    root = casme2_root(tmp_path / "c", CASME2_ROWS[:1], [])
    ds = load_casme2(root)
    (v,) = ds.videos
    assert (v.video, v.subject) == ("15_0401", "s15") and len(v.intervals) == 1
    assert any("frame folder" in w and "not found" in w for w in ds.warnings)
    touch_frames(root / "rawpic" / "s15" / "15_0401girlcrashing", ["img001.jpg"])
    touch_frames(root / "rawpic" / "s15" / "15_0401girlcrashing_copy", ["img001.jpg"])
    with pytest.raises(DatasetError, match="several frame folders"):
        load_casme2(root)


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


# ---------------------------------------------------------------- metst manifest (the README's route)
def test_manifest_verb_writes_a_public_dataset_with_its_sheet(tmp_path, capsys):
    import json

    from metst_engine.cli import main

    root = tmp_path / "SAMM"
    samm_fixture(tmp_path, [[6, "006_1_2", 1, 7284.999999999999, 7290, 7310, 26, "Micro - 1/2", "4", ""],
                            [6, "006_1_3", 1, 30, 50, 40, 11, "Macro", "", ""]])
    (tmp_path / "samm").rename(root)
    sheet = (root / "SAMM_LongVideos_V3_Release.xlsx").rename(tmp_path / "labels.xlsx")
    out = tmp_path / "sets" / "samm_lv.csv"
    assert main(["-q", "manifest", "samm_lv", str(root), "-o", str(out), "--sheet", str(sheet)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["rows"], summary["expressions"], summary["rows_repaired"]) == (2, 2, 1)
    assert summary["repaired"] == {"apex outside the interval": 1}
    back = load_manifest(out)
    assert [(i.onset, i.apex, i.offset) for i in back.video("006_1").intervals] == [(29, None, 39),
                                                                                   (7284, 7289, 7309)]
    assert main(["-q", "manifest", "samm_lv", str(root), "-o", str(out), "--sheet", str(sheet),
                 "--reference-rules"]) == 0
    capsys.readouterr()
    # the public code's frame flooring; the apex outside its interval is dropped in every mode
    assert [(i.onset, i.apex) for i in load_manifest(out).video("006_1").intervals] == [(29, None), (7283, 7289)]
    assert main(["-q", "manifest", "samm_lv", str(root), "-o", str(out)]) == 1   # default sheet absent
    assert "--sheet" in capsys.readouterr().err
