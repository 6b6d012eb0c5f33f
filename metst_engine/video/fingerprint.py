"""Content fingerprint of a video file or frame folder: the key of the feature cache, the proxy
cache and a project's check that a video is still the one that was added.

Needs only the file system (no decoder), so fingerprinting never opens a video.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from metst_engine.errors import InputError

_CHUNK = 1 << 16


def _sample_file(h: "hashlib._Hash", path: Path, samples: int = 16) -> None:
    """Hash a file's size and ``samples`` evenly spaced 64 KiB blocks (first and last included).

    Reading whole hour-long videos to key a cache would cost more than it saves; spaced
    blocks change with any re-encode, trim or replacement.
    """
    size = path.stat().st_size
    h.update(os.fsencode(path.name) + f":{size};".encode())     # names may hold non-UTF-8 bytes
    with open(path, "rb") as fh:
        if size <= samples * _CHUNK:
            h.update(fh.read())
            return
        for i in range(samples):
            fh.seek((size - _CHUNK) * i // (samples - 1))
            h.update(fh.read(_CHUNK))


def video_fingerprint(path: str | Path) -> str:
    """Content fingerprint of a video file or frame folder (blake2b, hex)."""
    p = Path(path)
    h = hashlib.blake2b(digest_size=20)
    if p.is_dir():
        files = sorted((e for e in os.scandir(p) if e.is_file()), key=lambda e: e.name)
        for e in files:
            h.update(os.fsencode(e.name) + f":{e.stat().st_size};".encode())
        for e in (files[:1] + files[len(files) // 2:len(files) // 2 + 1] + files[-1:]):
            _sample_file(h, Path(e.path), samples=4)
    elif p.is_file():
        _sample_file(h, p)
    elif p.exists():        # a FIFO or device: reading it would block or never end
        raise InputError(p, "not a regular file (a pipe, socket or device); save the video to a file first")
    else:
        raise InputError(p, "file or folder does not exist; check the path")
    return h.hexdigest()
