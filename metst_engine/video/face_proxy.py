"""All-intra proxy of the face crop at full resolution: exact frames of the face view at once.

A cold seek in a 1080p long-GOP file decodes up to a GOP of whole frames (p95 ~260 ms with a
keyframe every 250 frames, ``bench/gui_bench.py --face``). The face view only shows the face,
so after Analyze (which found the face boxes) the face crop of every frame is re-encoded as
its own JPEG at full source resolution: one stable crop per video (the per-window crop boxes
of the analysis, 2nd-98th percentile extent, plus a margin), so the image never jitters.

Why MJPEG (measured on the 578x440 face crop of ``bench/gui_bench.py --face``, 2 cores): one
JPEG decodes in ~0.6 ms (libjpeg-turbo through ``cv2.imdecode``, straight to BGR) against
~2-3 ms for an all-intra H.264 frame, needs no decoder state, extradata or threads (a fresh
decode per seek costs the same as a warm one), and it is both closer to the source and
smaller: at qscale 3 (full-range yuvj420p) 44 MB per minute at 41.5 dB PSNR against the
source crop, where x264 intra needs 49 MB/min for 38.8 dB (CRF 12) and gives 37.9 dB at
30 MB/min (CRF 16); qscale 2 / 4 / 6 give 58 / 37 / 30 MB/min at 42.6 / 40.6 / 39.3 dB.
The frames are muxed with PyAV into a QuickTime ``.mov`` (playable anywhere; its demuxer
reports each packet's byte offset exactly).

Next to the proxy an index (``.index.npz``) holds, per frame, the byte offset, size and
CRC-32 of its JPEG, so frame ``i`` is one read and one JPEG decode, no demuxer and no seek;
plus the source's fingerprint, frame count and crop. Written atomically (proxy, then index:
the index's presence means the proxy is complete); a cancelled build leaves nothing.
:func:`open_face_proxy` refuses a proxy that does not match (another video, another frame
count, a changed or cut file) and :meth:`FaceProxy.frame` refuses a frame whose bytes fail
their checksum, each with a :class:`VideoError` naming the file, so a caller falls back to
the source and never shows a wrong frame.
"""

from __future__ import annotations

import json
import os
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import av
import cv2
import numpy as np

from metst_engine.atomic import atomic_path
from metst_engine.errors import InputError, VideoError
from metst_engine.face import Box
from metst_engine.video.fingerprint import video_fingerprint
from metst_engine.video.source import VideoSource
from metst_engine.video.writer import Stopped, reported, write_video

FACE_PROXY_VERSION = 1   # bump when the format changes, so old files are not reused
FACE_MARGIN = 0.15       # added on every side, as a share of the crop's width / height
JPEG_QSCALE = 3          # FFmpeg's mjpeg quantiser scale (2-31, lower = better; see the module doc)
_FALLBACK_MARGIN = 0.3   # a curves file with only the median box: more room for head movement

ProgressFn = Callable[[int, int], object]
CancelFn = Callable[[], bool]


@dataclass(frozen=True)
class FaceCrop(Box):
    """The proxy's crop in source pixels, a :class:`~metst_engine.face.Box` (half-open ``[x0, x1) x [y0, y1)``)
    with even corners (4:2:0 chroma)."""

    def __post_init__(self) -> None:
        vals = self.as_tuple()
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in vals):
            raise ValueError(f"face crop needs integer corners, got {vals}")
        if self.x0 < 0 or self.y0 < 0 or self.x1 <= self.x0 or self.y1 <= self.y0 or any(v % 2 for v in vals):
            raise ValueError(f"face crop must be non-empty with even, non-negative corners, got {vals}")


def stable_face_crop(boxes: np.ndarray, frame_size: tuple[int, int], margin: float = FACE_MARGIN) -> FaceCrop:
    """One crop for the whole video from per-window face boxes ``(n, 4)`` x0, y0, x1, y1 (source px).

    Covers the 2nd-98th percentile extent of the boxes (a few stray detections do not
    blow it up) and their median, plus ``margin`` of its size on every side; clipped to
    the frame and rounded outwards to even pixels.
    """
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    b = b[(b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])]
    if not len(b):
        raise ValueError("no face box to crop to")
    med = np.median(b, axis=0)
    lo = np.minimum(np.percentile(b[:, :2], 2, axis=0), med[:2])
    hi = np.maximum(np.percentile(b[:, 2:], 98, axis=0), med[2:])
    pad = (hi - lo) * float(margin)
    w, h = frame_size
    x0, y0 = (max(0, int(np.floor(v / 2)) * 2) for v in lo - pad)
    x1, y1 = (int(np.ceil(v / 2)) * 2 for v in hi + pad)
    x1, y1 = min(x1, w - w % 2), min(y1, h - h % 2)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"the face boxes lie outside the {w}x{h} frame")
    return FaceCrop(x0, y0, x1, y1)


