"""Synthetic facial motion with known ground truth: local warps, expression profiles, datasets.

Used by tests (known motion in, measured motion out), by the bundled demo video and by
benchmarks. Warps are smooth displacement fields applied with ``cv2.remap``; a
displacement is in source pixels and is exact inside the warp's plateau.

:func:`generate` (CLI: ``metst synth``) writes a whole labelled set: photo variants of
one real face as subjects, micro-expressions as AU-like warps with onset-apex-offset
profiles, and distractors (macro-expressions, blinks, head drift, noise), as videos plus
a generic manifest. The face photo ships in ``resources/faces`` so scikit-image is not
needed at run time.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from . import __version__
from .atomic import ensure_dir
from .datasets.base import Dataset, LabelledInterval, VideoEntry
from .datasets.manifest import write_manifest
from .errors import FaceNotFoundError, InputError
from .face import DlibLandmarkModel, FaceTracker
from .resources_path import resource_path


def expression_profile(n_frames: int, onset: int, apex: int, offset: int) -> np.ndarray:
    """Amplitude per frame: 0 before onset, raised-cosine rise to 1 at apex, fall to 0 at offset."""
    t = np.arange(n_frames, dtype=np.float64)
    a = np.zeros(n_frames)
    rise = (t >= onset) & (t <= apex)
    fall = (t > apex) & (t <= offset)
    if apex > onset:
        a[rise] = 0.5 - 0.5 * np.cos(np.pi * (t[rise] - onset) / (apex - onset))
    else:
        a[t == apex] = 1.0
    if offset > apex:
        a[fall] = 0.5 + 0.5 * np.cos(np.pi * (t[fall] - apex) / (offset - apex))
    return a


@dataclass(frozen=True)
class LocalWarp:
    """A displacement (dx, dy) applied fully inside an ellipse and fading to 0 around it.

    ``center`` and ``radii`` in source pixels; the weight is 1 for normalised radius <= 1
    and falls with a raised cosine to 0 at normalised radius ``1 + falloff``.
    """

    center: tuple[float, float]
    radii: tuple[float, float]
    displacement: tuple[float, float]
    falloff: float = 1.0

    def weight(self, shape: tuple[int, int]) -> np.ndarray:
        h, w = shape
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        r = np.sqrt(((xx - self.center[0]) / self.radii[0]) ** 2 + ((yy - self.center[1]) / self.radii[1]) ** 2)
        wgt = np.clip((r - 1.0) / self.falloff, 0.0, 1.0)
        return (0.5 + 0.5 * np.cos(np.pi * wgt)).astype(np.float32)


def apply_warps(image: np.ndarray, warps: list[tuple[LocalWarp, float]], translation: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """Warp ``image`` by the sum of ``(warp, amplitude)`` fields plus a global translation.

    The field moves content by +displacement (backward mapping: out(x) = in(x - d(x)),
    exact where d is locally constant).
    """
    h, w = image.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    dx = np.full((h, w), translation[0], dtype=np.float32)
    dy = np.full((h, w), translation[1], dtype=np.float32)
    for warp, amp in warps:
        if amp == 0:
            continue
        wgt = warp.weight((h, w)) * np.float32(amp)
        dx += wgt * np.float32(warp.displacement[0])
        dy += wgt * np.float32(warp.displacement[1])
    return cv2.remap(image, xx - dx, yy - dy, interpolation=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)


# ============================================================================ dataset generator
# A face photo animated with AU-like local warps of known timing: micro-expressions (the
# labels), plus distractors that a spotter must ignore (macro-expressions are labelled as
# such; blinks, head drift and sensor noise are not). Everything follows from one seed.

#: Frame side the amplitudes are quoted for; they scale with ``SynthConfig.size``.
REFERENCE_SIZE = 320
#: Where the face sits in ``resources/faces/astronaut.jpg`` (x, y), a 320x320 cut of
#: scikit-image's astronaut photo (NASA, public domain) at rows 0:320, columns 65:385.
FACE_CENTER = (160.0, 135.0)
EMOTION_AUS: dict[str, tuple[str, ...]] = {
    "surprise": ("AU1+2",),
    "positive": ("AU12",),
    "negative": ("AU4", "AU15", "AU4+15"),
    "others": ("AU17+24", "AU9"),
}
AU_NAMES: dict[str, str] = {
    "AU1+2": "brow raiser", "AU4": "brow lowerer", "AU12": "lip corner puller",
    "AU15": "lip corner depressor", "AU4+15": "brow lowerer + lip corner depressor",
    "AU17+24": "chin raiser + lip pressor", "AU9": "nose wrinkler",
}
BLINK = "AU45"
#: Face regions each AU's warps move (a micro-expression placed inside a macro-expression
#: uses another region, as a person can hold a smile and flash a brow movement).
AU_REGIONS: dict[str, frozenset[str]] = {
    "AU1+2": frozenset({"brows"}), "AU4": frozenset({"brows"}), "AU12": frozenset({"mouth"}),
    "AU15": frozenset({"mouth"}), "AU4+15": frozenset({"brows", "mouth"}), "AU17+24": frozenset({"mouth"}),
    "AU9": frozenset({"nose"}),
}

ProgressFn = Callable[[int, int], None]


@dataclass
class SynthConfig:
    """Everything that determines a synthetic set; saved to ``synth.json`` beside the manifest.

    Rates are per minute of video; amplitudes are in pixels of a 320-pixel frame (scaled
    with ``size``). Gaps between any two events (blinks included) are at least ``min_gap_s``.
    """

    subjects: int = 3
    videos_per_subject: int = 2
    seconds: float = 20.0
    fps: float = 30.0
    size: int = 320
    seed: int = 0
    me_per_minute: float = 15.0            #: an ME every ~4 s on average
    macro_per_minute: float = 4.0
    blink_per_minute: float = 10.0
    me_seconds: tuple[float, float] = (0.2, 0.5)
    macro_seconds: tuple[float, float] = (0.8, 3.0)
    blink_seconds: tuple[float, float] = (0.1, 0.2)
    me_amplitude: tuple[float, float] = (0.7, 1.5)
    macro_amplitude: tuple[float, float] = (2.0, 4.0)
    min_gap_s: float = 0.5
    noise_sigma: float = 1.0               #: grey levels, Gaussian, per pixel and frame
    drift_px: float = 1.5                  #: peak head translation, each axis
    blinks: bool = True
    macros: bool = True
    crf: int = 18
    me_near_macro: float = 0.0             #: chance that a macro carries an extra ME (other region) inside or next to it
    blink_lower_lid: float = 0.0           #: lower-lid rise in a blink, fraction of the eye opening (0: upper lids only)
    rotation_deg: float = 0.0              #: peak head roll in degrees (slow, like the drift)

    def validate(self) -> None:
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if self.subjects < 1 or self.videos_per_subject < 1:
            raise ValueError("subjects and videos_per_subject must be >= 1")
        if not (0 < self.fps <= 10_000 and math.isfinite(self.fps)):
            raise ValueError(f"fps must be in (0, 10000], got {self.fps}")
        if not 0 < self.seconds <= 24 * 3600:
            raise ValueError(f"seconds must be in (0, 86400], got {self.seconds}")
        if self.seconds * self.fps < 2:
            raise ValueError(f"seconds x fps must give at least 2 frames, got {self.seconds} s at {self.fps} fps")
        if self.size < 64 or self.size % 2 or self.size > 4096:
            raise ValueError(f"size must be an even number in [64, 4096] (yuv420p), got {self.size}")
        rates = (self.me_per_minute, self.macro_per_minute, self.blink_per_minute)
        if not all(0 <= r <= 600 for r in rates):
            raise ValueError(f"event rates must be in [0, 600] per minute, got {rates}")
        if not 0.0 <= self.me_near_macro <= 1.0:
            raise ValueError(f"me_near_macro must be in [0, 1], got {self.me_near_macro}")
        for name in ("me_seconds", "macro_seconds", "blink_seconds", "me_amplitude", "macro_amplitude"):
            lo, hi = getattr(self, name)
            if not 0 < lo <= hi:
                raise ValueError(f"{name} must be a range 0 < low <= high, got {(lo, hi)}")
        if not all(0 <= v < 1000 for v in (self.noise_sigma, self.drift_px)):
            raise ValueError(f"noise and drift must be in [0, 1000), got {self.noise_sigma}, {self.drift_px}")
        if min(self.rotation_deg, self.blink_lower_lid) < 0:
            raise ValueError("rotation and blink_lower_lid must be >= 0")

    @property
    def n_frames(self) -> int:
        return round(self.seconds * self.fps)

    @classmethod
    def varied(cls, **overrides: object) -> SynthConfig:
        """The harder mix a spotter is tuned and benchmarked on (``metst synth --varied``).

        MEs from barely visible to clear and across the micro range, more and longer blinks
        (up to micro length; the lower lids rise a little), more macro-expressions, half of them with an ME inside or next
        to them, stronger head drift with a small roll, more sensor noise. A second face
        size is the caller's ``size`` (e.g. 240 beside 320).
        """
        values: dict[str, object] = dict(
            me_seconds=(0.15, 0.5), me_amplitude=(0.4, 1.5), macro_per_minute=6.0, macro_seconds=(0.8, 3.0),
            blink_per_minute=15.0, blink_seconds=(0.1, 0.35), blink_lower_lid=0.15, me_near_macro=0.5,
            noise_sigma=2.0, drift_px=3.0, rotation_deg=1.5)
        values.update(overrides)
        return cls(**values)   # type: ignore[arg-type]

    @property
    def scale(self) -> float:
        return self.size / REFERENCE_SIZE


@dataclass
class Subject:
    """One synthetic person: a photo variant (size x size BGR) and its 68 dlib landmarks."""

    name: str
    base_bgr: np.ndarray
    landmarks: np.ndarray
    variant: dict[str, float | bool] = field(default_factory=dict)


@dataclass(frozen=True)
class Event:
    """One animated event in 0-based inclusive frames; ``kind`` micro, macro or blink."""

    kind: str
    onset: int
    apex: int
    offset: int
    au: str
    emotion: str | None
    amplitude: float          #: peak displacement, px of a 320-pixel frame

    @property
    def labelled(self) -> bool:
        return self.kind in ("micro", "macro")


# ---------------------------------------------------------------------------- subjects
def load_face_photo() -> np.ndarray:
    """The bundled face photo (BGR uint8); shipped so that runtime needs no scikit-image."""
    try:
        data = resource_path("faces", "astronaut.jpg").read_bytes()
    except FileNotFoundError:   # an installed resources package without faces/: the checkout's copy
        local = Path(__file__).resolve().parent.parent / "resources" / "faces" / "astronaut.jpg"
        if not local.is_file():
            raise InputError(str(resource_path("faces", "astronaut.jpg")),
                             "bundled face photo missing (the package data must include faces/*)") from None
        data = local.read_bytes()
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise RuntimeError("cannot decode the bundled face photo resources/faces/astronaut.jpg")
    return img


def _variant_image(photo: np.ndarray, size: int, v: dict[str, float | bool]) -> np.ndarray:
    """Crop/scale/flip by an affine map, then contrast, brightness, gamma and colour gains."""
    side = float(v["side"])
    cx, cy = FACE_CENTER[0] + float(v["dx"]), FACE_CENTER[1] + float(v["dy"])
    s = size / side
    m = np.array([[s, 0.0, size / 2 - s * cx], [0.0, s, size / 2 - s * cy]])
    img = cv2.warpAffine(photo, m, (size, size), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    if v["flip"]:
        img = np.ascontiguousarray(img[:, ::-1])
    f = img.astype(np.float32) / 255.0
    f = np.clip((f - 0.5) * float(v["contrast"]) + 0.5 + float(v["brightness"]) / 255.0, 0.0, 1.0)
    f = f ** float(v["gamma"])
    f *= np.array([v["gain_b"], v["gain_g"], v["gain_r"]], dtype=np.float32)
    return np.clip(f * 255.0 + 0.5, 0, 255).astype(np.uint8)


def make_subject(index: int, rng: np.random.Generator, size: int = REFERENCE_SIZE, model: object | None = None,
                 tries: int = 8, flip: bool | None = None) -> Subject:
    """A deterministic photo variant and its landmarks, found once with the dlib model.

    Odd subjects are mirrored (unless ``flip`` says otherwise; it draws nothing from
    ``rng``), so even a two-subject set has both. Landmarks are fitted on
    the variant itself: after a flip, dlib's 22-26 (the subject's left brow) lie on the
    image's right, so warps keyed to landmark numbers follow the mirrored subject.
    """
    photo = load_face_photo()
    model = model or DlibLandmarkModel()
    for _ in range(tries):
        v: dict[str, float | bool] = {
            "side": float(rng.uniform(210, 270)), "dx": float(rng.uniform(-15, 15)), "dy": float(rng.uniform(-12, 12)),
            "flip": bool(index % 2 == 1) if flip is None else bool(flip), "contrast": float(rng.uniform(0.8, 1.15)),
            "brightness": float(rng.uniform(-20, 20)), "gamma": float(rng.uniform(0.8, 1.25)),
            "gain_b": float(rng.uniform(0.92, 1.08)), "gain_g": float(rng.uniform(0.95, 1.05)),
            "gain_r": float(rng.uniform(0.92, 1.08)),
        }
        img = _variant_image(photo, size, v)
        al = FaceTracker(model).locate(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), 0)   # type: ignore[arg-type]
        if al is not None:
            return Subject(f"s{index + 1:02d}", img, np.asarray(al.source_landmarks, dtype=np.float64), v)
    raise FaceNotFoundError(None, f"no face found on {tries} variants of the synthetic subject {index + 1}")


# ---------------------------------------------------------------------------- action units
def au_warps(au: str, lm: np.ndarray, amplitude: float, scale: float = 1.0) -> list[LocalWarp]:
    """The local warps of one AU at its landmark sites, peak displacement ``amplitude`` px.

    Directions come from the landmarks (towards the face's midline, away from the mouth
    centre), so they hold on mirrored subjects. ``scale`` converts 320-frame px to frame px.
    """
    a = amplitude * scale
    brow_r, brow_l = lm[17:22], lm[22:27]
    mid_x = float(lm[27:31, 0].mean())
    face_w = float(np.linalg.norm(lm[16] - lm[0]))
    u = face_w / 10.0                                            # ~ one eye height
    mouth_c = lm[48:68].mean(0)

    def brow(pts: np.ndarray, d: tuple[float, float]) -> LocalWarp:
        half = max(float(np.ptp(pts[:, 0])) / 2, u)
        return LocalWarp(tuple(pts.mean(0)), (half, 0.55 * u), d, 0.8)

    def corner(i: int, out: float, up: float) -> LocalWarp:
        side = 1.0 if lm[i, 0] > mouth_c[0] else -1.0
        n = math.hypot(out, up)
        return LocalWarp(tuple(lm[i]), (0.9 * u, 0.7 * u), (side * out * a / n, -up * a / n), 1.0)

    def inward(pts: np.ndarray) -> float:
        return 1.0 if pts[:, 0].mean() < mid_x else -1.0

    if au == "AU1+2":
        return [brow(brow_r, (0.0, -a)), brow(brow_l, (0.0, -a))]
    if au == "AU4":
        return [brow(brow_r, (0.6 * a * inward(brow_r), 0.8 * a)), brow(brow_l, (0.6 * a * inward(brow_l), 0.8 * a))]
    if au == "AU12":
        return [corner(48, 0.6, 0.8), corner(54, 0.6, 0.8)]      # up more than out: ROI means cancel x
    if au == "AU15":
        return [corner(48, -0.3, -0.95), corner(54, -0.3, -0.95)]
    if au == "AU4+15":
        return au_warps("AU4", lm, amplitude, scale) + au_warps("AU15", lm, amplitude, scale)
    if au == "AU17+24":
        lower_lip = lm[[56, 57, 58, 65, 66, 67]].mean(0)
        chin = (lm[57] + lm[8]) / 2
        return [LocalWarp(tuple(lower_lip), (1.4 * u, 0.5 * u), (0.0, -a), 0.8),
                LocalWarp(tuple(chin), (1.5 * u, 0.8 * u), (0.0, -a), 1.0)]
    if au == "AU9":
        return [LocalWarp(tuple(lm[i] + [0.0, -0.2 * u]), (0.5 * u, 0.5 * u),
                          (0.29 * a * inward(lm[i:i + 1]), -0.957 * a), 0.8) for i in (31, 35)]
    raise ValueError(f"unknown AU {au!r}; known: {', '.join(AU_NAMES)} (blinks: blink_field)")


def blink_field(shape: tuple[int, int], lm: np.ndarray, closure: float, lower_lid: float = 0.0) -> np.ndarray:
    """(h, w, 2) field of both upper lids lowered by ``closure`` (0 open, 1 shut) of the eye opening.

    Per column the lid skin between a crease above the eye and the upper lid stretches down
    to the new lid edge; below it the eye shows unchanged, so the edge occludes like a lid.
    Not a sum of smooth warps: a blink is a strong, sharp distractor. ``lower_lid``: the
    lower lid and the skin below it rise by that fraction of the eye opening at full
    closure (and a third of it towards the nose), as lower lids do in a blink.
    """
    out = np.zeros((*shape, 2), dtype=np.float32)
    if closure <= 0:
        return out
    h, w = shape
    if lower_lid > 0:
        mid_x = float(lm[27:31, 0].mean())
        for lower, eye in (((40, 41), range(36, 42)), ((46, 47), range(42, 48))):
            pts, ring = lm[list(lower)], lm[list(eye)]
            width = float(np.ptp(ring[:, 0]))
            opening = float(np.ptp(ring[:, 1]))
            rise = closure * lower_lid * opening
            inward = 1.0 if pts[:, 0].mean() < mid_x else -1.0
            warp = LocalWarp((float(pts[:, 0].mean()), float(pts[:, 1].mean()) + 0.25 * width),
                             (0.6 * width, 0.3 * width), (inward * rise / 3, -rise), 0.8)
            wgt = warp.weight(shape)
            out[..., 0] += wgt * np.float32(warp.displacement[0])
            out[..., 1] += wgt * np.float32(warp.displacement[1])
    for upper, lower in (((36, 37, 38, 39), (36, 41, 40, 39)), ((42, 43, 44, 45), (42, 47, 46, 45))):
        ux, uy = lm[list(upper), 0], lm[list(upper), 1]
        lx, ly = lm[list(lower), 0], lm[list(lower), 1]
        order_u, order_l = np.argsort(ux), np.argsort(lx)
        x0, x1 = math.ceil(ux.min()), math.floor(ux.max())
        opening = float(np.max(ly) - np.min(uy))
        if x1 <= x0 or opening <= 0:
            continue
        xs = np.arange(max(x0, 0), min(x1 + 1, w))
        yu = np.interp(xs, ux[order_u], uy[order_u])
        yl = np.maximum(np.interp(xs, lx[order_l], ly[order_l]), yu)
        yc = yu - 1.2 * opening                                   # the lid crease
        edge = yu + closure * (yl - yu)
        ys = np.arange(h, dtype=np.float64)[:, None]
        src = yc + (ys - yc) * (yu - yc) / np.maximum(edge - yc, 1e-6)
        inside = (ys >= yc) & (ys <= edge)
        out[:, xs, 1] += np.where(inside, ys - src, 0.0).astype(np.float32)
    return out


def displacement_field(shape: tuple[int, int], warps: list[LocalWarp]) -> np.ndarray:
    """Sum of the warps' fields, (h, w, 2) float32: precomputed once per event, scaled per frame."""
    out = np.zeros((*shape, 2), dtype=np.float32)
    for w in warps:
        wgt = w.weight(shape)
        out[..., 0] += wgt * np.float32(w.displacement[0])
        out[..., 1] += wgt * np.float32(w.displacement[1])
    return out


