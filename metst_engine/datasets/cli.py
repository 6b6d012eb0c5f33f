"""``metst manifest FORMAT PATH -o OUT``: a public dataset as it is shipped -> a manifest CSV.

Registered by :mod:`metst_engine.cli`; prints a JSON summary (rows read, expressions kept,
rows repaired or skipped and why, every warning) on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys

from metst_engine.datasets import LabelRules, load_dataset, write_manifest
from metst_engine.datasets.formats import GROUND_TRUTH_FORMATS
from metst_engine.errors import UsageError

FORMATS = tuple(f for f in GROUND_TRUTH_FORMATS if f != "manifest")

EPILOG = """examples:
  metst manifest casme3 /data/CASME3 -o casme3.csv
  metst manifest casme3 /data/CASME3 --sheet /data/CASME3/cas\\(me\\)3_part_A_ME_label_JpgIndex_v2.xlsx -o casme3.csv
  metst manifest samm_lv /data/SAMM -o samm_lv.csv --emotion-sheet /data/SAMM/SAMM_Micro_FACS_Codes_v2.xlsx
  metst manifest casme2 /data/CASME2 --sheet "/data/CASME2/CAS(ME)^2code_final.xlsx" -o casme2.csv
  metst manifest samm_lv /data/SAMM -o samm_lv_reference.csv --reference-rules
"""


def setup(p: argparse.ArgumentParser) -> None:
    p.add_argument("format", choices=FORMATS, help="the dataset's layout")
    p.add_argument("root", help="the dataset's folder (holding data/, SAMM_longvideos/ or rawpic/)")
    p.add_argument("-o", "--output", required=True, help="manifest CSV to write (paths relative to it)")
    p.add_argument("--sheet", default=None, metavar="PATH",
                   help="the label sheet (.xlsx, or a CSV export of it) when it is not the default file in ROOT "
                        "(casme3_label.xlsx, SAMM_LongVideos_V3_Release.xlsx, code_final.xlsx)")
    p.add_argument("--emotion-sheet", default=None, metavar="PATH",
                   help="samm_lv: the FACS-codes sheet with the emotions (default SAMM_Micro_FACS_Codes_v2.xlsx)")
    p.add_argument("--reference-rules", action="store_true",
                   help="load the rows as the public ME-TST code does: fractional frame numbers floored, apexes "
                        "outside the interval kept, onset-0 rows dropped (default: repair and report)")


def run(a: argparse.Namespace) -> int:
    rules = LabelRules.for_mode("metst_code") if a.reference_rules else None
    try:
        ds = load_dataset(a.format, a.root, sheet=a.sheet, emotion_sheet=a.emotion_sheet, rules=rules)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    out = write_manifest(ds, a.output)
    json.dump({"output": str(out), "dataset": ds.name, **ds.label_summary(), "warnings": ds.messages()},
              sys.stdout)
    sys.stdout.write("\n")
    return 0
