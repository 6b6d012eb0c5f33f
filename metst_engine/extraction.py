"""Feature extraction for a video or a whole dataset folder, with the cache and worker pools.

The one place the CLI, the GUI and training call to turn videos into features.
A single video uses a pool over its windows; a dataset is one task per video, run by an
executor (a process pool of one process per core by default, or Ray), each task on one
thread (workers must not fight over cores), its features written by the calling process.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

from .atomic import ensure_dir
from .cache import cached_features, parts_dir
from .executors import Executor, Task, describe_error
from .face import LandmarkModel, default_landmark_model
from .feature_runner import ChunkStore, ExtractionPool, FeatureChunk
from .features import CancelFn, ExtractParams, FeatureSet, ProgressFn, extract_features
from .safe_paths import id_path
from .video import IMAGE_EXTENSIONS, VideoSource, open_video

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm", ".mpg", ".mpeg", ".wmv")


def extract_video(path: str | Path, params: ExtractParams, *, fps: float | None = None, fill_gaps: bool = False,
                  use_cache: bool = True, cache_dir: str | Path | None = None, workers: int = 1,
                  model: LandmarkModel | None = None, progress: ProgressFn | None = None,
                  cancel: CancelFn | None = None, pool: ExtractionPool | None = None,
                  on_chunk: Callable[[FeatureChunk], None] | None = None,
                  video: VideoSource | None = None) -> FeatureSet:
    """Features of one video file or frame folder, from the cache when they are there.

    With the cache, every finished chunk is kept too (``cache.parts_dir``), so a run that
    is cancelled or killed resumes where it stopped; the chunks go once the whole file is
    written. ``pool`` (an ``ExtractionPool``, kept across videos) or ``workers`` > 1 run
    the windows in worker processes; ``on_chunk`` gets the features chunk by chunk in
    video order while the rest is computed (all at once on a cache hit). ``video``: ``path``
    already open (the caller keeps and closes it), so that it is not opened a second time.
    """
    params.validate()
    cache_file = None
    if use_cache:
        cache_file, hit = cached_features(path, params, cache_dir)
        if hit is not None:
            if progress:
                progress(hit.n_windows, hit.n_windows)
            if on_chunk:
                on_chunk(FeatureChunk(0, hit.n_windows, hit.n_windows, hit.n_frames, hit))
            return hit
    store = ChunkStore(parts_dir(cache_file)) if cache_file is not None else None
    with nullcontext(video) if video is not None else open_video(path, fps=fps, fill_gaps=fill_gaps) as source:
        feats = extract_features(source, params, model=model, progress=progress, cancel=cancel, workers=workers,
                                 pool=pool, store=store, on_chunk=on_chunk)
    if cache_file is not None and store is not None:
        feats.save(cache_file)
        store.clear()
    return feats


@dataclass(frozen=True)
class VideoItem:
    """One video of a dataset: its id (the key in every file metst writes) and where it is."""

    video_id: str
    path: Path
    fps: float | None = None


def _is_frame_folder(d: Path) -> bool:
    return any(e.is_file() and os.path.splitext(e.name)[1].lower() in IMAGE_EXTENSIONS for e in os.scandir(d))


def discover_videos(root: str | Path) -> list[VideoItem]:
    """Every video file and every folder of frames below ``root``, ids from their relative paths.

    ``a/b/clip.mp4`` gets the id ``a_b_clip``; a frame folder ``spNO.1/a/color`` gets
    ``spNO.1_a_color``. Hidden files and folders are skipped.
    """
    root = Path(root)
    items: list[VideoItem] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        here = Path(dirpath)
        if here != root and _is_frame_folder(here):
            items.append(VideoItem(_video_id(here.relative_to(root)), here))
            dirnames[:] = []
            continue
        for name in sorted(filenames):
            if not name.startswith(".") and name.lower().endswith(VIDEO_EXTENSIONS):
                items.append(VideoItem(_video_id((here / name).relative_to(root).with_suffix("")), here / name))
    return items


def _video_id(rel: Path) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", "_".join(rel.parts))


@dataclass(frozen=True)
class DatasetResult:
    """What happened to one video of a dataset run."""

    video_id: str
    output: Path | None
    n_windows: int = 0
    error: str | None = None


def extract_item(item: VideoItem, params: ExtractParams, use_cache: bool, cache_dir: str | None,
                 fill_gaps: bool) -> FeatureSet:
    """One dataset video's features: a task, run wherever the executor puts it (one thread)."""
    return extract_video(item.path, params, fps=item.fps, fill_gaps=fill_gaps, use_cache=use_cache,
                         cache_dir=cache_dir, workers=1)


