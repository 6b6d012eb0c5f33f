"""Dataset roots shaped like the public datasets as they are shipped (for loader and CLI tests).

The shapes follow the released workbooks, not what a loader would like to read:

- CAS(ME)^2 ``CAS(ME)^2code_final.xlsx``: the label sheet ``CASFEcode_final`` first, without
  header row (subject numbers 1-22, expression names like ``anger1_3``, numbers sometimes
  stored as text), then ``naming rule1`` (folder number | label | subject number) and
  ``naming rule2`` (stimulus code, as text "0401" or as the number 401 | video name);
  frames ``rawpic/s15/15_0401girlcrashing/img001.jpg``.
- SAMM-LV ``SAMM_LongVideos_V3_Release.xlsx``: nine title rows (one blank), header on row 10.
- CAS(ME)^3: one sheet with a header row.

The label rows used by the tests are taken from the shape of the real sheets (the same kinds
of values, including the inconsistent rows the real CAS(ME)^2 sheet holds), not the real data.
"""

from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook

#: The naming rules CAS(ME)^2 publishes: label-sheet subject -> folder number; video -> code.
CASME2_SUBJECTS = {1: 15, 2: 16, 3: 19, 4: 20, 5: 21, 6: 22, 7: 23, 8: 24, 9: 25, 10: 26, 11: 27, 12: 29,
                   13: 30, 14: 31, 15: 32, 16: 33, 17: 34, 18: 35, 19: 36, 20: 37, 21: 38, 22: 40}
CASME2_VIDEOS = {"disgust1": "0101", "disgust2": "0102", "anger1": "0401", "anger2": "0402",
                 "happy1": "0502", "happy2": "0503", "happy3": "0505", "happy4": "0507", "happy5": "0508"}
CASME2_TITLES = {"0101": "disgustingteeth", "0102": "eatingworms", "0401": "girlcrashing",
                 "0402": "beatingpregnantwoman", "0502": "funnyerrors", "0503": "unnyfarting",
                 "0505": "funnyinnovations", "0507": "climbingthewall", "0508": "funnydunkey"}


def write_workbook(path: Path, sheets: dict[str, list[list[object]]]) -> Path:
    """An .xlsx with these sheets, in this order (rows appended as given)."""
    wb = Workbook()
    wb.remove(wb.active)
    for title, rows in sheets.items():
        ws = wb.create_sheet(title)
        for r in rows:
            ws.append(r)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


def touch_frames(folder: Path, names: list[str], real: bool = False) -> None:
    """Frame files; ``real`` writes decodable 16x16 JPEGs (for project imports)."""
    folder.mkdir(parents=True, exist_ok=True)
    if real:
        import cv2
        import numpy as np

        for i, n in enumerate(names):
            cv2.imwrite(str(folder / n), np.full((16, 16, 3), i * 10 % 255, np.uint8))
        return
    for n in names:
        (folder / n).write_bytes(b"\xff\xd8\xff\xd9")  # a minimal JPEG marker pair


def casme2_folder(subject_number: int, video: str) -> str:
    """Frame folder name of a label-sheet subject and video: (1, "anger1") -> 15_0401girlcrashing."""
    code = CASME2_VIDEOS[video]
    return f"{CASME2_SUBJECTS[subject_number]}_{code}{CASME2_TITLES[code]}"


def casme2_naming_sheets(subjects: dict[int, int] | None = None) -> dict[str, list[list[object]]]:
    """'naming rule1' and 'naming rule2' as released (codes as text, some as numbers)."""
    subjects = CASME2_SUBJECTS if subjects is None else subjects
    rule1 = [[folder, f"s{folder}", n] for n, folder in subjects.items()]
    rule2 = [[code if i % 2 else int(code), name] for i, (name, code) in enumerate(CASME2_VIDEOS.items())]
    return {"naming rule1": rule1, "naming rule2": rule2}


def casme2_root(root: Path, rows: list[list[object]], folders: list[str], *, naming: bool = True,
                subjects: dict[int, int] | None = None, frames: int = 3, real_frames: bool = False,
                sheet_name: str = "CAS(ME)^2code_final.xlsx") -> Path:
    """A CAS(ME)^2 root: the workbook (label sheet + naming rules) and ``rawpic/s<NN>/<folder>``."""
    sheets = {"CASFEcode_final": rows}
    if naming:
        sheets |= casme2_naming_sheets(subjects)
    write_workbook(root / sheet_name, sheets)
    for name in folders:
        touch_frames(root / "rawpic" / f"s{name.split('_')[0]}" / name,
                     [f"img{i:03d}.jpg" for i in range(1, frames + 1)], real=real_frames)
    return root


SAMM_HEADER = ["Subject", "Filename", "Inducement Code", "Onset", "Apex", "Offset", "Duration", "Type",
               "Action Units", "Notes"]


def samm_title_block() -> list[list[object]]:
    """Nine title rows as in the release (a title, a symbol key, notes, blank rows)."""
    return [["SAMM Long Videos Dataset - FACS Codes"], [], ["Symbol Key:"], ['"/" = or'], [], ["AU Help:"],
            ['"L2 or R2" = Unilateral AU 2 on left side of face / right side of face', None, None, None, None,
             "NOTE: Subjects with Apex Frame not annotated were labelled as -1."],
            ['"A2" = Asymmetric AU 2. Occurs on both sides of face but stronger on one side'], []]


def samm_emotion_rows(rows: list[tuple[str, str]]) -> list[list[object]]:
    """SAMM_Micro_FACS_Codes_v2.xlsx: header on row 1, emotion in 'Estimated Emotion'."""
    head = ["Subject", "Filename", "Inducement Code", "Onset Frame", "Apex Frame", "Offset Frame", "Duration",
            "Type", "Action Units", "Estimated Emotion", "Objective Classes", "Notes"]
    return [head] + [[int(f.split("_")[0]), f, 1, 1, 2, 3, 3, "Micro", "AU4", e, 1, ""] for f, e in rows]
