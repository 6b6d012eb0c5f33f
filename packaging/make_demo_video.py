"""Regenerate resources/demo/demo_face.mp4: a real face photo with known micro-expressions.

The face is scikit-image's astronaut photo (NASA, public domain). Events (frames at 30 fps):
brow raise 60-69 (onset-apex-offset 60, 64, 69), lip-corner pull 150-162, and a slow head
drift throughout. Needs the test extras (scikit-image). Run from the repository root:
    python packaging/make_demo_video.py
"""

from __future__ import annotations

import json
from pathlib import Path

import av
import cv2
import numpy as np
from skimage import data

from metst_engine.face import DlibLandmarkModel, FaceTracker
from metst_engine.synth import LocalWarp, apply_warps, expression_profile

FPS, N = 30, 240
OUT = Path(__file__).resolve().parent.parent / "resources" / "demo"


def main() -> None:
    rgb = data.astronaut()[20:340, 96:416]           # 320 x 320 around the face
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    al = FaceTracker(DlibLandmarkModel()).locate(gray, 0)
    assert al is not None, "no face in the demo photo"
    lm = al.source_landmarks
    brows = [LocalWarp(tuple(lm[17:22].mean(0)), (18, 7), (0, -1.6), 0.8),
             LocalWarp(tuple(lm[22:27].mean(0)), (18, 7), (0, -1.6), 0.8)]
    corners = [LocalWarp(tuple(lm[48]), (7, 6), (-1.2, -0.9), 1.0), LocalWarp(tuple(lm[54]), (7, 6), (1.2, -0.9), 1.0)]
    brow_amp = expression_profile(N, 60, 64, 69)
    smile_amp = expression_profile(N, 150, 155, 162)
    rng = np.random.default_rng(7)
    OUT.mkdir(parents=True, exist_ok=True)
    with av.open(str(OUT / "demo_face.mp4"), "w") as c:
        s = c.add_stream("libx264", rate=FPS)
        s.width, s.height, s.pix_fmt = 320, 320, "yuv420p"
        s.options = {"crf": "18", "bf": "2", "g": "30"}
        for t in range(N):
            drift = (1.5 * np.sin(2 * np.pi * t / 200), 1.0 * np.sin(2 * np.pi * t / 290))
            warps = [(w, brow_amp[t]) for w in brows] + [(w, smile_amp[t]) for w in corners]
            img = apply_warps(bgr, warps, drift).astype(np.float32)
            img = np.clip(img + rng.normal(0, 1.0, img.shape), 0, 255).astype(np.uint8)
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="bgr24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    truth = {"fps": FPS, "n_frames": N, "source": "skimage.data.astronaut (NASA, public domain), cropped [20:340, 96:416]",
             "events": [{"onset": 60, "apex": 64, "offset": 69, "type": "micro", "au": "1+2 (brow raise)", "emotion": "surprise"},
                        {"onset": 150, "apex": 155, "offset": 162, "type": "micro", "au": "12 (lip corner pull)", "emotion": "positive"}]}
    (OUT / "demo_face.json").write_text(json.dumps(truth, indent=1) + "\n")


if __name__ == "__main__":
    main()
