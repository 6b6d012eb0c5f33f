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

``--face``: the face proxy instead (exact frames of the face view). Writes (once) a 1920x1080
H.264 video of --face-seconds (default 180 s) with a keyframe every 250 frames, a face photo
moving around on it; builds the face proxy of its stable face crop (build time and size per
minute of video); then cold random exact seeks (--face-seeks, default 200), p50 / p95 in ms,
from the source (``VideoSource.frame`` + crop: the baseline) and from the face proxy, each in
the engine and in the player (seek to the exact frame painted, face view on), and their
ratios. Goal: face view cold seek p95 <= 50 ms.

    QT_QPA_PLATFORM=offscreen python bench/gui_bench.py [--frames 900] [--seeks 40]
    QT_QPA_PLATFORM=offscreen python bench/gui_bench.py --face [--face-seconds 180] [--face-seeks 200]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2
import numpy as np
from PySide6 import QtWidgets

from metst_engine.resources_path import resource_path
from metst_engine.rois import load_roi_set
from metst_engine.video import open_video, video_fingerprint
from metst_engine.video.face_proxy import (
    FaceCrop,
    build_face_proxy,
    face_proxy_path,
    open_face_proxy,
    stable_face_crop,
)
from metst_engine.video.proxy import build_proxy
from metst_engine.video.writer import write_video
from metst_gui.player.frame_cache import bgr_to_qimage
from metst_gui.player.frame_provider import FrameProvider
from metst_gui.player.player import Player
from metst_gui.review.timeline import IntervalMark, Timeline

W, H, FPS, GOP, BFRAMES = 1920, 1080, 30, 60, 3


