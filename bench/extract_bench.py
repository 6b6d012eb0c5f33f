"""Feature-extraction throughput against plain decoding, measured in the same run.

Makes a 640x480 30-fps H.264 face video (the skimage astronaut face, moving, with a brow
raise), then times: decode only (grey frames, sequential), and extraction with both ROI
sets on 1 thread and on all cores. Prints frames/s, the ratio to decode and the ratio to
real time (30 frames/s). Needs the test extras (scikit-image).

    python bench/extract_bench.py [--frames 300] [--workers N]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np
from skimage import data

from metst_engine.face import DlibLandmarkModel, FaceTracker
from metst_engine.features import ExtractParams, extract_features
from metst_engine.synth import LocalWarp, apply_warps, expression_profile
from metst_engine.video import open_video


def make_video(path: Path, n: int) -> None:
    face = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)[0:360, 80:440]
    canvas = np.full((480, 640, 3), 200, np.uint8)
    canvas[60:420, 140:500] = face
    gray = cv2.cvtColor(canvas, cv2.COLOR_BGR2GRAY)
    al = FaceTracker(DlibLandmarkModel()).locate(gray, 0)
    lm = al.source_landmarks
    brows = [LocalWarp(tuple(lm[17:22].mean(0)), (22, 9), (0, -2.0)), LocalWarp(tuple(lm[22:27].mean(0)), (22, 9), (0, -2.0))]
    amp = expression_profile(n, n // 2, n // 2 + 4, n // 2 + 10)
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt = 640, 480, "yuv420p"
        s.options = {"crf": "20", "bf": "2"}
        for t in range(n):
            img = apply_warps(canvas, [(w, amp[t]) for w in brows], (2 * np.sin(t / 40), np.sin(t / 55)))
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="bgr24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=900)
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    a = ap.parse_args()
    cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "face640.mp4"
        make_video(path, a.frames)

        def decode() -> None:
            with open_video(path) as v:
                for _ in v.iter_frames(mode="gray"):
                    pass

        decode()  # warm the file cache
        t_dec = min(timed(decode) for _ in range(3))
        rows = [("decode only (grey, sequential)", a.frames / t_dec)]

        for rois in ("metst", "metst_plus"):
            for workers in sorted({1, a.workers}):
                def run() -> None:
                    with open_video(path) as v:
                        extract_features(v, ExtractParams(rois=rois, window=50), workers=workers)
                rows.append((f"extract {rois:10s} {workers} process(es)", a.frames / timed(run)))
    dec = rows[0][1]
    print(f"640x480 H.264, {a.frames} frames, k=50, {os.cpu_count()} cores")
    print(f"{'':40s} {'frames/s':>9s} {'/decode':>8s} {'x real time':>12s}")
    for name, fps in rows:
        print(f"{name:40s} {fps:9.1f} {fps / dec:8.3f} {fps / 30:12.2f}")


if __name__ == "__main__":
    main()
