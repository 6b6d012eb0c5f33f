"""Dataset extraction throughput on a local Ray with 1 and with 2 workers, and their ratio.

Makes a small synthetic dataset (equal-length videos, so 2 workers can share it evenly),
then for each worker count starts a local Ray with that many CPUs, warms its workers up
(imports, so start-up is not timed) and times the dataset's extraction tasks on the Ray
executor (one task per video, one CPU each, threads pinned to it; no cache). Prints
frames/s for each and the ratio (goal >= 1.7 on 2 cores), how many cores a task used (at
most 1: the pinning works) and what share of its cores the run got (less when other work
loads the machine). Worker counts alternate over the repeats so a busy machine hurts both
alike; the best of each is reported.

    python bench/ray_scale.py [--videos 4] [--seconds 12] [--repeats 2] [--rois metst]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import ray

from metst_engine.executors import RayExecutor, Task
from metst_engine.extraction import VideoItem, discover_videos, extract_item
from metst_engine.features import ExtractParams
from metst_engine.synth import SynthConfig, generate


def _warm(seconds: float) -> int:
    """Import what extraction needs, then hold the worker so that every worker gets one."""
    import metst_engine.extraction  # noqa: F401
    from metst_engine.executors import pin_threads

    pin_threads(1)
    time.sleep(seconds)
    return os.getpid()


def timed_extract(item: VideoItem, params: ExtractParams) -> tuple[int, float, float]:
    """A worker's task: extract one video; (frames, CPU seconds of this process, wall seconds)."""
    cpu0, wall0 = time.process_time(), time.perf_counter()
    feats = extract_item(item, params, False, None, False)
    return feats.n_frames, time.process_time() - cpu0, time.perf_counter() - wall0


def time_extraction(workers: int, data: Path, params: ExtractParams) -> dict[str, float]:
    """Extract every video of ``data`` on a local Ray with ``workers`` CPUs, one task (1 CPU) per video.

    Returns frames/s, each task's CPU use (CPU s / wall s: at most 1 when its threads are
    pinned) and the share of ``workers`` cores the tasks got (below 1 when others load the machine).
    """
    ray.init(num_cpus=workers, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    try:
        warm = ray.remote(num_cpus=1)(_warm)
        pids = set(ray.get([warm.remote(1.0) for _ in range(workers)]))
        assert len(pids) == workers, f"warm-up reached {len(pids)} of {workers} workers"
        items = discover_videos(data)
        executor = RayExecutor()
        t0 = time.perf_counter()
        outcomes = list(executor.run([Task(it.video_id, timed_extract, (it, params)) for it in items]))
        seconds = time.perf_counter() - t0
        failed = [o for o in outcomes if not o.ok]
        assert not failed, failed
        frames = sum(o.value[0] for o in outcomes)
        cpu = sum(o.value[1] for o in outcomes)
        return {"fps": frames / seconds, "frames": frames, "seconds": seconds,
                "task_cpu_use": max(o.value[1] / o.value[2] for o in outcomes), "core_share": cpu / (seconds * workers)}
    finally:
        ray.shutdown()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=int, default=4, help="videos (one per subject), all of the same length")
    ap.add_argument("--seconds", type=float, default=12.0, help="length of each video (30 fps, 320 x 320)")
    ap.add_argument("--repeats", type=int, default=2, help="timings per worker count (best is reported)")
    ap.add_argument("--rois", default="metst")
    a = ap.parse_args()
    params = ExtractParams(rois=a.rois, window=30)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "synth"
        generate(data, SynthConfig(subjects=a.videos, videos_per_subject=1, seconds=a.seconds, seed=0))
        best: dict[int, dict[str, float]] = {}
        for rep in range(a.repeats):
            for workers in (1, 2):
                r = time_extraction(workers, data, params)
                print(f"  repeat {rep + 1}: {workers} Ray worker(s): {r['frames']:.0f} frames in {r['seconds']:6.2f} s = "
                      f"{r['fps']:6.1f} frames/s; busiest task used {r['task_cpu_use']:.2f} cores; the tasks got "
                      f"{r['core_share']:.0%} of {workers} core(s)", flush=True)
                if r["fps"] > best.get(workers, {}).get("fps", 0.0):
                    best[workers] = r
    print(f"{a.videos} synthetic videos x {a.seconds:g} s (320 x 320, 30 fps), ROIs {a.rois}, k 30, "
          f"{os.cpu_count()} cores, Ray {ray.__version__}")
    print(f"machine load (1-min average) {load_before:.1f} before, {os.getloadavg()[0]:.1f} after: other work on "
          f"the cores lowers the ratio")
    print(f"1 Ray worker : {best[1]['fps']:7.1f} frames/s")
    print(f"2 Ray workers: {best[2]['fps']:7.1f} frames/s")
    print(f"ratio        : {best[2]['fps'] / best[1]['fps']:7.2f} x (goal >= 1.7)")


if __name__ == "__main__":
    main()
