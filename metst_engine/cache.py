"""On-disk cache of per-video features, keyed by video content + parameters + code version.

The key hashes a content fingerprint of the input (see :func:`video_fingerprint`) with
the complete parameter record, so a changed video, parameter, ROI definition or feature
code version never returns stale features. Files are written atomically by
:meth:`FeatureSet.save`, so a killed run leaves no half file behind.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from .errors import InputError
from .features import ExtractParams, FeatureSet, params_record
from .rois import load_roi_set
from .video.fingerprint import video_fingerprint


def default_cache_dir() -> Path:
    """``<user cache dir>/metst/features`` (overridable with METST_CACHE_DIR)."""
    env = os.environ.get("METST_CACHE_DIR")
    if env:
        return Path(env) / "features"
    import platformdirs

    return Path(platformdirs.user_cache_dir("metst")) / "features"


def cache_key(path: str | Path, params: ExtractParams) -> str:
    record = params_record(params, load_roi_set(params.rois))
    blob = json.dumps({"video": video_fingerprint(path), "params": record}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def parts_dir(cache_file: str | Path) -> Path:
    """Where the finished chunks of a not yet finished extraction of ``cache_file`` are kept (resume)."""
    cache_file = Path(cache_file)
    return cache_file.with_name(cache_file.stem + ".parts")


def cached_features(path: str | Path, params: ExtractParams, cache_dir: str | Path | None = None) -> tuple[Path, FeatureSet | None]:
    """Where the features of ``path`` live in the cache, and them if present and readable."""
    file = Path(cache_dir or default_cache_dir()) / f"{cache_key(path, params)}.npz"
    if file.is_file():
        try:
            return file, FeatureSet.load(file)
        except InputError:
            file.unlink(missing_ok=True)   # unreadable entry: recompute rather than fail
    return file, None
