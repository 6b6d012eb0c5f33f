"""Per-channel parity of metst's features with a reference extraction of the same frames.

The reference (e.g. the authors' public ME-TST code, run outside this repository) reads
the grey frames that ``dump-frames`` writes, decoded exactly as metst decodes them, and
saves ``features`` shaped (n_windows, C, k). ``compare`` runs metst's extract_features
on the same video and frames and prints, per channel in metst's order, the Pearson r
over all windows and steps 1..k-1 (step 0 is zero in both) and the ratio of the standard
deviations (metst / reference). It exits 1 if any r is below --min-r.

    python bench/parity.py dump-frames VIDEO OUT.npy [--frames N] [--skip S]
    python bench/parity.py compare VIDEO REF.npz --rois metst [--window 30] [--skip 1]
        [--frames N] [--param key=value ...] [--min-r 0.98] [--workers W]

``--param`` sets any ExtractParams field (``flow.winsize=15`` for a nested one), the
text converted to the type of the field's current value (bool: true/false/1/0/yes/no).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from typing import Any

import numpy as np

from metst_engine.features import ExtractParams, extract_features
from metst_engine.video import open_video


def dump_frames(video_path: str, out: str, n: int | None, skip: int) -> None:
    with open_video(video_path) as video:
        stop = video.n_frames if n is None else min(n, video.n_frames)
        frames = np.stack([g for _, g in video.iter_frames(0, stop, skip, mode="gray")])
    np.save(out, frames)
    print(f"{out}: {frames.shape} {frames.dtype} from {video_path}")


def _coerce(text: str, current: Any) -> Any:
    if isinstance(current, bool):
        low = text.lower()
        if low not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(f"not a boolean: {text!r}")
        return low in ("true", "1", "yes")
    return type(current)(text) if isinstance(current, (int, float, str)) else text


def set_param(obj: Any, key: str, text: str) -> Any:
    """A copy of the dataclass ``obj`` with ``key`` (dotted for nested ones) set from ``text``."""
    name, _, rest = key.partition(".")
    names = {f.name for f in dataclasses.fields(obj)}
    if name not in names:
        raise SystemExit(f"unknown parameter {name!r}; known: {', '.join(sorted(names))}")
    current = getattr(obj, name)
    try:
        value = set_param(current, rest, text) if rest else _coerce(text, current)
    except ValueError as exc:
        raise SystemExit(f"--param {key}={text}: {exc}") from None
    return dataclasses.replace(obj, **{name: value})


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    den = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 0 else float("nan")


def compare(args: argparse.Namespace) -> int:
    params = ExtractParams(rois=args.rois, window=args.window, skip=args.skip)
    for kv in args.param:
        key, sep, text = kv.partition("=")
        if not sep:
            raise SystemExit(f"--param wants key=value, got {kv!r}")
        params = set_param(params, key.strip(), text.strip())
    with np.load(args.reference) as z:
        ref = np.asarray(z["features"], dtype=np.float64)
    t0 = time.perf_counter()
    with open_video(args.video) as video:
        if args.frames is not None:   # extract_features reads n_frames: limit it to the first N frames
            video.n_frames = min(args.frames, video.n_frames)
        fs = extract_features(video, params, workers=args.workers)
    secs = time.perf_counter() - t0
    ours = fs.features.astype(np.float64)
    print(f"metst: {ours.shape} in {secs:.1f} s, face found in {int(fs.face_ok.sum())}/{fs.n_windows} windows; "
          f"reference: {ref.shape}")
    print("params:", ", ".join(f"{k}={v}" for k, v in params.to_dict().items() if k != "flow"))
    if ours.shape[1:] != ref.shape[1:]:
        raise SystemExit(f"shape mismatch: metst (C, k) = {ours.shape[1:]}, reference {ref.shape[1:]}")
    n = min(len(ours), len(ref))
    if len(ours) != len(ref):
        if abs(len(ours) - len(ref)) > 1:
            raise SystemExit(f"window counts differ by more than one: metst {len(ours)}, reference {len(ref)}")
        print(f"note: window counts differ (metst {len(ours)}, reference {len(ref)}); comparing the first {n}")
    rs = []
    print(f"{'channel':<24} {'r':>7} {'std ratio':>9}")
    for c, name in enumerate(fs.channel_names):
        a, b = ours[:n, c, 1:].ravel(), ref[:n, c, 1:].ravel()
        r = pearson(a, b)
        rs.append(r)
        ratio = a.std() / b.std() if b.std() > 0 else float("nan")
        print(f"{name:<24} {r:7.3f} {ratio:9.3f}")
    rv = np.array(rs)
    print(f"min r {np.nanmin(rv) if np.isfinite(rv).any() else float('nan'):.3f}, median r {np.nanmedian(rv):.3f}, "
          f"{int(np.sum(~(rv >= args.min_r)))}/{len(rv)} channels below {args.min_r}")
    return 0 if bool(np.all(rv >= args.min_r)) else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dump-frames", help="save the grey frames (T, H, W) uint8 as metst decodes them")
    d.add_argument("video")
    d.add_argument("out")
    d.add_argument("--frames", type=int, help="only the first N source frames")
    d.add_argument("--skip", type=int, default=1, help="keep every S-th frame (as ExtractParams.skip does)")
    c = sub.add_parser("compare", help="per-channel Pearson r of metst's features against REFERENCE.npz")
    c.add_argument("video")
    c.add_argument("reference", help=".npz with features (n_windows, C, k)")
    c.add_argument("--rois", required=True)
    c.add_argument("--window", type=int, default=30)
    c.add_argument("--skip", type=int, default=1)
    c.add_argument("--frames", type=int, help="only the first N source frames (as dumped)")
    c.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="set an ExtractParams field")
    c.add_argument("--min-r", type=float, default=0.98)
    c.add_argument("--workers", type=int, default=1)
    args = ap.parse_args(argv)
    if args.cmd == "dump-frames":
        dump_frames(args.video, args.out, args.frames, args.skip)
        return 0
    return compare(args)


if __name__ == "__main__":
    sys.exit(main())
