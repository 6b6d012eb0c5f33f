"""Windowed optical-flow features of the ME-TST method, per ROI, with head-motion compensation.

For every window (k frames after the frame skip, a new window every k/2 frames) the face
is located at the window's first frame and cropped to 320 x 320 around the inner eye
corners. Farneback flow runs from that FIRST frame to every later frame of the window
(not frame to frame), once per flow field ("region") of the ROI set; each ROI's flow is
pooled to one (x, y) vector (mean over its largest-magnitude pixels) and the nose
reference vector is subtracted. When the reference moves by more than 1 crop px the crop
box is shifted and the flow recomputed, up to 3 times; the shifted box is kept for the
rest of the window. How the box is cut and shifted is ``ExtractParams.alignment``:
"public" as the authors' code does it (default), or metst's "improved" variant. Result:
``features`` (n_windows, C, k) in crop pixels, step 0 zero.

``walk_windows`` is the method's sequential walk over a stretch of windows (one decode);
``metst_engine.feature_runner`` runs walks in this process or in worker processes and
joins them bit-identically to one walk over the whole video.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from . import __version__
from .alignment import ALIGNMENTS, DEFAULT_ALIGNMENT
from .atomic import atomic_path
from .errors import Cancelled, InputError
from .face import (
    CROP_SIZE,
    Box,
    FaceAlignment,
    FaceTracker,
    LandmarkModel,
    crop_face,
    crop_public,
)
from .rois import RoiSet, RoiSpec
from .video import VideoSource

#: Bump when a change alters feature values: part of every cache key and of params_json.
FEATURES_VERSION = 2

ProgressFn = Callable[[int, int], None]
CancelFn = Callable[[], bool]


@dataclass(frozen=True)
class FlowParams:
    """Farneback parameters of the method (pyr_scale, levels, winsize, iterations, poly_n, poly_sigma)."""

    pyr_scale: float = 0.5
    levels: int = 3
    winsize: int = 15
    iterations: int = 5
    poly_n: int = 7
    poly_sigma: float = 1.5




@dataclass(frozen=True)
class ExtractParams:
    """Everything that determines the feature values (and hence the cache key)."""

    rois: str = "metst"
    window: int = 50                 #: k, in frames after the skip; must be even
    skip: int = 1                    #: keep every s-th source frame
    alignment: str = DEFAULT_ALIGNMENT  #: see metst_engine.alignment
    align: bool = True               #: shift the crop box with the head (False: never)
    align_threshold: float = 1.0     #: squared reference motion (crop px^2) that triggers a shift
    align_max_iter: int = 3
    face_search_step: int = 3        #: frames between tries when no face is at a window start
    flow: FlowParams = field(default_factory=FlowParams)

    def validate(self) -> None:
        if self.window < 4 or self.window % 2:
            raise ValueError(f"window must be an even number >= 4 (windows start every window/2 frames), got {self.window}")
        if self.skip < 1:
            raise ValueError(f"skip must be >= 1, got {self.skip}")
        if self.alignment not in ALIGNMENTS:
            raise ValueError(f"alignment must be one of {', '.join(ALIGNMENTS)}, got {self.alignment!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ExtractParams":
        d = dict(d)
        flow = FlowParams(**d.pop("flow", {}))
        return cls(flow=flow, **d)


@dataclass
class FeatureSet:
    """Features of one video, as stored in its ``.npz`` (all loadable with allow_pickle=False)."""

    features: np.ndarray        #: float32 (n_windows, C, k), crop pixels, step 0 zero
    channel_names: list[str]
    starts: np.ndarray          #: int64, 0-based source frame of each window's first frame
    face_ok: np.ndarray         #: bool, False where the face was borrowed from another window
    crop_boxes: np.ndarray      #: int64 (n_windows, 4) x0, y0, x1, y1 in source pixels
    n_frames: int
    fps: float
    skip: int
    k: int
    params: dict[str, Any]

    @property
    def n_windows(self) -> int:
        return int(self.features.shape[0])

    def save(self, path: str | Path) -> Path:
        """Write atomically: a temporary file in the same folder, then a rename."""
        path = Path(path)
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, features=self.features.astype(np.float32),
                     channel_names=np.array(self.channel_names, dtype=np.str_),
                     starts=self.starts.astype(np.int64), face_ok=self.face_ok.astype(bool),
                     crop_boxes=self.crop_boxes.astype(np.int64), n_frames=np.int64(self.n_frames),
                     fps=np.float64(self.fps), skip=np.int64(self.skip), k=np.int64(self.k),
                     params_json=np.array(json.dumps(self.params, sort_keys=True)))
        return path

    @classmethod
    def load(cls, path: str | Path) -> "FeatureSet":
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                return cls(features=z["features"], channel_names=[str(c) for c in z["channel_names"]],
                           starts=z["starts"], face_ok=z["face_ok"], crop_boxes=z["crop_boxes"],
                           n_frames=int(z["n_frames"]), fps=float(z["fps"]), skip=int(z["skip"]), k=int(z["k"]),
                           params=json.loads(str(z["params_json"])))
        except FileNotFoundError:
            raise InputError(path, "feature file not found") from None
        except (OSError, ValueError, KeyError) as exc:
            raise InputError(path, f"not a metst feature file ({exc})") from None


def window_plan(n_frames: int, window: int, skip: int) -> tuple[int, int]:
    """(frames after skip, number of windows): floor(T' / (k/2)) - 1 windows, as in the method."""
    n_after = len(range(0, n_frames, skip))
    return n_after, max(n_after // (window // 2) - 1, 0)


def pool_top(flow: np.ndarray, fraction: float) -> tuple[float, float]:
    """Mean (x, y) of the ``fraction`` of pixels with the largest flow magnitude.

    The same float32 arithmetic as ``fx[idx].mean()`` (pairwise float32 sum, divided by
    the count in float64, rounded to float32) without numpy's per-call overhead, which
    shows at ~40 calls per frame.
    """
    f = flow.reshape(-1, 2) if flow.flags.c_contiguous else np.ascontiguousarray(flow).reshape(-1, 2)
    n = f.shape[0]
    if n == 0:
        return 0.0, 0.0
    fx, fy = f[:, 0], f[:, 1]
    drop = int(n * (1.0 - fraction))
    if drop == 0:
        return _mean32(fx.copy(), n), _mean32(fy.copy(), n)
    idx = np.argpartition(fx * fx + fy * fy, drop)[drop:]
    return _mean32(fx[idx], n - drop), _mean32(fy[idx], n - drop)


def _mean32(x: np.ndarray, n: int) -> float:
    """``float(x.mean())`` of a contiguous float32 vector of n values, bit for bit."""
    return float(np.float32(float(np.add.reduce(x)) / n))


@dataclass(frozen=True)
class _Layout:
    """Pixel boxes of one window: regions to flow and, per ROI, where to pool inside its region."""

    ref_region: Box
    ref_pool: Box                           # relative to ref_region
    regions: tuple[Box, ...]
    rois: tuple[tuple[int, Box, float], ...]  # (region index, pool box relative to region, top fraction)


def _relative(pool: Box, region: Box) -> Box:
    b = Box(pool.x0 - region.x0, pool.y0 - region.y0, pool.x1 - region.x0, pool.y1 - region.y0)
    return b.clipped(region.width, region.height)


def _roi_pool(roi: RoiSpec, landmarks: np.ndarray, region: Box) -> Box:
    pool = _relative(roi.pool_box(landmarks), region)
    if roi.short_bottom_trim is not None and pool.height < 3:
        pool = _relative(roi.pool_box(landmarks, bottom=roi.short_bottom_trim), region)
    return pool


def window_layout(roi_set: RoiSet, landmarks: np.ndarray) -> _Layout:
    """Boxes for one window from the landmarks refitted on its crop."""
    size = roi_set.crop_size
    ref: RoiSpec = roi_set.reference
    ref_region = ref.flow_box(landmarks).clipped(size, size)
    names = roi_set.region_names()
    boxes = tuple(roi_set.region_box(n, landmarks) for n in names)
    rois = tuple((names.index(r.region), _roi_pool(r, landmarks, boxes[names.index(r.region)]), r.top_fraction)
                 for r in roi_set.rois)
    return _Layout(ref_region, _roi_pool(ref, landmarks, ref_region), boxes, rois)


def _cut(img: np.ndarray, b: Box) -> np.ndarray:
    return img[b.y0:b.y1, b.x0:b.x1]


def _flow(a: np.ndarray, b: np.ndarray, p: FlowParams) -> np.ndarray:
    if a.size == 0:     # an empty region (e.g. a lower-eyelid box of zero height) has no flow
        return np.zeros((*a.shape[:2], 2), np.float32)
    return cv2.calcOpticalFlowFarneback(a, b, None, p.pyr_scale, p.levels, p.winsize, p.iterations,
                                        p.poly_n, p.poly_sigma, 0)


class _PublicCrop:
    """The public code's crop: an integer box, moved by round(v) source px for a crop-px
    motion v (its unit slip), its top-left side kept inside the image."""

    def __init__(self, box: Box, size: int):
        self.box, self.size = box, size

    def cut(self, frame: np.ndarray) -> np.ndarray:
        return crop_public(frame, self.box, self.size)

    register = cut

    def follow(self, vx: float, vy: float) -> bool:
        dx, dy = int(round(vx)), int(round(vy))
        if dx == 0 and dy == 0:
            return False
        b = self.box
        self.box = Box(max(b.x0 + dx, 0), max(b.y0 + dy, 0), b.x1 + dx, b.y1 + dy)
        return True


_COARSE = 4  # down-scaling of the crop for the coarse registration


class _ImprovedCrop:
    """metst's crop: a sub-pixel offset of an unclipped box, converted to source px; a
    coarse whole-crop registration (median flow at quarter size) before the fine loop."""

    def __init__(self, box: Box, size: int, first: np.ndarray, params: ExtractParams):
        self.box, self.size, self.params = box, size, params
        self.ox, self.oy = 0.0, 0.0
        self.coarse = (size // _COARSE, size // _COARSE)
        self.first_small = cv2.resize(first, self.coarse, interpolation=cv2.INTER_AREA)

    def cut(self, frame: np.ndarray) -> np.ndarray:
        return crop_face(frame, self.box, self.size, (self.ox, self.oy))

    def register(self, frame: np.ndarray) -> np.ndarray:
        """The crop of a new frame after the coarse registration."""
        crop = self.cut(frame)
        if self.params.align:
            small = cv2.resize(crop, self.coarse, interpolation=cv2.INTER_AREA)
            g = _flow(self.first_small, small, self.params.flow)
            px, py = float(np.median(g[..., 0])) * _COARSE, float(np.median(g[..., 1])) * _COARSE
            if px * px + py * py > self.params.align_threshold:
                self.follow(px, py)
                crop = self.cut(frame)
        return crop

    def follow(self, vx: float, vy: float) -> bool:
        to_source = self.box.width / self.size
        self.ox, self.oy = self.ox + vx * to_source, self.oy + vy * to_source
        return True


def window_features(frames: list[np.ndarray], box: Box, landmarks: np.ndarray, roi_set: RoiSet,
                    params: ExtractParams) -> np.ndarray:
    """Features (C, k) of one window from its k grey source frames and its crop box/landmarks."""
    size = roi_set.crop_size
    lay = window_layout(roi_set, landmarks)
    fp = params.flow
    public = params.alignment == "public"
    first = crop_public(frames[0], box, size) if public else crop_face(frames[0], box, size)
    cropper: _PublicCrop | _ImprovedCrop = _PublicCrop(box, size) if public else _ImprovedCrop(box, size, first, params)
    first_ref = _cut(first, lay.ref_region)
    first_regions = [_cut(first, r) for r in lay.regions]
    ref_frac = roi_set.reference.top_fraction
    out = np.zeros((roi_set.n_channels, len(frames)), dtype=np.float32)

    def reference(crop: np.ndarray) -> tuple[float, float]:
        return pool_top(_cut(_flow(first_ref, _cut(crop, lay.ref_region), fp), lay.ref_pool), ref_frac)

    for t in range(1, len(frames)):   # the crop box, once moved, stays moved for the rest of the window
        crop = cropper.register(frames[t])
        rx, ry = reference(crop)
        if params.align:
            for _ in range(params.align_max_iter):
                if rx * rx + ry * ry <= params.align_threshold or not cropper.follow(rx, ry):
                    break
                crop = cropper.cut(frames[t])
                rx, ry = reference(crop)
        region_flows = [_flow(f0, _cut(crop, r), fp) for f0, r in zip(first_regions, lay.regions)]
        for c, (ri, pool, frac) in enumerate(lay.rois):
            vx, vy = pool_top(_cut(region_flows[ri], pool), frac)
            out[2 * c, t] = vx - rx
            out[2 * c + 1, t] = vy - ry
    return out


def _find_alignment(tracker: FaceTracker, buffer: dict[int, np.ndarray], start: int, last: int, step: int,
                    skip: int) -> FaceAlignment | None:
    """Face at the window start, else at earlier then later buffered frames in steps of ``step``."""
    candidates = [start]
    j = start - step
    while j in buffer:
        candidates.append(j)
        j -= step
    j = start + step
    while j <= last and j in buffer:
        candidates.append(j)
        j += step
    for j in candidates:
        found = tracker.locate(buffer[j], j * skip)
        if found is not None:
            return found
    return None


#: One face choice of the tracker: the candidate boxes and the one it took (None: none).
Choice = tuple[tuple[Box, ...], "Box | None"]


class ProbeTracker(FaceTracker):
    """A :class:`FaceTracker` that records its face choices until its next successful locate.

    A walk that starts in the middle of a video does not know which face the walk before
    it was following; the recorded choices let the caller check afterwards that the
    true predecessor's face would have led to the very same choices (see ``WindowChunk``).
    """

    def __init__(self, model: LandmarkModel, mode: str = "public"):
        super().__init__(model, mode=mode)
        self.probe: list[Choice] | None = None     #: recording while not None

    def choose(self, boxes: Sequence[Box]) -> Box | None:
        chosen = super().choose(boxes)
        if self.probe is not None:
            self.probe.append((tuple(boxes), chosen))
        return chosen

    def locate(self, gray: np.ndarray, frame_index: int, size: int = CROP_SIZE) -> FaceAlignment | None:
        found = super().locate(gray, frame_index, size)
        if found is not None:
            self.probe = None
        return found


@dataclass(frozen=True)
class WalkState:
    """What a walk over windows inherits from the windows before it: the face the tracker
    follows and the alignment that windows without a face borrow (None, None at the start)."""

    face_box: Box | None = None
    alignment: FaceAlignment | None = None


@dataclass
class WindowChunk:
    """Windows [w0, w0 + n) as one sequential walk computed them, with what the walk assumed.

    ``computed`` is False for windows that came before any alignment was known (the walk
    started without one): they are computed when the chunks are joined, with the
    alignment the one-process walk would have had there. ``seed``/``incoming`` are the
    walk's state at the chunk start and ``probe`` its face choices up to the chunk's first
    found face: the chunk equals the one-process result when its state was the true one,
    or when the true face box leads to the same recorded choices and ``incoming`` is None
    or the true alignment (checked by ``metst_engine.feature_runner``).
    """

    w0: int
    feats: np.ndarray               #: float32 (n, C, k)
    face_ok: np.ndarray             #: bool (n,)
    boxes: np.ndarray               #: int64 (n, 4) crop box used
    computed: np.ndarray            #: bool (n,)
    seed: Box | None
    incoming: FaceAlignment | None
    probe: tuple[Choice, ...] = ()
    end_box: Box | None = None      #: the tracker's face box after the chunk
    first: FaceAlignment | None = None   #: first and last alignments found in the chunk
    last: FaceAlignment | None = None

    @property
    def w1(self) -> int:
        return self.w0 + len(self.face_ok)

    @classmethod
    def empty(cls, w0: int, w1: int, n_channels: int, k: int, seed: Box | None,
              incoming: FaceAlignment | None) -> "WindowChunk":
        n = w1 - w0
        return cls(w0, np.zeros((n, n_channels, k), np.float32), np.zeros(n, bool), np.zeros((n, 4), np.int64),
                   np.zeros(n, bool), seed, incoming)


def walk_windows(video: VideoSource, params: ExtractParams, roi_set: RoiSet, tracker: ProbeTracker, state: WalkState,
                 bounds: Sequence[int], on_window: Callable[[], None] | None = None,
                 cancel: CancelFn | None = None) -> Iterator[WindowChunk]:
    """The method's sequential walk over windows [bounds[0], bounds[-1]), one chunk per bounds pair.

    One sequential decode, starting half a window early for the face search; every
    window's face is searched at its start (``_find_alignment``), windows without one
    borrow the last found alignment. Yields each chunk as soon as its last window is done.
    """
    k, half, s = params.window, params.window // 2, params.skip
    w0, w1 = int(bounds[0]), int(bounds[-1])
    tracker.last = state.face_box
    current = state.alignment
    edges = iter(zip(bounds, bounds[1:]))

    def open_chunk() -> WindowChunk:
        a, b = next(edges)
        tracker.probe = probe = []
        chunk = WindowChunk.empty(int(a), int(b), roi_set.n_channels, k, tracker.last, current)
        chunk.probe = probe     # type: ignore[assignment]  # the list, frozen into a tuple when the chunk is done
        return chunk

    chunk = open_chunk()
    buffer: dict[int, np.ndarray] = {}
    j_first = max(0, w0 * half - half)
    j_last = (w1 - 1) * half + k - 1
    for i, gray in video.iter_frames(j_first * s, j_last * s + 1, s, mode="gray"):
        j = i // s
        if cancel is not None and cancel():
            raise Cancelled("extraction cancelled")
        buffer[j] = gray
        if j < w0 * half + k - 1 or (j - (k - 1)) % half:
            continue
        w = (j - (k - 1)) // half
        start = w * half
        row = w - chunk.w0
        al = _find_alignment(tracker, buffer, start, j, params.face_search_step, s)
        if al is not None:
            chunk.face_ok[row] = True
            chunk.first = chunk.first or al
            chunk.last = current = al
        if current is not None:
            chunk.boxes[row] = current.crop_box.as_tuple()
            chunk.feats[row] = window_features([buffer[start + t] for t in range(k)], current.crop_box,
                                               current.landmarks, roi_set, params)
            chunk.computed[row] = True
        if on_window:
            on_window()
        for old in [q for q in buffer if q < start]:  # the next window searches back to here
            del buffer[old]
        if w + 1 == chunk.w1:
            chunk.probe = tuple(chunk.probe)
            chunk.end_box = tracker.last
            yield chunk
            if w + 1 < w1:
                chunk = open_chunk()
    tracker.probe = None


def window_frames(video: VideoSource, params: ExtractParams, w: int) -> list[np.ndarray]:
    """The k grey frames of window w (random access; for the few windows computed out of a walk)."""
    half, s = params.window // 2, params.skip
    return [video.gray((w * half + t) * s) for t in range(params.window)]


#: Windows per chunk: the unit of progress reports, of the per-chunk cache (resume) and
#: of results handed out while the rest of a video is computed.
CHUNK_WINDOWS = 16


def extract_features(video: VideoSource, params: ExtractParams | None = None, *, model: LandmarkModel | None = None,
                     progress: ProgressFn | None = None, cancel: CancelFn | None = None,
                     workers: int = 1, chunk_windows: int = CHUNK_WINDOWS, pool: Any = None, store: Any = None,
                     on_chunk: Callable[[Any], None] | None = None) -> FeatureSet:
    """Windowed ROI flow features of one video (a :class:`metst_engine.video.VideoSource`).

    ``workers`` > 1 (or a ``pool``, a :class:`metst_engine.feature_runner.ExtractionPool`
    kept alive across videos) computes long contiguous stretches of windows in separate
    processes (OpenCV's Farneback does not run in parallel threads); the result is
    bit-identical to the one-process walk. A custom ``model`` runs in this process only.
    Worker processes are spawned, so a calling *script* needs the usual
    ``if __name__ == "__main__":`` guard; the default (1) never starts one.

    ``store`` (a :class:`metst_engine.feature_runner.ChunkStore`) keeps every finished
    chunk of ``chunk_windows`` windows on disk, so a cancelled or killed run resumes
    where it stopped; ``on_chunk`` gets each :class:`metst_engine.feature_runner.FeatureChunk`
    in video order as soon as it and all chunks before it are final.

    Windows whose face could not be found within their own frames (or the half window
    before) borrow the nearest earlier alignment (or the first later one) and are marked
    ``face_ok = False``; a video with no face at all raises :class:`FaceNotFoundError`.
    """
    from .feature_runner import run_extraction  # lazy: cycle (it imports this)

    return run_extraction(video, params or ExtractParams(), model=model, progress=progress, cancel=cancel,
                          workers=workers, chunk_windows=chunk_windows, pool=pool, store=store, on_chunk=on_chunk)


def params_record(params: ExtractParams, roi_set: RoiSet) -> dict[str, Any]:
    """Every parameter, the ROI set's definition hash and the code version (stored in params_json)."""
    definition = dataclasses.asdict(roi_set)
    definition.pop("source")
    roi_def = json.dumps(definition, sort_keys=True, default=str)
    return {"params": params.to_dict(), "roi_set": roi_set.name,
            "roi_set_sha256": hashlib.sha256(roi_def.encode()).hexdigest(),
            "features_version": FEATURES_VERSION, "metst_version": __version__,
            "opencv_version": cv2.__version__}
