"""Face detection, 68-point landmarks and the aligned 320x320 face crop of the ME-TST method.

The landmark model sits behind the small :class:`LandmarkModel` protocol so that the
default (dlib's HOG detector + the 68-point predictor shipped by the PyPI package
``face-recognition-models``, trained on iBUG 300-W, non-commercial terms) can be replaced
without touching the feature code. Nothing is downloaded at run time.

Coordinates: ``(x, y)`` with x to the right and y down; boxes are half-open
``[x0, x1) x [y0, y1)`` in integer pixels. Landmark numbering is dlib's 68-point scheme
(17-21 = the subject's right brow, seen on the image's left).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence

import cv2
import numpy as np

from .errors import InputError

#: Side of the aligned face crop in which all features are measured (method notes).
CROP_SIZE = 320
#: Inner eye corners in the 68-point scheme; they anchor the crop.
INNER_EYE_CORNERS = (39, 42)


@dataclass(frozen=True)
class Box:
    """Half-open integer box ``[x0, x1) x [y0, y1)``."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    @property
    def area(self) -> int:
        return max(self.width, 0) * max(self.height, 0)

    @property
    def center(self) -> tuple[float, float]:
        return ((self.x0 + self.x1) / 2.0, (self.y0 + self.y1) / 2.0)

    def shifted(self, dx: int, dy: int) -> "Box":
        return Box(self.x0 + dx, self.y0 + dy, self.x1 + dx, self.y1 + dy)

    def clipped(self, width: int, height: int) -> "Box":
        return Box(max(self.x0, 0), max(self.y0, 0), min(self.x1, width), min(self.y1, height))

    def union(self, other: "Box") -> "Box":
        return Box(min(self.x0, other.x0), min(self.y0, other.y0), max(self.x1, other.x1), max(self.y1, other.y1))

    def contains(self, x: float, y: float) -> bool:
        return self.x0 <= x < self.x1 and self.y0 <= y < self.y1

    def as_tuple(self) -> tuple[int, int, int, int]:
        return (self.x0, self.y0, self.x1, self.y1)


class LandmarkModel(Protocol):
    """What the feature code needs from a face model: boxes, then 68 landmarks in a box."""

    name: str

    def detect(self, gray: np.ndarray, upsample: bool = True) -> list[Box]:
        """All faces in a grey uint8 image, in that image's pixels (``upsample``: the model
        may enlarge small images to find small faces)."""

    def fit(self, gray: np.ndarray, box: Box) -> np.ndarray:
        """68 (x, y) landmarks (float64, shape (68, 2)) of the face inside ``box``."""