def face_crop_from_curves(curves_npz: str | os.PathLike[str], frame_size: tuple[int, int]) -> FaceCrop | None:
    """The stable crop of an Analyze curves file (per-window ``face_boxes``, else the median ``face_box``
    with a wider margin); None when the analysis found no face."""
    from ..curves_file import Curves  # lazy: cycle (curves_file -> features -> video)

    try:
        curves = Curves.load(curves_npz)
    except InputError as exc:
        raise VideoError(curves_npz, exc.problem) from None
    if curves.face_boxes is not None:
        boxes, margin = np.asarray(curves.face_boxes), FACE_MARGIN
    elif curves.face_box is not None:
        boxes, margin = np.asarray(curves.face_box), _FALLBACK_MARGIN
    else:
        return None
    try:
        return stable_face_crop(boxes, frame_size, margin)
    except ValueError:
        return None


def face_proxy_path(video_path: str | os.PathLike[str], crop: FaceCrop, proxy_dir: str | os.PathLike[str]) -> Path:
    """Where the face proxy of ``video_path`` with ``crop`` lives (keyed by content and crop, not by name)."""
    key = video_fingerprint(video_path)
    x0, y0, x1, y1 = crop.as_tuple()
    return Path(proxy_dir) / f"{key}-face-{x0}_{y0}_{x1}_{y1}-v{FACE_PROXY_VERSION}.mov"


def index_path(proxy: str | os.PathLike[str]) -> Path:
    """The index file next to a face proxy."""
    proxy = Path(proxy)
    return proxy.with_name(proxy.stem + ".index.npz")


def build_face_proxy(video: VideoSource, crop: FaceCrop, dest: str | os.PathLike[str], *,
                     progress: ProgressFn | None = None, cancel: CancelFn | None = None,
                     qscale: int = JPEG_QSCALE) -> Path | None:
    """Write the all-intra face proxy of ``video`` and its index; ``dest`` when done, None if cancelled.

    ``video`` is read sequentially (pass a source no other thread uses). ``progress(done,
    total)`` every 64 frames; ``cancel()`` is polled every frame and leaves no file behind.
    """
    dest = Path(dest)
    w, h = video.size
    if crop.x1 > w or crop.y1 > h:
        raise ValueError(f"face crop {crop.as_tuple()} exceeds the {w}x{h} frame of {video.path}")
    idx = index_path(dest)
    idx.unlink(missing_ok=True)             # an old index must never pair with a new proxy
    try:
        with atomic_path(dest) as tmp:
            _write_jpegs(video, crop, tmp, qscale, progress, cancel)
            index = _index_packets(tmp, video.n_frames)
    except Stopped:
        return None                         # atomic_path removed the partial file
    except av.FFmpegError as exc:
        raise VideoError(dest, f"face proxy could not be written ({exc}); the source is shown instead") from None
    meta = {"version": FACE_PROXY_VERSION, "source_fingerprint": video_fingerprint(video.path),
            "n_frames": int(video.n_frames), "crop": list(crop.as_tuple()), "codec": "mjpeg",
            "proxy_bytes": dest.stat().st_size}
    with atomic_path(idx) as tmp_idx, open(tmp_idx, "wb") as fh:
        np.savez(fh, meta_json=np.array(json.dumps(meta, sort_keys=True)), **index)
    return dest


def _write_jpegs(video: VideoSource, crop: FaceCrop, path: Path, qscale: int,
                 progress: ProgressFn | None, cancel: CancelFn | None) -> None:
    x0, y0, x1, y1 = crop.as_tuple()
    write_video(path, (bgr[y0:y1, x0:x1] for bgr in reported(video.iter_frames(), video.n_frames, progress, cancel)),
                size=(crop.width, crop.height), codec="mjpeg", pix_fmt="yuvj420p", container="mov",
                options={"qmin": str(int(qscale)), "qmax": str(int(qscale))})   # a constant quantiser


def _index_packets(path: Path, n_frames: int) -> dict[str, np.ndarray]:
    """Offset, size and CRC-32 of every frame's JPEG in the written file, checked against the file's bytes."""
    offsets, sizes, crcs = [], [], []
    with av.open(str(path)) as container, open(path, "rb") as fh:
        for pkt in container.demux(container.streams.video[0]):
            if pkt.size == 0:
                continue
            data = bytes(pkt)
            if pkt.pos is None or pkt.pos < 0 or fh.seek(pkt.pos) != pkt.pos or fh.read(pkt.size) != data:
                raise VideoError(path, "face proxy: the muxer did not store frames contiguously; report this bug")
            offsets.append(pkt.pos)
            sizes.append(pkt.size)
            crcs.append(zlib.crc32(data))
    if len(offsets) != n_frames:
        raise VideoError(path, f"face proxy has {len(offsets)} frames, the video {n_frames}")
    return {"offsets": np.asarray(offsets, np.int64), "sizes": np.asarray(sizes, np.int64),
            "crc32": np.asarray(crcs, np.uint32)}


