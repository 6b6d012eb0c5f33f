"""ROI sets: which facial regions become feature channels, defined as data files.

A set is a JSON file (``resources/rois/<name>.json``, or any path a user gives, or
``<user data dir>/metst/rois/<name>.json``) listing ROIs by landmark indices, padding,
border trim and pooled top fraction. Flow is computed once per *region* (a box covering
several ROIs) and every ROI is pooled from its region's flow field, so fine ROIs cost
almost nothing on top of the coarse ones.

All geometry is in pixels of the aligned crop (320 x 320 by default).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError
from .face import Box
from .resources_path import resource_path

N_LANDMARKS = 68
_SIDES = ("up", "down", "left", "right")
_TRIM_SIDES = ("top", "bottom", "left", "right")


@dataclass(frozen=True)
class RoiSpec:
    """One ROI: a padded landmark box whose pooled flow becomes an (x, y) channel pair."""

    name: str
    landmarks: tuple[int, ...]
    pad: tuple[int, int, int, int]      #: up, down, left, right (image directions)
    trim: tuple[int, int, int, int]     #: top, bottom, left, right
    top_fraction: float
    region: str
    group: str = ""
    granularity: str = ""
    #: Rows from the landmarks' width w instead of their height: ``[int(c + a w), int(c + b w))``
    #: with c the vertical centre of the landmarks (the public code's lower-eyelid boxes).
    rows_from_width: tuple[float, float] | None = None
    #: Bottom trim used instead when the pooled box would keep fewer than 3 rows (the public
    #: code's rule for its first brow ROI); None: no such rule.
    short_bottom_trim: int | None = None

    def flow_box(self, landmarks: np.ndarray) -> Box:
        """Landmark bounding box plus padding: ``[min x - left, max x + right) x [min y - up, max y + down)``."""
        pts = np.rint(landmarks[list(self.landmarks)]).astype(int)
        up, down, left, right = self.pad
        x0, x1 = int(pts[:, 0].min() - left), int(pts[:, 0].max() + right)
        if self.rows_from_width is not None:
            w = float(pts[:, 0].max() - pts[:, 0].min())
            c = (pts[:, 1].min() + pts[:, 1].max()) / 2.0
            a, b = self.rows_from_width
            return Box(x0, int(c + a * w) - up, x1, int(c + b * w) + down)
        return Box(x0, int(pts[:, 1].min() - up), x1, int(pts[:, 1].max() + down))

    def pool_box(self, landmarks: np.ndarray, bottom: int | None = None) -> Box:
        """The flow box minus its trimmed border: the pixels whose flow is pooled."""
        b = self.flow_box(landmarks)
        top, bottom_trim, left, right = self.trim
        bottom = bottom_trim if bottom is None else bottom
        return Box(b.x0 + left, b.y0 + top, b.x1 - right, b.y1 - bottom)


@dataclass(frozen=True)
class RegionSpec:
    """A box on which flow is computed once; either its own landmarks + pad, or the union of its ROIs + margin."""

    name: str
    landmarks: tuple[int, ...] = ()
    pad: tuple[int, int, int, int] = (0, 0, 0, 0)
    margin: int = 0


@dataclass(frozen=True)
class RoiSet:
    """An ordered list of ROIs plus the nose reference used for head-motion compensation."""

    name: str
    description: str
    rois: tuple[RoiSpec, ...]
    reference: RoiSpec
    regions: dict[str, RegionSpec] = field(default_factory=dict)
    crop_size: int = 320
    source: str = ""

    @property
    def n_channels(self) -> int:
        return 2 * len(self.rois)

    @property
    def roi_names(self) -> list[str]:
        return [r.name for r in self.rois]

    @property
    def channel_names(self) -> list[str]:
        """Per ROI x then y, ROIs in file order (the feature channel order)."""
        return [f"{r.name}_{axis}" for r in self.rois for axis in ("x", "y")]

    def region_names(self) -> list[str]:
        """Regions in first-use order (the reference comes separately)."""
        seen: list[str] = []
        for r in self.rois:
            if r.region not in seen:
                seen.append(r.region)
        return seen

    def region_box(self, region: str, landmarks: np.ndarray) -> Box:
        """Where flow is computed for ``region``, clipped to the crop."""
        spec = self.regions.get(region, RegionSpec(region))
        if spec.landmarks:
            pseudo = RoiSpec(region, spec.landmarks, spec.pad, (0, 0, 0, 0), 1.0, region)
            box = pseudo.flow_box(landmarks)
        else:
            members = [r.flow_box(landmarks) for r in self.rois if r.region == region]
            box = members[0]
            for m in members[1:]:
                box = box.union(m)
            box = Box(box.x0 - spec.margin, box.y0 - spec.margin, box.x1 + spec.margin, box.y1 + spec.margin)
        return box.clipped(self.crop_size, self.crop_size)


def _ints(value: Any, keys: tuple[str, ...], where: str, path: str) -> tuple[int, int, int, int]:
    if isinstance(value, (int, float)):
        return (int(value),) * 4  # type: ignore[return-value]
    if not isinstance(value, dict) or set(value) - set(keys):
        raise InputError(path, f"{where}: expected a number or an object with keys {', '.join(keys)}")
    try:
        return tuple(int(value.get(k, 0)) for k in keys)  # type: ignore[return-value]
    except (TypeError, ValueError):
        raise InputError(path, f"{where}: values must be whole numbers of pixels") from None


def _roi(obj: Any, where: str, path: str, default_region: str | None = None) -> RoiSpec:
    if not isinstance(obj, dict):
        raise InputError(path, f"{where}: expected an object")
    for key in ("name", "landmarks", "top_fraction"):
        if key not in obj:
            raise InputError(path, f"{where}: missing '{key}'")
    name = str(obj["name"])
    lms = obj["landmarks"]
    if not isinstance(lms, list) or not lms or not all(isinstance(i, int) and 0 <= i < N_LANDMARKS for i in lms):
        raise InputError(path, f"{where} ({name}): 'landmarks' must be a non-empty list of indices 0-{N_LANDMARKS - 1}")
    frac = obj["top_fraction"]
    if not isinstance(frac, (int, float)) or not 0 < frac <= 1:
        raise InputError(path, f"{where} ({name}): 'top_fraction' must be in (0, 1]")
    rows = obj.get("rows_from_width")
    if rows is not None and not (isinstance(rows, list) and len(rows) == 2
                                 and all(isinstance(v, (int, float)) for v in rows) and rows[0] < rows[1]):
        raise InputError(path, f"{where} ({name}): 'rows_from_width' must be two increasing numbers [a, b]")
    short = obj.get("short_bottom_trim")
    if short is not None and not (isinstance(short, int) and short >= 0):
        raise InputError(path, f"{where} ({name}): 'short_bottom_trim' must be a whole number of pixels >= 0")
    return RoiSpec(
        name=name, landmarks=tuple(lms),
        pad=_ints(obj.get("pad", 0), _SIDES, f"{where} ({name}) pad", path),
        trim=_ints(obj.get("trim", 0), _TRIM_SIDES, f"{where} ({name}) trim", path),
        top_fraction=float(frac), region=str(obj.get("region", default_region or name)),
        group=str(obj.get("group", "")), granularity=str(obj.get("granularity", "")),
        rows_from_width=None if rows is None else (float(rows[0]), float(rows[1])), short_bottom_trim=short,
    )


def parse_roi_set(data: Any, source: str = "<memory>") -> RoiSet:
    """Validate a decoded ROI-set JSON document; errors name the file and the field."""
    if not isinstance(data, dict):
        raise InputError(source, "an ROI set must be a JSON object")
    for key in ("name", "rois", "reference"):
        if key not in data:
            raise InputError(source, f"missing '{key}'")
    if not isinstance(data["rois"], list) or not data["rois"]:
        raise InputError(source, "'rois' must be a non-empty list")
    rois = tuple(_roi(r, f"rois[{i}]", source) for i, r in enumerate(data["rois"]))
    names = [r.name for r in rois]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputError(source, f"duplicate ROI names: {', '.join(dupes)}")
    reference = _roi(data["reference"], "reference", source, default_region="__reference__")
    regions: dict[str, RegionSpec] = {}
    for rname, spec in (data.get("regions") or {}).items():
        if not isinstance(spec, dict):
            raise InputError(source, f"regions.{rname}: expected an object")
        lms = tuple(spec.get("landmarks", ()))
        if not all(isinstance(i, int) and 0 <= i < N_LANDMARKS for i in lms):
            raise InputError(source, f"regions.{rname}: bad landmark indices")
        regions[rname] = RegionSpec(rname, lms, _ints(spec.get("pad", 0), _SIDES, f"regions.{rname} pad", source),
                                    int(spec.get("margin", 0)))
    crop = int(data.get("crop_size", 320))
    return RoiSet(str(data["name"]), str(data.get("description", "")), rois, reference, regions, crop, source)


def user_roi_dir() -> Path:
    """Where a user's own ROI sets live (``metst extract --rois NAME`` finds them there)."""
    import platformdirs

    return Path(platformdirs.user_data_dir("metst")) / "rois"


