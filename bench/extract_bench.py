"""Feature-extraction throughput, every figure a ratio against a baseline measured in the same run.

Makes (or reuses, in --workdir) a 640x480 30-fps H.264 face video (the skimage astronaut
face, moving, with a brow raise; 2 minutes by default), then measures:

1. decode only (grey frames, sequential): the floor of any extraction;
2. where the time of a one-process extraction goes (decode, face detection + landmarks,
   Farneback, pooling, cropping, the rest), on the first --profile-frames frames; the
   Farneback share is the method's own arithmetic, so ``frames / Farneback seconds`` is
   the most any implementation of the method gets from one core;
3. the whole CLI (``metst extract --rois metst_plus --no-cache``, process start included)
   with 1 and with --workers workers: frames/s and the ratio of the two;
4. with ``--reference PATH`` (a copy of the public ME-TST+ ``feature_extraction.py``,
   outside this repository; run by ``--reference-python``, its own venv, in a subprocess):
   the public extraction (method_type 1, the 18 ROIs) on the same decoded frames, against
   metst's one-process and CLI runs, and the largest feature difference;
5. with ``--long-minutes M``: an M-minute interview (the clip repeated by remuxing, no
   re-encode; kept in --workdir) through ``metst predict`` end to end: frames/s, peak
   memory, and with ``--interrupt-after S`` a stop (SIGINT) after S seconds and the
   resumed run.

The machine may be shared: ``uptime`` is printed before and after; compare the ratios,
not the absolute figures, across runs.

    python bench/extract_bench.py [--frames 3600] [--workers 2] [--window 50] [--workdir DIR]
        [--reference /path/feature_extraction.py --reference-python /path/venv/bin/python]
        [--long-minutes 60 [--interrupt-after 120]]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from metst_engine.face import DlibLandmarkModel, FaceTracker
from metst_engine.features import ExtractParams, extract_features
from metst_engine.video import open_video

REAL_TIME = 30.0
#: The profile counts CPU seconds of this process (all its threads), not wall seconds: on a
#: shared machine the wall clock also counts the time other jobs held the cores.
CLOCK = time.process_time


def make_video(path: Path, n: int) -> None:
    """640x480 30-fps H.264: the astronaut face on a grey canvas, drifting, brows raised mid-way."""
    from skimage import data

    from metst_engine.synth import LocalWarp, apply_warps, expression_profile

    face = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)[0:360, 80:440]
    canvas = np.full((480, 640, 3), 200, np.uint8)
    canvas[60:420, 140:500] = face
    gray = cv2.cvtColor(canvas, cv2.COLOR_BGR2GRAY)
    al = FaceTracker(DlibLandmarkModel()).locate(gray, 0)
    assert al is not None
    lm = al.source_landmarks
    brows = [LocalWarp(tuple(lm[17:22].mean(0)), (22, 9), (0, -2.0)), LocalWarp(tuple(lm[22:27].mean(0)), (22, 9), (0, -2.0))]
    amp = expression_profile(n, n // 2, n // 2 + 4, n // 2 + 10)
    tmp = path.with_suffix(".part.mp4")
    with av.open(str(tmp), "w") as c:
        s = c.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt = 640, 480, "yuv420p"
        s.options = {"crf": "20", "bf": "2"}
        for t in range(n):
            img = apply_warps(canvas, [(w, amp[t]) for w in brows], (2 * np.sin(t / 40), np.sin(t / 55)))
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="bgr24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    tmp.replace(path)


def repeat_video(src: Path, dst: Path, repeats: int) -> None:
    """``src`` played ``repeats`` times in one file, by copying its packets with shifted timestamps."""
    tmp = dst.with_suffix(".part.mp4")
    with av.open(str(tmp), "w") as out:
        with av.open(str(src)) as first:
            ins = first.streams.video[0]
            outs = out.add_stream_from_template(ins)
            pts = [p.pts for p in first.demux(ins) if p.size]
            step = (max(pts) - min(pts)) // (len(pts) - 1)
            period = max(pts) - min(pts) + step
        for r in range(repeats):
            with av.open(str(src)) as inp:
                for p in inp.demux(inp.streams.video[0]):
                    if not p.size:
                        continue
                    p.pts, p.dts = p.pts + r * period, p.dts + r * period
                    p.stream = outs
                    out.mux(p)
    tmp.replace(dst)


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "uptime: n/a"


@contextlib.contextmanager
def stopwatches(targets: dict[str, tuple[Any, str]]) -> Iterator[dict[str, float]]:
    """Accumulate the seconds spent in each ``(owner, attribute)`` callable while inside (bench only)."""
    acc = {name: 0.0 for name in targets}
    saved = []
    for name, (owner, attr) in targets.items():
        orig = getattr(owner, attr)
        saved.append((owner, attr, orig))

        def wrapper(*a: Any, _orig: Any = orig, _name: str = name, **k: Any) -> Any:
            t0 = CLOCK()
            try:
                return _orig(*a, **k)
            finally:
                acc[_name] += CLOCK() - t0
        setattr(owner, attr, wrapper)
    try:
        yield acc
    finally:
        for owner, attr, orig in reversed(saved):
            setattr(owner, attr, orig)


def profile_one_process(path: Path, params: ExtractParams, n: int) -> tuple[float, float, dict[str, float]]:
    """Wall and CPU seconds of a one-process extraction of the first n frames, and the CPU split."""
    import metst_engine.features as feat_mod

    model = DlibLandmarkModel()
    with stopwatches({"face detection (frame + crop)": (DlibLandmarkModel, "detect"),
                      "landmarks": (DlibLandmarkModel, "fit"),
                      "Farneback": (feat_mod, "_flow"),
                      "pooling (pool_top)": (feat_mod, "pool_top"),
                      "crop + resize": (feat_mod, "crop_public"),
                      "crop (improved)": (feat_mod, "crop_face")}) as acc:
        acc["decode (+ grey)"] = 0.0
        with open_video(path) as v:
            v.n_frames = min(n, v.n_frames)
            it = v.iter_frames

            def timed_iter(*a: Any, **k: Any) -> Iterator[Any]:   # a generator: time each next()
                gen = it(*a, **k)
                while True:
                    t0 = CLOCK()
                    try:
                        item = next(gen)
                    except StopIteration:
                        return
                    finally:
                        acc["decode (+ grey)"] += CLOCK() - t0
                    yield item
            v.iter_frames = timed_iter     # type: ignore[method-assign]
            c0 = CLOCK()
            wall = timed(lambda: extract_features(v, params, model=model))
            cpu = CLOCK() - c0
    acc["rest (Python, copies, layout)"] = cpu - sum(acc.values())
    return wall, cpu, acc


def cpu_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_cli(args: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall seconds and CPU seconds (the CLI and its worker processes) of one metst command."""
    cmd = [sys.executable, "-c", "import sys; from metst_engine.cli import main; sys.exit(main())", *args]
    c0, t0 = cpu_children(), time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)
    return time.perf_counter() - t0, cpu_children() - c0


