"""Player and timeline latencies on a 1080p long-GOP H.264 file (not a test: figures for the notes).

Writes (once, cached under --workdir) a 1920x1080 H.264 video with PyAV: a keyframe every
60 frames and B-frames (OpenCV's pip wheels cannot encode H.264). Then measures, each as
p50 / p95 over random targets:

* plain OpenCV seeks (``CAP_PROP_POS_FRAMES`` + read) and ``VideoSource.frame`` (the baselines);
* cold random seeks in the player, from ``seek()`` to the frame painted on screen: without a
  proxy (exact frame), and with the all-intra proxy (first pixels = proxy preview, then the
  exact frame); the decoded-frame cache is emptied before every seek;
* prefetched frame steps (Right / Left after a pause), ``step()`` to painted;
* timeline playhead updates with 36 curves x 100k points (move + the repaint it causes),
  with the whole video in view, zoomed to 2000 frames, and following playback (page flips).

Goals (issue 6): cold seek p95 <= 50 ms, step <= 16 ms, playhead update <= 5 ms.

    QT_QPA_PLATFORM=offscreen python bench/gui_bench.py [--frames 900] [--seeks 40]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import av
import cv2
import numpy as np
from PySide6 import QtWidgets

from metst_engine.resources_path import resource_path
from metst_engine.rois import load_roi_set
from metst_engine.video import open_video
from metst_engine.video.proxy import build_proxy
from metst_gui.player.frame_provider import FrameProvider
from metst_gui.player.player import Player
from metst_gui.review.timeline import IntervalMark, Timeline

W, H, FPS, GOP, BFRAMES = 1920, 1080, 30, 60, 3


def write_test_video(path: Path, n_frames: int) -> None:
    """A panning face photo with the frame number burnt in, keyframe every 60, 3 B-frames."""
    face = cv2.imread(str(resource_path("faces", "astronaut.jpg")))
    base = cv2.resize(face, (W + 4 * n_frames // 10 + 8, H), interpolation=cv2.INTER_CUBIC)
    noise = np.random.default_rng(0).integers(-6, 7, (H, W, 3), dtype=np.int16)
    tmp = path.with_suffix(".part.mp4")
    with av.open(str(tmp), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.options = {"g": str(GOP), "keyint_min": str(GOP), "sc_threshold": "0", "bf": str(BFRAMES),
                          "preset": "veryfast", "crf": "23"}
        for i in range(n_frames):
            x = (4 * i) // 10
            img = np.clip(base[:, x:x + W].astype(np.int16) + np.roll(noise, i, axis=0), 0, 255).astype(np.uint8)
            cv2.putText(img, f"{i:05d}", (60, 160), cv2.FONT_HERSHEY_SIMPLEX, 4, (255, 255, 255), 8)
            frame = av.VideoFrame.from_ndarray(img, format="bgr24")
            frame.pts, frame.time_base = i, Fraction(1, FPS)
            for pkt in stream.encode(frame):
                out.mux(pkt)
        for pkt in stream.encode():
            out.mux(pkt)
    tmp.replace(path)


def stats(ms: list[float]) -> dict[str, float]:
    a = np.asarray(ms)
    return {"p50": round(float(np.percentile(a, 50)), 2), "p95": round(float(np.percentile(a, 95)), 2),
            "max": round(float(a.max()), 2), "n": len(a)}


def wait_until(app: QtWidgets.QApplication, cond: Callable[[], bool], timeout: float = 10.0) -> None:
    end = time.perf_counter() + timeout
    while not cond():
        if time.perf_counter() > end:
            raise TimeoutError("frame never arrived")
        app.processEvents()
        time.sleep(0.0002)


def opencv_seeks(path: Path, targets: np.ndarray) -> list[float]:
    cap = cv2.VideoCapture(str(path))
    out = []
    for t in targets:
        t0 = time.perf_counter()
        cap.set(cv2.CAP_PROP_POS_FRAMES, int(t))
        ok, _ = cap.read()
        out.append((time.perf_counter() - t0) * 1e3)
        assert ok
    cap.release()
    return out


def video_source_seeks(path: Path, targets: np.ndarray) -> list[float]:
    with open_video(path, cache_size=0) as v:
        out = []
        for t in targets:
            t0 = time.perf_counter()
            v.frame(int(t))
            out.append((time.perf_counter() - t0) * 1e3)
    return out


class PlayerRig:
    """A shown player whose paint is forced synchronously when a frame arrives (so timings include it)."""

    def __init__(self, app: QtWidgets.QApplication, path: Path, proxy: Path | None) -> None:
        self.app = app
        self.video = open_video(path)
        self.provider = FrameProvider(self.video, proxy=proxy if proxy is not None else False)
        self.player = Player(self.video, self.provider)
        self.player.resize(1280, 800)
        self.player.show()
        self.events: list[tuple[int, bool, float]] = []
        self.player.frameShown.connect(self._shown)
        app.processEvents()

    def _shown(self, index: int, exact: bool) -> None:
        self.player.view.repaint()
        self.events.append((index, exact, time.perf_counter()))

    def cold_seek(self, target: int) -> tuple[float, float]:
        """(ms to first pixels, ms to the exact frame) for a seek with an empty frame cache."""
        if target == self.player.index:                   # a seek to where it is does nothing
            self.player.seek((target + self.video.n_frames // 2) % self.video.n_frames)
            self.settle(0.3)
        self.provider.cache.clear()
        self.events.clear()
        t0 = time.perf_counter()
        self.player.seek(target)
        wait_until(self.app, lambda: any(i == target and e for i, e, _ in self.events))
        first = next(t for i, _, t in self.events if i == target)
        exact = next(t for i, e, t in self.events if i == target and e)
        return (first - t0) * 1e3, (exact - t0) * 1e3

    def step(self, frames: int) -> float:
        self.events.clear()
        target = self.player.index + frames
        t0 = time.perf_counter()
        self.player.step(frames)
        wait_until(self.app, lambda: any(i == target and e for i, e, _ in self.events))
        return (self.events[-1][2] - t0) * 1e3

    def settle(self, seconds: float) -> None:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            self.app.processEvents()
            time.sleep(0.002)

    def close(self) -> None:
        self.player.close_provider()
        self.provider.close()
        self.player.close()
        self.video.close()


def player_benchmarks(app: QtWidgets.QApplication, path: Path, proxy: Path | None, targets: np.ndarray,
                      think: float) -> dict[str, object]:
    rig = PlayerRig(app, path, proxy)
    try:
        rig.cold_seek(int(targets[0]))                    # warm-up (threads, first open)
        first, exact = [], []
        for t in targets:
            rig.settle(think)                             # the user's pause between seeks; prefetch runs
            f, e = rig.cold_seek(int(t))
            first.append(f)
            exact.append(e)
        steps_fwd, steps_back = [], []
        for start in targets[:5]:
            rig.cold_seek(int(start))
            rig.settle(1.5)                               # prefetch fills ahead and behind
            steps_fwd += [rig.step(1) for _ in range(10)]
            rig.settle(1.5)
            steps_back += [rig.step(-1) for _ in range(10)]
        return {"cold_seek_first_pixels_ms": stats(first), "cold_seek_exact_ms": stats(exact),
                "step_forward_ms": stats(steps_fwd), "step_back_ms": stats(steps_back)}
    finally:
        rig.close()


def timeline_benchmarks(app: QtWidgets.QApplication, n: int = 100_000) -> dict[str, object]:
    rois = load_roi_set("metst_plus")                     # 18 ROIs -> 36 channels
    rng = np.random.default_rng(0)
    flow = np.cumsum(rng.normal(0, 0.05, (n, rois.n_channels)), axis=0).astype(np.float32)
    tl = Timeline()
    tl.set_length(n, 30.0)
    tl.set_spotting(rng.random(n).astype(np.float32), 0.5)
    tl.set_recognition(rng.dirichlet(np.ones(4), n).astype(np.float32), ["negative", "positive", "surprise", "neutral"])
    tl.set_flow(flow, rois.channel_names, {r.name: r.group for r in rois.rois})
    tl.set_intervals([IntervalMark(i, i + 12, "pending", "pred") for i in range(500, n, 1000)]
                     + [IntervalMark(i + 2, i + 10, "accepted", "gt") for i in range(500, n, 2000)])
    tl.resize(1600, 700)
    tl.show()
    tl.set_follow_playhead(False)
    for _ in range(10):
        app.processEvents()
    out: dict[str, object] = {"curves": len(tl.flow_curves) * 2, "points_per_curve": n}

    def moves(frames: range) -> list[float]:
        ms = []
        for f in frames:
            t0 = time.perf_counter()
            tl.set_playhead(f)
            app.processEvents()                           # the repaint the move causes
            ms.append((time.perf_counter() - t0) * 1e3)
        return ms

    tl.set_x_range(0, n - 1)
    app.processEvents()
    out["playhead_full_view_ms"] = stats(moves(range(5, n, n // 200)))
    tl.set_x_range(40_000, 42_000)
    app.processEvents()
    out["playhead_zoomed_2000_ms"] = stats(moves(range(40_005, 41_995, 10)))
    tl.set_follow_playhead(True)
    tl.set_x_range(10_000, 10_600)
    app.processEvents()
    follow = moves(range(10_000, 13_000, 2))              # playback, the view pages every ~270 moves
    out["playhead_following_playback_ms"] = stats(follow)
    tl.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=900, help="length of the generated video")
    parser.add_argument("--seeks", type=int, default=40)
    parser.add_argument("--think", type=float, default=0.3, help="seconds between seeks (prefetch runs)")
    parser.add_argument("--workdir", type=Path, default=Path(__file__).resolve().parents[1] / "out" / "bench")
    parser.add_argument("--skip-timeline", action="store_true")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])

    video = args.workdir / f"bench_{W}x{H}_gop{GOP}_bf{BFRAMES}_{args.frames}.mp4"
    if not video.is_file():
        t0 = time.perf_counter()
        write_test_video(video, args.frames)
        print(f"wrote {video} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    proxy = video.with_suffix(".proxy.mp4")
    proxy_build_s = None
    if not proxy.is_file():
        with open_video(video) as v:
            t0 = time.perf_counter()
            build_proxy(v, proxy)
            proxy_build_s = time.perf_counter() - t0
    targets = np.random.default_rng(7).integers(0, args.frames, args.seeks)

    results: dict[str, object] = {
        "video": {"path": str(video), "size": f"{W}x{H}", "frames": args.frames, "gop": GOP, "bframes": BFRAMES,
                  "bytes": video.stat().st_size},
        "proxy": {"bytes": proxy.stat().st_size, "build_s": None if proxy_build_s is None else round(proxy_build_s, 1),
                  "build_ms_per_frame": None if proxy_build_s is None else round(proxy_build_s / args.frames * 1e3, 1)},
        "cpu_count": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "opencv_seek_ms": stats(opencv_seeks(video, targets)),
        "video_source_seek_ms": stats(video_source_seeks(video, targets)),
        "player_no_proxy": player_benchmarks(app, video, None, targets, args.think),
        "player_with_proxy": player_benchmarks(app, video, proxy, targets, args.think),
    }
    if not args.skip_timeline:
        results["timeline"] = timeline_benchmarks(app)
    results["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    (args.workdir / "gui_bench.json").write_text(json.dumps(results, indent=1))
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
