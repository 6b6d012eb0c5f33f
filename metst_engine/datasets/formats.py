"""One entry point for every ground-truth format, shared by ``metst manifest`` and
``metst project import --ground-truth`` (and any Python caller)."""

from __future__ import annotations

from pathlib import Path

from metst_engine.datasets import casme2, manifest, public
from metst_engine.datasets.base import Dataset, LabelRules

#: Formats by name, in the order the help lists them.
GROUND_TRUTH_FORMATS: tuple[str, ...] = ("manifest", "casme3", "samm_lv", "casme2")


def load_dataset(fmt: str, path: str | Path, *, sheet: str | Path | None = None,
                 emotion_sheet: str | Path | None = None, rules: LabelRules | None = None) -> Dataset:
    """Load ``path`` (a manifest CSV or a dataset root) as ``fmt``.

    ``sheet``: the label sheet of a public dataset when it is not at its default place or
    name (CAS(ME)^3 ``casme3_label.xlsx``, SAMM-LV ``SAMM_LongVideos_V3_Release.xlsx``,
    CAS(ME)^2 ``code_final.xlsx``); ``emotion_sheet``: SAMM-LV's FACS-codes sheet.
    Raises ValueError for an unknown format or an option the format does not take.
    """
    if fmt not in GROUND_TRUTH_FORMATS:
        raise ValueError(f"unknown ground-truth format {fmt!r}; use one of {', '.join(GROUND_TRUTH_FORMATS)}")
    if emotion_sheet is not None and fmt != "samm_lv":
        raise ValueError("an emotion sheet is SAMM-LV's (--emotion-sheet goes with samm_lv)")
    if fmt == "manifest":
        if sheet is not None:
            raise ValueError("a manifest is the CSV itself: give its path, without --sheet")
        if rules is not None:
            raise ValueError("a manifest holds 0-based frames already: label rules do not apply")
        return manifest.load_manifest(path)
    if fmt == "casme3":
        return public.load_casme3(path, label_sheet=sheet, rules=rules)
    if fmt == "samm_lv":
        return public.load_samm_lv(path, label_sheet=sheet, emotion_sheet=emotion_sheet, rules=rules)
    return casme2.load_casme2(path, label_sheet=sheet, rules=rules)