REFERENCE_DRIVER = textwrap.dedent('''
    """Run a copy of the public ME-TST+ feature extraction on grey frames (.npy); print its seconds."""
    import sys, time
    import numpy as np
    sys.path.insert(0, sys.argv[1])
    from feature_extraction import feature_extraction_spotting
    frames = np.load(sys.argv[2])
    t0 = time.perf_counter()
    res = feature_extraction_spotting("bench", [frames], int(sys.argv[4]), int(sys.argv[5]))
    secs = time.perf_counter() - t0
    np.save(sys.argv[3], np.stack([np.asarray(w, dtype=np.float64) for w in res[0]]).astype(np.float32))
    print("SECONDS", secs)
''')


def run_reference(reference: Path, python: str, frames_npy: Path, out_npy: Path, window: int, workdir: Path) -> float:
    """Seconds of the public extraction (method_type 1) on the frames, in its own interpreter."""
    from metst_engine.face import _face_models_dir

    cwd = workdir / "reference_cwd"
    (cwd / "Utils").mkdir(parents=True, exist_ok=True)
    dat = cwd / "Utils" / "shape_predictor_68_face_landmarks.dat"   # the public code loads it from the CWD
    if not dat.exists():
        dat.symlink_to(_face_models_dir() / "shape_predictor_68_face_landmarks.dat")
    driver = workdir / "reference_driver.py"
    driver.write_text(REFERENCE_DRIVER)
    done = subprocess.run([python, str(driver), str(reference.resolve().parent), str(frames_npy), str(out_npy),
                           str(window), "1"], cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"reference run failed:\n{done.stderr[-2000:]}")
    return float(next(line.split()[1] for line in done.stdout.splitlines() if line.startswith("SECONDS")))


