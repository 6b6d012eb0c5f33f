"""Loaders for the public ME datasets and the generic manifest."""

from metst_engine.datasets.base import (
    Dataset,
    LabelledInterval,
    LabelRules,
    RowIssue,
    VideoEntry,
    k_prime,
    list_frames,
    load_emotion_map,
    map_emotion,
)
from metst_engine.datasets.casme2 import load_casme2
from metst_engine.datasets.formats import GROUND_TRUTH_FORMATS, load_dataset
from metst_engine.datasets.manifest import (
    MANIFEST_COLUMNS,
    load_manifest,
    write_manifest,
)
from metst_engine.datasets.public import load_casme3, load_samm_lv

__all__ = [
    "GROUND_TRUTH_FORMATS",
    "MANIFEST_COLUMNS",
    "Dataset",
    "LabelRules",
    "LabelledInterval",
    "RowIssue",
    "VideoEntry",
    "k_prime",
    "list_frames",
    "load_casme2",
    "load_casme3",
    "load_dataset",
    "load_emotion_map",
    "load_manifest",
    "load_samm_lv",
    "map_emotion",
    "write_manifest",
]
