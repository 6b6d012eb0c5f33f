"""Analyze videos: features, then a spotter's intervals and curves, for ``metst predict`` or into a project.

:func:`spot_video` turns one video into a :class:`~metst_engine.spotting.SpottingResult`
(features from the cache or extracted, with progress, cancel and provisional partial
results); :func:`analyze_into_project` does it for videos of a project and imports the
intervals (one prediction run) and the curves straight into its store. That is two halves,
public for callers that run them on different threads (a project's database belongs to the
thread that opened it): :func:`analyze_videos` (no project; the GUI's worker thread) and
:func:`import_analysis` (the project's thread). Cancel raises ``Cancelled`` and imports nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import Cancelled
from .features import CancelFn, ProgressFn
from .intervals import Interval
from .model_catalog import DEFAULT_SPOTTER, SPOTTER_CATALOG
from .safe_paths import check_id
from .spotting import Spotter, SpottingResult

if TYPE_CHECKING:
    from .feature_runner import ExtractionPool, FeatureChunk
    from .project import Project
    from .project.records import ImportResult, VideoRecord

#: The model-free spotters (``metst predict --spotter``): per-region evidence in noise units
#: (:mod:`.baseline`, the default) and the earlier raw-magnitude one (:mod:`.baseline_legacy`).
EVIDENCE, LEGACY = "evidence", "legacy"
SPOTTERS = (EVIDENCE, LEGACY)
#: The model-free spotters' features (their one home is the model catalog).
SPOTTER_ALIGNMENT = SPOTTER_CATALOG[DEFAULT_SPOTTER].alignment
SPOTTER_ROIS = SPOTTER_CATALOG[DEFAULT_SPOTTER].rois
LEGACY_ROIS = SPOTTER_CATALOG[LEGACY].rois


@dataclass(frozen=True)
class PartialSpotting:
    """Intervals in the first ``upto_frame`` source frames, found while the rest of the video
    is still computed. Provisional: the spotting threshold is relative to the video seen
    so far, so the final intervals of these frames can differ."""

    upto_frame: int
    n_frames: int
    intervals: list[Interval]


PartialFn = Callable[[PartialSpotting], None]


def spot_video(path: str | Path, spotter: Spotter, *, fps: float | None = None, fill_gaps: bool = False,
               use_cache: bool = True, cache_dir: str | Path | None = None, workers: int = 1,
               progress: ProgressFn | None = None, cancel: CancelFn | None = None,
               pool: ExtractionPool | None = None, on_partial: PartialFn | None = None) -> SpottingResult:
    """Extract the features ``spotter`` asks for and spot them, writing nothing but the feature cache.

    The video is opened once (and only when the spotter needs its fps before the cache is
    looked at: a checkpoint fits the frame skip to it). ``pool``: an ``ExtractionPool`` kept
    across videos (else ``workers`` processes for this one). ``on_partial`` gets provisional
    intervals of the first minutes while the rest is computed: after every chunk of windows
    (model-free) or each time the part seen has doubled (a checkpoint: the partial runs cost
    at most one more run). Raises ``Cancelled`` when ``cancel()`` turns true.
    """
    from .extraction import extract_video
    from .video import open_video

    seen = [0]

    def on_chunk(chunk: FeatureChunk) -> None:
        if on_partial is not None and (spotter.partial_every_chunk or chunk.w1 >= 2 * seen[0]
                                       or chunk.w1 == chunk.n_windows):
            seen[0] = chunk.w1
            on_partial(PartialSpotting(chunk.so_far.n_frames, chunk.n_frames, spotter.spot(chunk.so_far).intervals))

    with ExitStack() as stack:
        video = stack.enter_context(open_video(path, fps=fps, fill_gaps=fill_gaps)) if spotter.needs_fps else None
        params = spotter.extract_params(None if video is None else video.fps)
        feats = extract_video(path, params, fps=fps, fill_gaps=fill_gaps, use_cache=use_cache, cache_dir=cache_dir,
                              workers=workers, progress=progress, cancel=cancel, pool=pool, video=video,
                              on_chunk=on_chunk if on_partial is not None else None)
    _raise_if_cancelled(cancel)
    return spotter.spot(feats)


@dataclass(frozen=True)
class AnalyzeJob:
    """A video to analyze: its id (the name in the project), subject and file."""

    video: str
    subject: str
    path: Path

    @classmethod
    def of(cls, record: VideoRecord) -> AnalyzeJob:
        return cls(record.name, record.subject, Path(record.path))


@dataclass(frozen=True)
class AnalyzeProgress:
    """Video ``index`` of ``count``: ``done`` of ``total`` windows (0 of 0: it is being opened)."""

    index: int
    count: int
    video: str
    done: int
    total: int

    @property
    def fraction(self) -> float:
        """Of the whole analysis, 0 .. 1."""
        share = self.done / self.total if self.total else 0.0
        return (self.index + share) / self.count if self.count else 1.0


@dataclass(frozen=True)
class Analysis:
    """Every video's result, in job order, and the spotter's name for the run."""

    results: list[tuple[AnalyzeJob, SpottingResult]]
    predictor: str

    @property
    def run_params(self) -> dict[str, Any]:
        """The prediction run's parameters: the first video's, the videos, one threshold per video."""
        params = dict(self.results[0][1].params) if self.results else {}
        params["videos"] = [job.video for job, _ in self.results]
        if len(self.results) > 1:            # one threshold per video; the run keeps them all
            params.pop("threshold", None)
            params["thresholds"] = {job.video: r.params.get("threshold") for job, r in self.results}
        return params


def analyze_videos(jobs: Sequence[AnalyzeJob], spotter: Spotter, *,
                   progress: Callable[[AnalyzeProgress], None] | None = None, cancel: CancelFn | None = None,
                   use_cache: bool = True, cache_dir: str | Path | None = None, workers: int = 1,
                   on_partial: Callable[[AnalyzeJob, PartialSpotting], None] | None = None) -> Analysis:
    """:func:`spot_video` for every job (worker processes kept across the videos); no project, no files.
    ``on_partial(job, partial)``: a video's provisional intervals while the rest of it is computed."""
    from .feature_runner import ExtractionPool

    for job in jobs:
        check_id(job.video, "video id", job.path)
    say = progress or (lambda _p: None)
    results = []
    with ExitStack() as stack:   # worker processes (and their landmark models) kept for every video
        pool = stack.enter_context(ExtractionPool(workers)) if workers > 1 else None
        for k, job in enumerate(jobs):
            say(AnalyzeProgress(k, len(jobs), job.video, 0, 0))

            def windows(done: int, total: int, k: int = k, job: AnalyzeJob = job) -> None:
                say(AnalyzeProgress(k, len(jobs), job.video, done, total))
            results.append((job, spot_video(job.path, spotter, use_cache=use_cache, cache_dir=cache_dir,
                                            workers=workers, pool=pool, progress=windows, cancel=cancel,
                                            on_partial=None if on_partial is None else partial(on_partial, job))))
    _raise_if_cancelled(cancel)
    return Analysis(results, spotter.predictor)


