"""Folders of JPEG/PNG frames in the dataset layouts (CAS(ME)^3, SAMM-LV, generic)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import cv2
import numpy as np

from metst_engine.errors import VideoError
from metst_engine.video.source import IMAGE_EXTENSIONS, VideoSource, _check_fps

_NUMBERED = re.compile(r"^(.*?)(\d+)\.[^.]+$")  # <prefix><number>.<ext>
_DIGITS = re.compile(r"(\d+)")


def _natural_key(name: str) -> list[object]:
    return [(0, int(t), t) if t.isdigit() else (1, 0, t.lower()) for t in _DIGITS.split(name)]


def _ranges(nums: list[int], limit: int = 20) -> str:
    """'5, 8-12, 20' for a sorted list of ints (at most ``limit`` runs shown)."""
    runs: list[str] = []
    start = prev = nums[0]
    for x in nums[1:] + [None]:  # type: ignore[list-item]
        if x is not None and x == prev + 1:
            prev = x
            continue
        runs.append(str(start) if start == prev else f"{start}-{prev}")
        if x is not None:
            start = prev = x
    more = f", ... ({len(runs) - limit} more runs)" if len(runs) > limit else ""
    return ", ".join(runs[:limit]) + more


class FrameFolderVideo(VideoSource):
    """A folder of JPEG/PNG frames (see module doc for layouts and gap handling).

    ``file(i)`` / ``files[i]`` is the image served as frame i; ``first_number`` is the file number
    of frame 0 for numbered layouts (None for natural-sorted ones), so dataset labels
    given as file numbers convert with ``i = number - first_number``; ``filled`` lists
    the indices served by a later file because of ``fill_gaps``.
    """

    def __init__(self, path: str | os.PathLike[str], *, fps: float | None = None,
                 fill_gaps: bool = False, cache_size: int = 8) -> None:
        super().__init__(Path(path), cache_size)
        caller_fps = _check_fps(fps, path)
        if not self.path.is_dir():
            raise VideoError(self.path, "folder does not exist" if not self.path.exists()
                             else "not a folder")
        try:
            with os.scandir(self.path) as it:  # one listing, no per-file stat on Linux
                names = [e.name for e in it
                         if not e.name.startswith(".")  # also skips macOS "._1.jpg"
                         and e.name[e.name.rfind("."):].lower() in IMAGE_EXTENSIONS
                         and e.is_file()]
        except OSError as e:
            raise VideoError(self.path, f"cannot list folder: {e.strerror or e}") from e
        if not names:
            raise VideoError(self.path, "folder contains no images ("
                             + ", ".join(sorted(IMAGE_EXTENSIONS)) + ")", usable_frames=0)
        self.first_number: int | None = None
        self.filled: tuple[int, ...] = ()
        self._names: list[str] = self._arrange(names, fill_gaps)
        self._files: list[Path] | None = None
        self.n_frames = len(self._names)
        self._set_fps(caller_fps, None, None)
        ts = np.arange(self.n_frames, dtype=np.float64) / self.fps
        ts.flags.writeable = False
        self._timestamps = ts
        first = self._decode(0)
        self._size = (int(first.shape[1]), int(first.shape[0]))

    def file(self, i: int) -> Path:
        """The image file served as frame i."""
        return self.path / self._names[self._check_index(i)]

    @property
    def files(self) -> list[Path]:
        """``file(i)`` for every frame (built on first use: 720k Paths take a while)."""
        if self._files is None:
            self._files = [self.path / n for n in self._names]
        return self._files

    @property
    def fps_measured(self) -> float | None:
        """Frame folders carry no timing, so there is nothing to measure."""
        return None

    def _arrange(self, names: list[str], fill_gaps: bool) -> list[str]:
        """File name per frame index: numbered layouts by number, others natural-sorted."""
        parsed = [(n, _NUMBERED.match(n)) for n in names]
        prefixes = {m.group(1) for _, m in parsed if m is not None}
        if any(m is None for _, m in parsed) or len(prefixes) != 1:
            names.sort(key=_natural_key)
            return names
        by_number: dict[int, str] = {}
        for name, m in parsed:
            num = int(m.group(2))  # type: ignore[union-attr]
            if num in by_number:
                other = by_number[num]
                raise VideoError(self.path / name, f"two files for frame number {num}: "
                                 f"{other} and {name}")
            by_number[num] = name
        numbers = sorted(by_number)
        first, last = numbers[0], numbers[-1]
        self.first_number = first
        if last - first + 1 != len(numbers):
            missing = np.setdiff1d(np.arange(first, last + 1), numbers).tolist()
            if not fill_gaps:
                raise VideoError(self.path, f"{len(missing)} frame file(s) missing from the "
                                 f"numbering {first}-{last}: {_ranges(missing)} "
                                 "(use fill_gaps=True to serve each gap with the next file)",
                                 usable_frames=missing[0] - first)
            files: list[str] = []
            filled: list[int] = []
            nxt = None
            for k in range(last, first - 1, -1):   # walk back so "next existing" is known
                if k in by_number:
                    nxt = by_number[k]
                else:
                    filled.append(k - first)
                files.append(nxt)  # type: ignore[arg-type]
            files.reverse()
            self.filled = tuple(sorted(filled))
            self.notes = (f"{len(missing)} missing frame file(s) filled with the next "
                          f"file: {_ranges(missing)}",)
            return files
        return [by_number[k] for k in numbers]

    def _decode(self, i: int) -> np.ndarray:
        f = self.path / self._names[i]
        try:
            data = np.fromfile(f, dtype=np.uint8)
        except OSError as e:
            raise VideoError(f, f"frame {i} cannot be read: {e.strerror or e}") from e
        img = None
        if data.size:
            try:
                img = cv2.imdecode(data, cv2.IMREAD_COLOR)
            except cv2.error:
                img = None
        if img is None:
            raise VideoError(f, f"frame {i} ({f.name}) cannot be decoded as an image "
                             "(corrupt or not an image)")
        if self._size != (0, 0) and (img.shape[1], img.shape[0]) != self._size:
            raise VideoError(f, f"frame {i} ({f}) is {img.shape[1]}x{img.shape[0]}, expected "
                             f"{self._size[0]}x{self._size[1]} like frame 0 "
                             f"({self._names[0]})")
        return img

    def _read_bgr(self, i: int, convert: bool = True) -> np.ndarray | None:
        return self._decode(i)

    def _close(self) -> None:
        pass