def _face_models_dir() -> Path:
    """Folder of the model files shipped by ``face-recognition-models``.

    That package's own ``import`` needs ``pkg_resources`` (gone from current setuptools),
    so we locate its files without importing it.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("face_recognition_models", "the package with the 68-point landmark model is not installed "
                         "(pip install face-recognition-models)")
    return Path(list(spec.submodule_search_locations)[0]) / "models"


class DlibLandmarkModel:
    """dlib HOG frontal-face detector + 68-point shape predictor (iBUG 300-W numbering).

    Small images are upscaled before detection (HOG misses faces under ~80 px); the
    predictor then runs on the original image. One instance per thread or process.
    """

    name = "dlib68"

    def __init__(self, predictor_path: str | Path | None = None, min_detect_side: int = 400):
        import dlib  # imported here so that importing metst_engine stays cheap

        path = Path(predictor_path) if predictor_path else _face_models_dir() / "shape_predictor_68_face_landmarks.dat"
        if not path.is_file():
            raise InputError(path, "landmark model file not found")
        try:
            self._predictor = dlib.shape_predictor(str(path))
        except RuntimeError as exc:
            raise InputError(path, f"not a dlib shape predictor ({exc})") from None
        self._detector = dlib.get_frontal_face_detector()
        self._dlib = dlib
        self.min_detect_side = min_detect_side

    def detect(self, gray: np.ndarray, upsample: bool = True) -> list[Box]:
        scale = 1.0
        img = gray
        side = min(gray.shape[:2])
        if upsample and side < self.min_detect_side:
            scale = self.min_detect_side / side
            img = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
        rects = self._detector(np.ascontiguousarray(img), 0)
        return [Box(int(round(r.left() / scale)), int(round(r.top() / scale)),
                    int(round((r.right() + 1) / scale)), int(round((r.bottom() + 1) / scale))) for r in rects]

    def fit(self, gray: np.ndarray, box: Box) -> np.ndarray:
        rect = self._dlib.rectangle(int(box.x0), int(box.y0), int(box.x1 - 1), int(box.y1 - 1))
        shape = self._predictor(np.ascontiguousarray(gray), rect)
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)


def default_landmark_model() -> LandmarkModel:
    """The landmark model used when the caller names none."""
    return DlibLandmarkModel()


def crop_box_from_landmarks(landmarks: np.ndarray) -> Box:
    """The method's square face box from the inner eye corners (landmarks 39 and 42).

    With g = half their horizontal distance and c their midpoint: rows
    [c_y - 3.5 g, c_y + 5.5 g), columns [c_x - 4.5 g, c_x + 4.5 g). Unlike the public code
    the box is not clipped at the image border (see :func:`crop_face`), so its scale stays
    the same when the face nears an edge.
    """
    left, right = landmarks[INNER_EYE_CORNERS[0]], landmarks[INNER_EYE_CORNERS[1]]
    g = abs(right[0] - left[0]) / 2.0
    if g < 2:
        raise ValueError("inner eye corners are too close for a face crop")
    cx, cy = (left[0] + right[0]) / 2.0, (left[1] + right[1]) / 2.0
    side = int(round(9 * g))
    x0 = int(round(cx - 4.5 * g))
    y0 = int(round(cy - 3.5 * g))
    return Box(x0, y0, x0 + side, y0 + side)


def public_crop_box(landmarks: np.ndarray, image_shape: tuple[int, ...]) -> Box:
    """The face box as the authors' public code computes it from landmarks 39 and 42.

    With g = int(half the corners' horizontal distance) and c = the integer midpoint:
    rows [max(c_y - int(3.5 g), 0), c_y + int(5.5 g)), columns [max(c_x - int(4.5 g), 0),
    c_x + int(4.5 g)), the far sides then cut at the image edge (numpy slicing). A box
    clipped at an edge is no longer square, so the crop's scale changes there (public
    behaviour; ``crop_box_from_landmarks`` is the unclipped alternative).
    """
    left, right = landmarks[INNER_EYE_CORNERS[0]], landmarks[INNER_EYE_CORNERS[1]]
    g = int((right[0] - left[0]) / 2)
    if g < 2:
        raise ValueError("inner eye corners are too close for a face crop")
    cx, cy = int((right[0] + left[0]) / 2), int((right[1] + left[1]) / 2)
    h, w = image_shape[:2]
    return Box(max(cx - int(4.5 * g), 0), max(cy - int(3.5 * g), 0), min(cx + int(4.5 * g), w), min(cy + int(5.5 * g), h))


def crop_public(gray: np.ndarray, box: Box, size: int = CROP_SIZE) -> np.ndarray:
    """Cut ``box`` (integer, clipped to the image) and resize it to size x size, bilinear
    (``cv2.resize``), as the public code does; an empty cut gives a black crop."""
    b = box.clipped(gray.shape[1], gray.shape[0])
    if b.width <= 0 or b.height <= 0:
        return np.zeros((size, size), dtype=gray.dtype)
    return cv2.resize(gray[b.y0:b.y1, b.x0:b.x1], (size, size))


def crop_face(gray: np.ndarray, box: Box, size: int = CROP_SIZE, offset: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """Cut ``box`` (moved by a sub-pixel ``offset``) out of ``gray`` and resample it to size x size.

    One affine warp with bilinear interpolation; pixels outside the image replicate the
    nearest edge, so the crop keeps its scale when the face nears a border.
    """
    sx, sy = size / box.width, size / box.height
    x0, y0 = box.x0 + offset[0], box.y0 + offset[1]
    m = np.array([[sx, 0.0, -x0 * sx], [0.0, sy, -y0 * sy]], dtype=np.float64)
    return cv2.warpAffine(gray, m, (size, size), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)


def to_crop_coords(points: np.ndarray, box: Box, size: int = CROP_SIZE) -> np.ndarray:
    """Map source-image points into the size x size crop of ``box``."""
    scale = np.array([size / box.width, size / box.height])
    return (np.asarray(points, dtype=np.float64) - np.array([box.x0, box.y0])) * scale


def to_source_coords(points: np.ndarray, box: Box, size: int = CROP_SIZE) -> np.ndarray:
    """Inverse of :func:`to_crop_coords`."""
    scale = np.array([box.width / size, box.height / size])
    return np.asarray(points, dtype=np.float64) * scale + np.array([box.x0, box.y0])


@dataclass(frozen=True)
class FaceAlignment:
    """Where the face is in a frame and its landmarks on the aligned crop."""

    frame_index: int            #: source frame the face was found on
    face_box: Box               #: detector box, source pixels
    crop_box: Box               #: square crop box, source pixels
    landmarks: np.ndarray       #: (68, 2) refitted on the crop, crop pixels
    source_landmarks: np.ndarray  #: (68, 2) source pixels, first fit
    crop_size: int = CROP_SIZE


#: How the face crop is made: "public" as the authors' code (integer box clipped at the
#: image edge, bilinear resize, landmarks refitted on a face detected in the crop);
#: "improved" metst's (unclipped square box, sub-pixel warp, landmarks refitted in the
#: mapped face box, no second detection).
CROP_MODES = ("public", "improved")


def align_face(gray: np.ndarray, model: LandmarkModel, face_box: Box, frame_index: int = 0,
               size: int = CROP_SIZE, mode: str = "public") -> FaceAlignment:
    """Fit landmarks, derive the eye-corner crop box, crop and refit the landmarks on the crop."""
    src_lm = model.fit(gray, face_box)
    if mode == "public":
        crop_box = public_crop_box(src_lm, gray.shape)
        crop = crop_public(gray, crop_box, size)
        found = model.detect(crop, upsample=False)
        if found:
            crop_lm = model.fit(crop, found[0])
        else:   # the source landmarks mapped into the crop, truncated to whole pixels as the public code does
            sx, sy = size / crop_box.width, size / crop_box.height
            crop_lm = np.trunc((src_lm - np.array([crop_box.x0, crop_box.y0])) * np.array([sx, sy]))
        return FaceAlignment(frame_index, face_box, crop_box, crop_lm, src_lm, size)
    if mode != "improved":
        raise ValueError(f"unknown crop mode {mode!r}; expected one of {CROP_MODES}")
    crop_box = crop_box_from_landmarks(src_lm)
    crop = crop_face(gray, crop_box, size)
    fb = to_crop_coords(np.array([[face_box.x0, face_box.y0], [face_box.x1, face_box.y1]]), crop_box, size)
    crop_face_box = Box(int(round(fb[0, 0])), int(round(fb[0, 1])), int(round(fb[1, 0])), int(round(fb[1, 1])))
    crop_lm = model.fit(crop, crop_face_box)
    return FaceAlignment(frame_index, face_box, crop_box, crop_lm, src_lm, size)


class FaceTracker:
    """Follows one face through a video: the largest at the start, then the one nearest the last.

    An interviewer entering the frame must not steal the ROIs, so after the first lock
    the choice is by distance to the previous box centre, not by size; a candidate whose
    centre is further than ``max_jump`` face widths away is ignored.
    """

    def __init__(self, model: LandmarkModel, max_jump: float = 1.5, mode: str = "public"):
        self.model = model
        self.max_jump = max_jump
        self.mode = mode
        self.last: Box | None = None

    def choose(self, boxes: Sequence[Box]) -> Box | None:
        if not boxes:
            return None
        if self.last is None:
            return max(boxes, key=lambda b: b.area)
        lx, ly = self.last.center
        def dist(b: Box) -> float:
            cx, cy = b.center
            return float(np.hypot(cx - lx, cy - ly))
        best = min(boxes, key=dist)
        if dist(best) > self.max_jump * max(self.last.width, 1):
            return None
        return best

    def locate(self, gray: np.ndarray, frame_index: int, size: int = CROP_SIZE) -> FaceAlignment | None:
        """Align the tracked face in this frame, or None when it is not there.

        In "public" mode the detector first runs on the frame as it is, as the public code
        does (the same face box, so the same landmarks); small frames where that finds no
        face are tried again upsampled."""
        found = self.model.detect(gray, upsample=False) if self.mode == "public" else []
        box = self.choose(found or self.model.detect(gray))
        if box is None:
            return None
        try:
            alignment = align_face(gray, self.model, box, frame_index, size, self.mode)
        except ValueError:
            return None
        self.last = box
        return alignment