class FaceProxy:
    """A finished face proxy: ``frame(i)`` is the BGR face crop of source frame i (one read, one decode).

    Thread-safe (reads are serialised by a lock; a decode needs no shared state). Properties:
    ``path``, ``crop``, ``n_frames``, ``size`` (width, height of a frame).
    """

    def __init__(self, path: Path, crop: FaceCrop, offsets: np.ndarray, sizes: np.ndarray, crc32: np.ndarray) -> None:
        self.path = path
        self.crop = crop
        self.n_frames = len(offsets)
        self.size = (crop.width, crop.height)
        self._offsets, self._sizes, self._crc = offsets, sizes, crc32
        self._lock = threading.Lock()
        try:
            self._fh = open(path, "rb")     # noqa: SIM115 - open for the proxy's life, closed by close()
        except OSError as exc:
            raise VideoError(path, f"face proxy cannot be read ({exc.strerror or exc})") from None

    def frame(self, i: int) -> np.ndarray:
        """Source frame i's face crop, BGR uint8 (h, w, 3); VideoError if its bytes are damaged."""
        if not 0 <= i < self.n_frames:
            raise IndexError(f"frame {i} out of range: {self.path} has {self.n_frames} frames")
        with self._lock:
            if self._fh.closed:
                raise VideoError(self.path, "face proxy is closed")
            self._fh.seek(int(self._offsets[i]))
            data = self._fh.read(int(self._sizes[i]))
        if len(data) != self._sizes[i] or zlib.crc32(data) != int(self._crc[i]):
            raise VideoError(self.path, f"face proxy frame {i} is damaged (checksum); delete the file, "
                                        "Analyze builds it again")
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if img is None or img.shape[:2] != (self.crop.height, self.crop.width):
            raise VideoError(self.path, f"face proxy frame {i} does not decode to the {self.crop.width}x"
                                        f"{self.crop.height} crop; delete the file, Analyze builds it again")
        return img

    def close(self) -> None:
        with self._lock:
            self._fh.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_face_proxy(path: str | os.PathLike[str], *, source_fingerprint: str, n_frames: int) -> FaceProxy:
    """Open a finished face proxy of the video with ``source_fingerprint`` and ``n_frames`` frames.

    Raises VideoError naming the file when it is missing, incomplete, damaged, made from
    another video or of another length (the caller shows the source instead).
    """
    path = Path(path)
    idx = index_path(path)
    if not path.is_file() or not idx.is_file():
        raise VideoError(path, "no finished face proxy here (it is built after Analyze)")
    try:
        with np.load(idx, allow_pickle=False) as z:
            meta = json.loads(str(z["meta_json"]))
            offsets, sizes, crc = (np.asarray(z[k]) for k in ("offsets", "sizes", "crc32"))
        crop = FaceCrop(*(int(v) for v in meta["crop"]))
        version, fp, count, size = meta["version"], meta["source_fingerprint"], int(meta["n_frames"]), meta["proxy_bytes"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise VideoError(idx, f"face proxy index is unreadable ({type(exc).__name__}); delete it, "
                              "Analyze builds it again") from None
    problem = None
    if version != FACE_PROXY_VERSION:
        problem = f"was written by another metst version (format {version}, this one reads {FACE_PROXY_VERSION})"
    elif fp != source_fingerprint:
        problem = "was made from another video (content fingerprint differs)"
    elif count != n_frames or not len(offsets) == len(sizes) == len(crc) == n_frames:
        problem = f"has {len(offsets)} frames, the video {n_frames}"
    elif path.stat().st_size != size or (n_frames and int((offsets + sizes).max()) > size):
        problem = f"is {path.stat().st_size} bytes, {size} were written: incomplete or changed"
    if problem:
        raise VideoError(path, f"face proxy {problem}; delete it, Analyze builds it again")
    return FaceProxy(path, crop, offsets, sizes, crc)


def find_face_proxy(video: VideoSource, curves_npz: str | os.PathLike[str],
                    proxy_dir: str | os.PathLike[str]) -> Path | None:
    """The face proxy of ``video`` for the crop of this Analyze curves file, if it was built (else None)."""
    crop = face_crop_from_curves(curves_npz, video.size)
    if crop is None:
        return None
    path = face_proxy_path(video.path, crop, proxy_dir)
    return path if index_path(path).is_file() else None


def ensure_face_proxy(video_path: str | os.PathLike[str], curves_npz: str | os.PathLike[str],
                      proxy_dir: str | os.PathLike[str], *, fps: float | None = None,
                      progress: ProgressFn | None = None, cancel: CancelFn | None = None) -> Path | None:
    """After Analyze: build the face proxy of a video file for its curves file's crop, unless a valid one exists.

    Returns the proxy, or None when cancelled, when the analysis found no face, or for a
    frame folder (its frames are images already: any frame reads alone).
    """
    from metst_engine.video import ContainerVideo, open_video

    with open_video(video_path, fps=fps, cache_size=0) as video:
        if not isinstance(video, ContainerVideo):
            return None
        crop = face_crop_from_curves(curves_npz, video.size)
        if crop is None:
            return None
        dest = face_proxy_path(video.path, crop, proxy_dir)
        try:
            open_face_proxy(dest, source_fingerprint=video_fingerprint(video.path), n_frames=video.n_frames).close()
            return dest
        except VideoError:
            pass                                # missing or unusable: (re)build it
        return build_face_proxy(video, crop, dest, progress=progress, cancel=cancel)