def write_test_video(path: Path, n_frames: int) -> None:
    """A panning face photo with the frame number burnt in, keyframe every 60, 3 B-frames."""
    face = cv2.imread(str(resource_path("faces", "astronaut.jpg")))
    base = cv2.resize(face, (W + 4 * n_frames // 10 + 8, H), interpolation=cv2.INTER_CUBIC)
    noise = np.random.default_rng(0).integers(-6, 7, (H, W, 3), dtype=np.int16)

    def frames():
        for i in range(n_frames):
            x = (4 * i) // 10
            img = np.clip(base[:, x:x + W].astype(np.int16) + np.roll(noise, i, axis=0), 0, 255).astype(np.uint8)
            cv2.putText(img, f"{i:05d}", (60, 160), cv2.FONT_HERSHEY_SIMPLEX, 4, (255, 255, 255), 8)
            yield img

    write_atomically(path, frames(), {"g": str(GOP), "keyint_min": str(GOP), "sc_threshold": "0",
                                      "bf": str(BFRAMES), "preset": "veryfast", "crf": "23"})


def write_atomically(path: Path, frames, options: dict[str, str]) -> None:
    """W x H frames at FPS written to ``path`` (through a .part file, so an interrupted run leaves none)."""
    tmp = write_video(path.with_suffix(".part.mp4"), frames, size=(W, H), rate=FPS, options=options)
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

    def __init__(self, app: QtWidgets.QApplication, path: Path, proxy: Path | None,
                 face: tuple[FaceCrop, Path | None] | None = None) -> None:
        self.app = app
        self.video = open_video(path)
        self.provider = FrameProvider(self.video, proxy=proxy if proxy is not None else False)
        self.player = Player(self.video, self.provider)
        self.player.resize(1280, 800)
        self.player.show()
        if face is not None:                              # face view: zoomed to the crop, from its proxy if given
            crop, face_proxy = face
            if face_proxy is not None:
                assert self.provider.use_face_proxy(face_proxy)
            self.player.set_face_box(crop.as_tuple())
            self.player.set_zoom_to_face(True)
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


FACE_GOP = 250


def face_position(i: int, n: int) -> tuple[int, int]:
    """Top-left corner of the face photo in frame i: a slow ellipse plus a drift (the head moves)."""
    t = 2 * np.pi * i / 300
    return int(610 + 90 * np.sin(t) + 40 * i / max(n, 1)), int(170 + 50 * np.sin(2 * t))


FACE_SIDE = 700                                           # the photo's side in the frame


def write_face_video(path: Path, n_frames: int) -> None:
    """1080p, keyframe every 250 frames, 2 B-frames: the astronaut photo moving on a blurred copy of itself."""
    photo = cv2.imread(str(resource_path("faces", "astronaut.jpg")))
    face = cv2.resize(photo, (FACE_SIDE, FACE_SIDE), interpolation=cv2.INTER_CUBIC)
    back = cv2.GaussianBlur(cv2.resize(photo, (W, H)), (0, 0), 25)
    noise = np.random.default_rng(0).integers(-4, 5, (H, W, 3), dtype=np.int16)

    def frames():
        for i in range(n_frames):
            img = back.copy()
            x, y = face_position(i, n_frames)
            img[y:y + FACE_SIDE, x:x + FACE_SIDE] = face
            img = np.clip(img + np.roll(noise, 7 * i, axis=1), 0, 255).astype(np.uint8)
            cv2.putText(img, f"{i:05d}", (x + 250, y + 660), cv2.FONT_HERSHEY_SIMPLEX, 2, (255, 255, 255), 4)
            yield img

    write_atomically(path, frames(), {"g": str(FACE_GOP), "keyint_min": str(FACE_GOP), "sc_threshold": "0",
                                      "bf": "2", "preset": "veryfast", "crf": "20"})


def face_boxes(n_frames: int, window: int = 30) -> np.ndarray:
    """What Analyze keeps: one face crop box per window, here from the known motion and the crop box metst's
    face alignment finds in the 700 px photo, (229, 135, 471, 377)."""
    boxes = []
    for i in range(0, n_frames, window):
        x, y = face_position(i, n_frames)
        boxes.append((x + 229, y + 135, x + 471, y + 377))
    return np.asarray(boxes, dtype=np.int64)


def exact_seeks(read: Callable[[int], object], targets: np.ndarray) -> list[float]:
    out = []
    for t in targets:
        t0 = time.perf_counter()
        read(int(t))
        out.append((time.perf_counter() - t0) * 1e3)
    return out


def face_player_seeks(app: QtWidgets.QApplication, video: Path, face: tuple[FaceCrop, Path | None],
                      targets: np.ndarray, think: float) -> dict[str, float]:
    rig = PlayerRig(app, video, None, face)
    try:
        rig.cold_seek(int(targets[0]))                    # warm-up
        exact = []
        for t in targets:
            rig.settle(think)
            exact.append(rig.cold_seek(int(t))[1])
        return stats(exact)
    finally:
        rig.close()


def face_benchmarks(app: QtWidgets.QApplication, args: argparse.Namespace) -> dict[str, object]:
    n = round(args.face_seconds * FPS)
    video = args.workdir / f"face_{W}x{H}_gop{FACE_GOP}_{n}.mp4"
    if not video.is_file():
        t0 = time.perf_counter()
        write_face_video(video, n)
        print(f"wrote {video} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    crop = stable_face_crop(face_boxes(n), (W, H))
    dest = face_proxy_path(video, crop, args.workdir / "proxies")
    with open_video(video) as v:
        t0 = time.perf_counter()
        build_face_proxy(v, crop, dest)
        build_s = time.perf_counter() - t0
    minutes = n / FPS / 60
    targets = np.random.default_rng(7).integers(0, n, args.face_seeks)
    crop_of = (lambda img: np.ascontiguousarray(img[crop.y0:crop.y1, crop.x0:crop.x1]))
    with open_video(video, cache_size=0) as src, \
            open_face_proxy(dest, source_fingerprint=video_fingerprint(video), n_frames=n) as proxy:
        source_ms = stats(exact_seeks(lambda i: bgr_to_qimage(crop_of(src.frame(i))), targets))
        proxy_ms = stats(exact_seeks(lambda i: bgr_to_qimage(proxy.frame(i)), targets))
    player_targets = targets[: args.face_player_seeks]
    player_source = face_player_seeks(app, video, (crop, None), player_targets, args.think)
    player_proxy = face_player_seeks(app, video, (crop, dest), player_targets, args.think)
    return {
        "video": {"path": str(video), "size": f"{W}x{H}", "frames": n, "minutes": round(minutes, 2), "gop": FACE_GOP,
                  "bytes": video.stat().st_size},
        "face_crop": {"box": list(crop.as_tuple()), "size": f"{crop.width}x{crop.height}"},
        "face_proxy": {"build_s": round(build_s, 1), "build_s_per_minute": round(build_s / minutes, 1),
                       "build_ms_per_frame": round(build_s / n * 1e3, 2), "bytes": dest.stat().st_size,
                       "mb_per_minute": round(dest.stat().st_size / 1e6 / minutes, 1)},
        "cold_exact_seek_source_ms": source_ms, "cold_exact_seek_face_proxy_ms": proxy_ms,
        "ratio_p50": round(source_ms["p50"] / proxy_ms["p50"], 1), "ratio_p95": round(source_ms["p95"] / proxy_ms["p95"], 1),
        "player_face_view_cold_seek_source_ms": player_source, "player_face_view_cold_seek_face_proxy_ms": player_proxy,
        "player_ratio_p95": round(player_source["p95"] / player_proxy["p95"], 1),
        "goal_p95_ms": 50, "goal_met": player_proxy["p95"] <= 50,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=900, help="length of the generated video")
    parser.add_argument("--seeks", type=int, default=40)
    parser.add_argument("--think", type=float, default=0.3, help="seconds between seeks (prefetch runs)")
    parser.add_argument("--workdir", type=Path, default=Path(__file__).resolve().parents[1] / "out" / "bench")
    parser.add_argument("--skip-timeline", action="store_true")
    parser.add_argument("--face", action="store_true", help="benchmark the face proxy instead (see above)")
    parser.add_argument("--face-seconds", type=float, default=180.0)
    parser.add_argument("--face-seeks", type=int, default=200, help="engine-level cold seeks")
    parser.add_argument("--face-player-seeks", type=int, default=100, help="cold seeks through the player")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    if args.face:
        results = face_benchmarks(app, args)
        results["cpu_count"] = os.cpu_count()
        results["load_average"] = [round(x, 2) for x in os.getloadavg()]
        (args.workdir / "gui_bench_face.json").write_text(json.dumps(results, indent=1))
        print(json.dumps(results, indent=1))
        return

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