def long_run(base: Path, minutes: float, workdir: Path, workers: int, window: int, interrupt: float | None) -> list[str]:
    """``metst predict`` on the clip, then on the clip repeated to ``minutes`` (stopped and resumed
    with ``interrupt``): time, frames/s, the largest process (memory must not grow with the video)."""
    with open_video(base) as v:
        n_base, fps = v.n_frames, v.fps
    repeats = max(1, round(minutes * 60 * fps / n_base))
    long = workdir / f"interview_{repeats * n_base}f.mp4"
    if not long.exists():
        t = timed(lambda: repeat_video(base, long, repeats))
        print(f"made {long} ({repeats} x {n_base} frames) in {t:.0f} s", flush=True)
    with open_video(long) as v:
        n = v.n_frames
    cache = workdir / "long_cache"

    def predict(video: Path, stop_after: float | None = None) -> tuple[float, int, str]:
        env = dict(os.environ, METST_PROGRESS="1", METST_CACHE_DIR=str(cache))   # predict's feature cache
        cmd = [sys.executable, "-c", "import sys; from metst_engine.cli import main; sys.exit(main())", "predict",
               str(video), "-o", str(workdir / "long.csv"), "--rois", "metst_plus", "--window", str(window)]
        log = workdir / "predict_stderr.txt"    # a file, not a pipe: an unread pipe would stall the progress bar
        t0 = time.perf_counter()
        with open(log, "w") as fh:
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=fh, text=True, env=env)
            try:
                proc.wait(timeout=stop_after)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGINT)
                proc.wait()
        return time.perf_counter() - t0, proc.returncode, log.read_text(errors="replace")

    def peak_mb() -> float:
        return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    shutil.rmtree(cache, ignore_errors=True)
    rows = []
    secs, rc, err = predict(base)
    if rc:
        raise SystemExit(f"metst predict failed:\n{err[-2000:]}")
    rows.append(f"{n_base} frames ({n_base / fps / 60:.0f} min) through metst predict --rois metst_plus: {secs:.0f} s "
                f"= {n_base / secs:.1f} frames/s; largest process so far {peak_mb():.0f} MB")
    first = 0.0
    if interrupt:
        first, rc, err = predict(long, interrupt)
        kept = sum(1 for _ in cache.rglob("*.parts/*.npz"))
        rows.append(f"{n / fps / 60:.0f}-min interview stopped by SIGINT after {first:.0f} s: exit code {rc}, {kept} "
                    f"chunks kept; it said: {err.strip().splitlines()[-1] if err.strip() else ''}")
    secs, rc, err = predict(long)
    if rc:
        raise SystemExit(f"metst predict failed:\n{err[-2000:]}")
    bars = [line.strip() for line in err.replace("\r", "\n").splitlines() if "windows" in line and "<" in line]
    rows.append(f"{n} frames ({n / fps / 60:.0f} min) through metst predict --rois metst_plus, {workers} cores"
                f"{' (resumed)' if interrupt else ''}: {secs:.0f} s, {first + secs:.0f} s in all = "
                f"{n / (first + secs):.1f} frames/s = {n / (first + secs) / REAL_TIME:.2f} x real time; "
                f"largest process {peak_mb():.0f} MB")
    if bars:
        rows.append(f"progress bar at first and half-way: {bars[0]}  |  {bars[len(bars) // 2]}")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--frames", type=int, default=3600, help="length of the test video (default 2 minutes)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--window", type=int, default=50)
    ap.add_argument("--profile-frames", type=int, default=600)
    ap.add_argument("--workdir", default=None, help="keep the generated videos here (default: a temporary folder)")
    ap.add_argument("--reference", type=Path, default=None, help="a copy of the public feature_extraction.py")
    ap.add_argument("--reference-python", default=None, help="the interpreter (venv) that runs --reference")
    ap.add_argument("--reference-frames", type=int, default=900, help="frames for the reference comparison")
    ap.add_argument("--long-minutes", type=float, default=None, help="also run an interview of this length end to end")
    ap.add_argument("--interrupt-after", type=float, default=None, help="stop the long run after this many seconds, "
                                                                        "then resume it")
    ap.add_argument("--long-only", action="store_true", help="with --long-minutes: skip the 2-minute measures")
    a = ap.parse_args()
    if a.reference and not a.reference_python:
        raise SystemExit("--reference needs --reference-python (the venv that has its dependencies)")
    cv2.setNumThreads(1)
    with contextlib.ExitStack() as stack:
        workdir = Path(a.workdir) if a.workdir else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        workdir.mkdir(parents=True, exist_ok=True)
        video = workdir / f"face640_{a.frames}f.mp4"
        if not video.exists():
            print(f"making {video} ...", flush=True)
            make_video(video, a.frames)
        if a.long_only and a.long_minutes:
            print(f"long video ({a.long_minutes:g} min):  before: {uptime()}", flush=True)
            for row in long_run(video, a.long_minutes, workdir, a.workers, a.window, a.interrupt_after):
                print("  " + row)
            print(f"  after: {uptime()}")
            return
        print(f"before: {uptime()}", flush=True)
        params = ExtractParams(rois="metst_plus", window=a.window)

        def decode() -> None:
            with open_video(video) as v:
                for _ in v.iter_frames(mode="gray"):
                    pass
        decode()  # warm the file cache
        dec = a.frames / min(timed(decode) for _ in range(2))

        n_prof = min(a.profile_frames, a.frames)
        wall_prof, total, split = profile_one_process(video, params, n_prof)
        farneback_floor = n_prof / split["Farneback"]

        cli: dict[int, float] = {}
        cpu: dict[int, float] = {}
        for w in sorted({1, a.workers}):
            wall, cpu_s = run_cli(["extract", str(video), "-o", str(workdir / "out.npz"), "--rois", "metst_plus",
                                   "--window", str(a.window), "--no-cache", "--workers", str(w)])
            cli[w], cpu[w] = a.frames / wall, cpu_s
        print(f"after:  {uptime()}\n")

        print(f"640x480 H.264 30 fps, metst_plus (18 ROIs, 6 fields + nose), k={a.window}, {os.cpu_count()} cores")
        print(f"{'wall clock (what this run got of the machine)':52s} {'frames/s':>9s} {'ratio':>7s}  baseline")
        print(f"{'decode only (grey, sequential)':52s} {dec:9.1f} {1:7.3f}  itself")
        print(f"{f'one-process extraction ({n_prof} frames, profiled)':52s} {n_prof / wall_prof:9.1f} "
              f"{n_prof / wall_prof / dec:7.3f}  decode only")
        for w, fps in cli.items():
            print(f"{f'metst extract (whole CLI), {w} worker(s)':52s} {fps:9.1f} {fps / cli[1]:7.3f}  CLI, 1 worker")
            print(f"{'':52s} {'':9s} {fps / REAL_TIME:7.3f}  real time (30 frames/s)")
            print(f"{'':52s} {'':9s} {cpu[w] * fps / a.frames:7.3f}  cores it got (CPU s / wall s; "
                  f"{w} if the machine were free)")
        print(f"\n{'CPU time (the same runs, independent of the load)':52s} {'ms/frame':>9s} {'ratio':>7s}  baseline")
        print(f"{'Farneback alone (the method arithmetic)':52s} {1000 / farneback_floor:9.2f} {1:7.3f}  itself")
        print(f"{'one-process extraction (profiled)':52s} {1000 * total / n_prof:9.2f} "
              f"{total / n_prof * farneback_floor:7.3f}  Farneback alone")
        for w in cli:
            print(f"{f'metst extract (whole CLI), {w} worker(s)':52s} {1000 * cpu[w] / a.frames:9.2f} "
                  f"{cpu[w] / a.frames * farneback_floor:7.3f}  Farneback alone; {cpu[w] / cpu[1]:.3f} x CPU of 1 worker")
        for w in cli:
            free = w * a.frames / cpu[w]
            print(f"  -> on {w} free core(s) the CLI would run at about {free:.0f} frames/s "
                  f"({free / REAL_TIME:.1f} x real time): {w} x frames / CPU s, assuming the walkers overlap fully")
        print(f"\nwhere one process spends its CPU time ({n_prof} frames, {total:.1f} CPU s, {wall_prof:.1f} wall s):")
        for name, secs in sorted(split.items(), key=lambda kv: -kv[1]):
            if secs > 0:
                print(f"  {name:34s} {secs:7.2f} s {secs / total:6.1%}  {1000 * secs / n_prof:6.2f} ms/frame")

        if a.reference:
            nref = min(a.reference_frames, a.frames)
            with open_video(video) as v:
                frames = np.stack([g for _, g in v.iter_frames(0, nref, mode="gray")])
            np.save(workdir / "reference_frames.npy", frames)
            ref_secs = run_reference(a.reference, a.reference_python, workdir / "reference_frames.npy",
                                     workdir / "reference_features.npy", a.window, workdir)
            with open_video(video) as v:
                v.n_frames = nref
                t0 = time.perf_counter()
                ours = extract_features(v, params)
                ours_secs = time.perf_counter() - t0
            ref = np.load(workdir / "reference_features.npy")
            n = min(len(ref), ours.n_windows)
            diff = float(np.abs(ref[:n] - ours.features[:n]).max())
            pub = nref / ref_secs
            print(f"\npublic ME-TST+ extraction (method_type 1), {nref} frames, one process: {pub:.1f} frames/s")
            print(f"  metst one process, same frames:   {nref / ours_secs:7.1f} frames/s = {nref / ours_secs / pub:.2f} x public")
            for w, fps in cli.items():
                print(f"  metst extract CLI, {w} worker(s):    {fps:7.1f} frames/s = {fps / pub:.2f} x public")
            print(f"  largest |metst - public| over {n} windows x 36 channels x {a.window} steps: {diff:.2e} crop px")

        if a.long_minutes:
            print(f"\nlong video ({a.long_minutes:g} min):  before: {uptime()}", flush=True)
            for row in long_run(video, a.long_minutes, workdir, a.workers, a.window, a.interrupt_after):
                print("  " + row)
            print(f"  after: {uptime()}")


if __name__ == "__main__":
    main()