def import_analysis(project: Project, analysis: Analysis) -> ImportResult:
    """The intervals as one prediction run (reviewed intervals kept), each video's curves registered with it."""
    result = project.add_prediction_run({job.video: r.intervals for job, r in analysis.results},
                                        predictor=analysis.predictor, params=analysis.run_params)
    for job, r in analysis.results:
        vid = project.video(job.video).id
        path = r.curves.save(project.cache_dir / "curves" / f"{vid}-{result.run_id}-curves.npz")
        project.register_curves(vid, path, result.run_id)
    return result


def analyze_into_project(project: Project, video_ids: Sequence[int | str], spotter: Spotter, *,
                         progress: Callable[[AnalyzeProgress], None] | None = None, cancel: CancelFn | None = None,
                         use_cache: bool = True, cache_dir: str | Path | None = None,
                         workers: int = 1) -> ImportResult:
    """Extract, spot and import the videos (ids or names) of ``project``: :func:`analyze_videos`, then
    :func:`import_analysis`. A cancelled analysis raises ``Cancelled`` and leaves the store as it was."""
    jobs = [AnalyzeJob.of(project.video(v)) for v in video_ids]
    return import_analysis(project, analyze_videos(jobs, spotter, progress=progress, cancel=cancel,
                                                   use_cache=use_cache, cache_dir=cache_dir, workers=workers))


def _raise_if_cancelled(cancel: CancelFn | None) -> None:
    if cancel is not None and cancel():
        raise Cancelled("analysis cancelled")