def available_roi_sets() -> list[str]:
    """Names of the bundled and user ROI sets."""
    names = {p.name[:-5] for p in resource_path("rois").iterdir() if p.name.endswith(".json")}
    udir = user_roi_dir()
    if udir.is_dir():
        names |= {p.stem for p in udir.glob("*.json")}
    return sorted(names)


def load_roi_set(name_or_path: str | Path) -> RoiSet:
    """Load a set by name (user dir first, then bundled) or from a JSON file path."""
    text: str
    source: str
    p = Path(name_or_path)
    if p.suffix == ".json" or p.exists():
        if not p.is_file():
            raise InputError(p, "ROI set file not found (or not a regular file)")
        try:
            text, source = p.read_text(encoding="utf-8"), str(p)
        except UnicodeDecodeError:
            raise InputError(p, "not a ROI set: not UTF-8 JSON text") from None
    else:
        user = user_roi_dir() / f"{name_or_path}.json"
        bundled = resource_path("rois", f"{name_or_path}.json")
        if user.is_file():
            text, source = user.read_text(encoding="utf-8"), str(user)
        elif bundled.is_file():
            text, source = bundled.read_text(encoding="utf-8"), f"resources/rois/{name_or_path}.json"
        else:
            raise InputError(None, f"unknown ROI set {str(name_or_path)!r}; available: {', '.join(available_roi_sets())}")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(source, f"not valid JSON ({exc})") from None
    return parse_roi_set(data, source)
