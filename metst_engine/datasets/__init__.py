"""Loaders for the public ME datasets and the generic manifest."""

from metst_engine.datasets.base import (
    Dataset, LabelledInterval, LabelRules, VideoEntry, k_prime, list_frames, load_emotion_map,
    map_emotion,
)
from metst_engine.datasets.manifest import MANIFEST_COLUMNS, load_manifest, write_manifest
from metst_engine.datasets.public import load_casme2, load_casme3, load_samm_lv

__all__ = [
    "Dataset", "LabelledInterval", "LabelRules", "VideoEntry", "k_prime", "list_frames",
    "load_emotion_map", "map_emotion", "MANIFEST_COLUMNS", "load_manifest", "write_manifest",
    "load_casme2", "load_casme3", "load_samm_lv",
]