def extract_dataset(items: list[VideoItem], params: ExtractParams, out_dir: str | Path, *, processes: int | None = None,
                    use_cache: bool = True, cache_dir: str | Path | None = None, fill_gaps: bool = False,
                    on_done: Callable[[DatasetResult], None] | None = None,
                    executor: Executor | None = None) -> list[DatasetResult]:
    """Extract every video into ``out_dir/<video_id>.npz``, one task per video.

    ``executor`` runs the tasks, one per video (e.g. Ray); without one, the videos go one after
    another through one :class:`ExtractionPool` of ``processes`` walkers (default: one per
    core) that keeps each walker's landmark model for the whole dataset. This process writes
    every output file, so only it needs to reach ``out_dir``.
    A video that fails is reported (by id and message) and the others go on.
    """
    params.validate()
    out_dir = ensure_dir(out_dir)
    cdir = None if cache_dir is None else str(cache_dir)
    if executor is None:
        results = _extract_with_pool(items, params, out_dir, processes or os.cpu_count() or 1, use_cache, cdir,
                                     fill_gaps, on_done)
    else:
        results = _extract_with_executor(items, params, out_dir, executor, use_cache, cdir, fill_gaps, on_done)
    order = {it.video_id: i for i, it in enumerate(items)}
    return sorted(results, key=lambda r: order[r.video_id])


def _save_result(out_dir: Path, video_id: str, feats: FeatureSet) -> DatasetResult:
    return DatasetResult(video_id, feats.save(id_path(out_dir, video_id, ".npz", what="video id")), feats.n_windows)


def _extract_with_pool(items: list[VideoItem], params: ExtractParams, out_dir: Path, workers: int, use_cache: bool,
                       cache_dir: str | None, fill_gaps: bool,
                       on_done: Callable[[DatasetResult], None] | None) -> list[DatasetResult]:
    """On this machine: one :class:`ExtractionPool` for the whole dataset, so each walker loads its
    landmark model once (about a second) and every video is split over all cores, one after another."""
    results: list[DatasetResult] = []
    with ExtractionPool(workers) if workers > 1 else nullcontext() as pool:
        model = None
        for it in items:
            try:
                if pool is None and model is None:
                    model = default_landmark_model()
                feats = extract_video(it.path, params, fps=it.fps, fill_gaps=fill_gaps, use_cache=use_cache,
                                      cache_dir=cache_dir, pool=pool, model=model)
                res = _save_result(out_dir, it.video_id, feats)
            except Exception as exc:  # noqa: BLE001 - as an executor does: this video is reported, the others go on
                res = DatasetResult(it.video_id, None, error=describe_error(exc))
            results.append(res)
            if on_done:
                on_done(res)
    return results


def _extract_with_executor(items: list[VideoItem], params: ExtractParams, out_dir: Path, executor: Executor,
                           use_cache: bool, cache_dir: str | None, fill_gaps: bool,
                           on_done: Callable[[DatasetResult], None] | None) -> list[DatasetResult]:
    """On an executor (e.g. Ray): one task per video, wherever the executor puts it."""
    tasks = [Task(it.video_id, extract_item, (it, params, use_cache, cache_dir, fill_gaps)) for it in items]
    results: list[DatasetResult] = []
    for outcome in executor.run(tasks):
        res = (_save_result(out_dir, outcome.name, outcome.value) if outcome.ok
               else DatasetResult(outcome.name, None, error=outcome.error))
        results.append(res)
        if on_done:
            on_done(res)
    return results
