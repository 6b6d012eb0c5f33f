"""A thread-safe LRU of decoded frames (QImage), bounded in bytes rather than in frames.

Bytes, because one budget must hold ~100 frames of a 1080p interview or thousands of a
320 px crop video. QImage is implicitly shared, so handing one out copies nothing.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import cv2
import numpy as np
from PySide6 import QtCore, QtGui

#: QImage text key: the part of the source frame an image shows, "x0,y0,x1,y1" in source pixels
#: (set on face-proxy crops; an image without it shows the whole frame, possibly reduced).
SOURCE_RECT_KEY = "metst-source-rect"


def bgr_to_qimage(bgr: np.ndarray) -> QtGui.QImage:
    """BGR uint8 (H, W, 3) -> a QImage that owns its pixels (Format_RGB32: B, G, R, 255 in memory).

    RGB32 is the raster engine's native format, so painting never converts it; the BGRA
    pixels are written straight into the image's buffer (no intermediate copy).
    """
    h, w = bgr.shape[:2]
    image = QtGui.QImage(w, h, QtGui.QImage.Format.Format_RGB32)
    view = np.frombuffer(image.bits(), dtype=np.uint8).reshape(h, image.bytesPerLine())[:, : 4 * w]
    cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA, dst=view.reshape(h, w, 4))
    return image


def set_source_rect(image: QtGui.QImage, box: tuple[int, int, int, int]) -> QtGui.QImage:
    """Mark ``image`` as showing the source pixels ``[x0, x1) x [y0, y1)`` (returns the image)."""
    image.setText(SOURCE_RECT_KEY, ",".join(str(int(v)) for v in box))
    return image


def source_rect(image: QtGui.QImage, source_size: tuple[int, int]) -> QtCore.QRectF:
    """The part of the source frame (source pixels) that ``image`` shows: the whole frame unless marked."""
    text = image.text(SOURCE_RECT_KEY)
    if text:
        x0, y0, x1, y1 = (float(v) for v in text.split(","))
        return QtCore.QRectF(x0, y0, x1 - x0, y1 - y0)
    return QtCore.QRectF(0, 0, source_size[0], source_size[1])


def qimage_to_bgr(image: QtGui.QImage) -> np.ndarray:
    """The BGR pixels of a Format_RGB32 image (a copy), for checks that compare with ``VideoSource.frame``."""
    if image.format() != QtGui.QImage.Format.Format_RGB32:
        image = image.convertToFormat(QtGui.QImage.Format.Format_RGB32)
    h, w = image.height(), image.width()
    raw = np.frombuffer(image.constBits(), dtype=np.uint8).reshape(h, image.bytesPerLine())
    return raw[:, : 4 * w].reshape(h, w, 4)[:, :, :3].copy()


class FrameCache:
    """Least-recently-used frames by index, evicted when their bytes exceed ``max_bytes``."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = int(max_bytes)
        self._items: OrderedDict[int, QtGui.QImage] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, index: int) -> QtGui.QImage | None:
        with self._lock:
            image = self._items.get(index)
            if image is not None:
                self._items.move_to_end(index)
            return image

    def __contains__(self, index: int) -> bool:
        with self._lock:
            return index in self._items

    def put(self, index: int, image: QtGui.QImage) -> None:
        with self._lock:
            old = self._items.pop(index, None)
            if old is not None:
                self._bytes -= old.sizeInBytes()
            self._items[index] = image
            self._bytes += image.sizeInBytes()
            while self._bytes > self.max_bytes and len(self._items) > 1:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= dropped.sizeInBytes()

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    @property
    def nbytes(self) -> int:
        return self._bytes