# ---------------------------------------------------------------------------- timeline
def _span(seconds: tuple[float, float], fps: float, rng: np.random.Generator, min_span: int) -> int:
    """Frames from onset to offset, so that (offset - onset + 1) / fps <= hi and (offset - onset) / fps >= lo."""
    lo = max(math.ceil(seconds[0] * fps - 1e-9), min_span)
    hi = max(math.floor(seconds[1] * fps + 1e-9) - 1, lo)
    return int(rng.integers(lo, hi + 1))


def plan_events(n_frames: int, fps: float, rng: np.random.Generator, config: SynthConfig) -> list[Event]:
    """A non-overlapping timeline of micro, macro and blink events with known frames.

    Events follow each other with gaps of ``min_gap_s`` plus an exponential extra chosen so
    that the rates per minute hold on average; the kind is drawn in proportion to its rate,
    except that the first event is an ME, so every long enough video holds one.
    """
    kinds = {"micro": config.me_per_minute,
             "macro": config.macro_per_minute if config.macros else 0.0,
             "blink": config.blink_per_minute if config.blinks else 0.0}
    total = sum(kinds.values())
    if total <= 0:
        return []
    names = list(kinds)
    p = np.array([kinds[k] for k in names]) / total
    mean_dur = {"micro": np.mean(config.me_seconds), "macro": np.mean(config.macro_seconds),
                "blink": np.mean(config.blink_seconds)}
    mean_cycle = 60.0 / total
    extra = max(mean_cycle - config.min_gap_s - float(sum(p[i] * mean_dur[k] for i, k in enumerate(names))), 0.1)
    gap = max(math.ceil(config.min_gap_s * fps), 1)
    emotions = list(EMOTION_AUS)
    events: list[Event] = []
    t = gap + int(rng.exponential(extra) * fps)            # first onset, after at least one gap
    while True:
        kind = "micro" if not events and config.me_per_minute > 0 else names[int(rng.choice(len(names), p=p))]
        if kind == "micro":
            span = _span(config.me_seconds, fps, rng, 2)
            amp = float(rng.uniform(*config.me_amplitude))
        elif kind == "macro":
            span = _span(config.macro_seconds, fps, rng, 3)
            amp = float(rng.uniform(*config.macro_amplitude))
        else:
            span = _span(config.blink_seconds, fps, rng, 2)
            amp = float(rng.uniform(0.8, 1.0))                # fraction of the eye height
        if kind == "blink":
            au, emotion = BLINK, None
        else:
            emotion = emotions[int(rng.integers(len(emotions)))]
            aus = EMOTION_AUS[emotion]
            au = aus[int(rng.integers(len(aus)))]
        frac = rng.uniform(0.4, 0.6) if kind == "blink" else rng.uniform(0.3, 0.6)
        apex = t + min(max(round(float(frac) * span), 1), span - 1)
        if t + span > n_frames - 1 - gap:
            break
        events.append(Event(kind, t, apex, t + span, au, emotion, amp))
        t = t + span + gap + int(rng.exponential(extra) * fps)
    if config.me_near_macro > 0:
        events = _add_mes_near_macros(events, n_frames, fps, rng, config)
    return events


def _add_mes_near_macros(events: list[Event], n_frames: int, fps: float, rng: np.random.Generator,
                         config: SynthConfig) -> list[Event]:
    """With chance ``me_near_macro`` per macro, an ME in another face region inside it, just before or just after.

    Inside: anywhere the ME fits within the macro. Next to it: 0-0.2 s from its edge, and
    only where it keeps 0.2 s from every other event (else the ME is not added).
    """
    out = list(events)
    near = max(round(0.2 * fps), 1)
    for k, ev in enumerate(events):
        if ev.kind != "macro" or rng.uniform() >= config.me_near_macro:
            continue
        choices = [(emo, au) for emo, aus in EMOTION_AUS.items() for au in aus if not AU_REGIONS[au] & AU_REGIONS[ev.au]]
        emotion, au = choices[int(rng.integers(len(choices)))]
        span = _span(config.me_seconds, fps, rng, 2)
        amp = float(rng.uniform(*config.me_amplitude))
        where = ("inside", "before", "after")[int(rng.integers(3))]
        step = int(rng.integers(0, near + 1))
        if where == "inside":
            if ev.offset - ev.onset <= span:
                continue
            onset = int(rng.integers(ev.onset, ev.offset - span + 1))
        elif where == "before":
            onset = ev.onset - step - span
        else:
            onset = ev.offset + step
        offset = onset + span
        prev_end = events[k - 1].offset if k > 0 else -near
        next_start = events[k + 1].onset if k + 1 < len(events) else n_frames - 1 + near
        if onset < 0 or offset > n_frames - 1 or onset - prev_end < near or next_start - offset < near:
            continue
        apex = onset + min(max(round(float(rng.uniform(0.3, 0.6)) * span), 1), span - 1)
        out.append(Event("micro", onset, apex, offset, au, emotion, amp))
    return sorted(out, key=lambda e: (e.onset, e.offset))


def head_drift(n_frames: int, fps: float, rng: np.random.Generator, peak_px: float, axes: int = 2) -> np.ndarray:
    """Smooth (n_frames, axes) motion: two slow sinusoids per axis, periods 8-30 s, peak ``peak_px``."""
    t = np.arange(n_frames) / fps
    out = np.zeros((n_frames, axes))
    if peak_px <= 0:
        return out
    for axis in range(axes):
        for weight in (0.65, 0.35):
            period, phase = rng.uniform(8.0, 30.0), rng.uniform(0, 2 * np.pi)
            out[:, axis] += weight * peak_px * np.sin(2 * np.pi * t / period + phase)
    return out


# ---------------------------------------------------------------------------- rendering
def render_frames(subject: Subject, events: list[Event], config: SynthConfig, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Yield the video's BGR uint8 frames: event warps (summed where events overlap) + head motion, remapped, plus noise.

    Head roll (``rotation_deg``) turns the image about the landmarks' centre; its rng draws
    come after the drift's and only when it is on, so sets without it are unchanged.
    """
    n, size = config.n_frames, config.size
    shape = (size, size)
    drift = head_drift(n, config.fps, rng, config.drift_px * config.scale)
    roll = head_drift(n, config.fps, rng, config.rotation_deg, axes=1)[:, 0] if config.rotation_deg > 0 else None
    profiles = [expression_profile(n, ev.onset, ev.apex, ev.offset) for ev in events]
    fields: list[np.ndarray | None] = [
        None if ev.au == BLINK else displacement_field(shape, au_warps(ev.au, subject.landmarks, ev.amplitude, config.scale))
        for ev in events]
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    cx, cy = (float(v) for v in subject.landmarks.mean(0))
    base = subject.base_bgr
    for t in range(n):
        if roll is not None:                                 # backward map: rotate output coords by -angle
            c, s = math.cos(math.radians(roll[t])), math.sin(math.radians(roll[t]))
            mx = np.float32(cx) + np.float32(c) * (xx - np.float32(cx)) + np.float32(s) * (yy - np.float32(cy))
            my = np.float32(cy) - np.float32(s) * (xx - np.float32(cx)) + np.float32(c) * (yy - np.float32(cy))
            mx, my = mx - np.float32(drift[t, 0]), my - np.float32(drift[t, 1])
        else:
            mx = xx - np.float32(drift[t, 0])
            my = yy - np.float32(drift[t, 1])
        for i, ev in enumerate(events):
            if profiles[i][t] <= 0:
                continue
            f = fields[i]
            if f is None:                                    # a blink: the lid's shape changes with closure
                f, a = blink_field(shape, subject.landmarks, profiles[i][t] * ev.amplitude, config.blink_lower_lid), 1.0
            else:
                a = profiles[i][t]
            mx = mx - np.float32(a) * f[..., 0]
            my = my - np.float32(a) * f[..., 1]
        img = cv2.remap(base, mx, my, interpolation=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
        if config.noise_sigma > 0:
            noise = rng.normal(0.0, config.noise_sigma, img.shape).astype(np.float32)
            img = np.clip(img.astype(np.float32) + noise + 0.5, 0, 255).astype(np.uint8)
        yield img


#: numpy's CPU feature names -> x264's ``asm`` flag names, every x86 SIMD level below AVX-512.
_X264_FLAGS = (("SSE", "MMX2"), ("SSE", "SSE"), ("SSE2", "SSE2"), ("SSE3", "SSE3"), ("SSSE3", "SSSE3"),
               ("SSE41", "SSE4.1"), ("SSE42", "SSE4.2"), ("LZCNT", "LZCNT"), ("AVX", "AVX"), ("FMA3", "FMA3"),
               ("BMI", "BMI1"), ("BMI2", "BMI2"), ("AVX2", "AVX2"))


def x264_params() -> str:
    """x264 settings that make the encoded frames repeatable from run to run.

    On an AVX-512 machine libx264 (as bundled with PyAV 18) now and then encoded the same
    input differently (single-threaded; 2-4 distinct outputs per 10-60 runs). With its
    assembly limited to AVX2 and below or the macroblock tree off, 50-75 runs (each
    setting alone; 60 with both, as used here) gave one output. Flags come from numpy's CPU
    detection, so no instruction the CPU lacks is ever enabled.
    """
    params = ["mbtree=0"]
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as cpu
    except ImportError:  # numpy < 2
        try:
            from numpy.core._multiarray_umath import __cpu_features__ as cpu  # type: ignore[no-redef]
        except ImportError:
            cpu = {}
    if cpu.get("AVX512F"):
        params.append("asm=" + ",".join(dict.fromkeys(x for n, x in _X264_FLAGS if cpu.get(n))))
    return ":".join(params)


def render_video(path: str | Path, subject: Subject, events: list[Event], config: SynthConfig,
                 rng: np.random.Generator) -> Path:
    """Encode the frames as H.264 (yuv420p, crf ``config.crf``) with PyAV; single-threaded for reproducibility."""
    from metst_engine.video.writer import write_video

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    options = {"crf": str(config.crf), "bf": "2", "g": str(max(round(config.fps), 1)), "threads": "1",
               "x264-params": x264_params()}
    return write_video(path, render_frames(subject, events, config, rng), size=(config.size, config.size),
                       rate=config.fps, options=options)


# ---------------------------------------------------------------------------- the whole set
def generate(out_dir: str | Path, config: SynthConfig | None = None, progress: ProgressFn | None = None) -> Dataset:
    """Write ``OUT_DIR/<subject>/<video>.mp4``, ``manifest.csv`` and ``synth.json``; return the Dataset.

    Subject i draws from ``default_rng([seed, i])`` and its video j from
    ``default_rng([seed, i, j])``, so a set is reproducible and a larger set extends a
    smaller one with the same seed.
    """
    config = config or SynthConfig()
    config.validate()
    out = ensure_dir(out_dir)
    model = DlibLandmarkModel()
    videos: list[VideoEntry] = []
    record: dict[str, object] = {"generator": "metst_engine.synth", "version": __version__,
                                 "face": "skimage.data.astronaut (NASA, public domain), rows 0:320, columns 65:385",
                                 "config": asdict(config), "subjects": [], "videos": []}
    total, done = config.subjects * config.videos_per_subject, 0
    for i in range(config.subjects):
        subject = make_subject(i, np.random.default_rng([config.seed, i]), config.size, model)
        record["subjects"].append({"name": subject.name, "variant": subject.variant,       # type: ignore[union-attr]
                                   "landmarks": np.round(subject.landmarks, 2).tolist()})
        for j in range(config.videos_per_subject):
            rng = np.random.default_rng([config.seed, i, j])
            vid = f"{subject.name}_v{j + 1:02d}"
            events = plan_events(config.n_frames, config.fps, rng, config)
            path = render_video(out / subject.name / f"{vid}.mp4", subject, events, config, rng)
            entry = VideoEntry(subject.name, vid, path, config.fps)
            entry.intervals = [LabelledInterval(subject.name, vid, e.onset, e.apex, e.offset, e.kind, e.emotion,
                                                f"{e.au} {AU_NAMES[e.au]}") for e in events if e.labelled]
            videos.append(entry)
            record["videos"].append({"subject": subject.name, "video": vid, "path": f"{subject.name}/{vid}.mp4",  # type: ignore[union-attr]
                                     "n_frames": config.n_frames, "events": [asdict(e) for e in events]})
            done += 1
            if progress:
                progress(done, total)
    dataset = Dataset("synth", videos)
    write_manifest(dataset, out / "manifest.csv")
    (out / "synth.json").write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return dataset
