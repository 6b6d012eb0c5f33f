"""The videos of a project (with their subjects), the prediction runs and the curves files kept for them."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from metst_engine.atomic import atomic_path
from metst_engine.errors import InputError, PendingIntervalsError, ProjectError
from metst_engine.project.core import ProjectCore, utc_now
from metst_engine.project.records import (
    Change,
    CurvesRecord,
    Edit,
    RunRecord,
    SubjectRecord,
    VideoProblem,
    VideoRecord,
)
from metst_engine.safe_paths import check_id, utf8_path

_VIDEO_SELECT = """
SELECT v.id, v.name, s.name AS subject, v.path, v.content_hash, v.fps, v.n_frames, v.complete,
       v.completed_by, v.completed_at, v.added
FROM videos v JOIN subjects s ON s.id = v.subject_id
"""


@dataclass(frozen=True)
class VideoProbe:
    """What adding a video needs, read before the transaction (reading a video takes time)."""

    path: Path
    name: str
    subject: str
    fps: float
    n_frames: int
    timestamps: np.ndarray
    content_hash: str


def probe_video(path: Path, subject: str, video_id: str | None, fps: float | None, fill_gaps: bool) -> VideoProbe:
    """Check the names and read the frame count, fps, timestamps and fingerprint of a video."""
    from metst_engine.video import open_video  # PyAV and OpenCV: see _fingerprint

    if not subject:
        raise InputError(path, "a video needs a subject; give one with --subject NAME")
    name = video_id or (path.name if path.is_dir() else path.stem)
    utf8_path(os.path.abspath(path), "video's path")
    check_id(name, "video id", path, fix="pass another one with --video-id")
    check_id(subject, "subject", path, fix="give another subject name")
    with open_video(path, fps=fps, fill_gaps=fill_gaps) as v:
        n_frames, video_fps = v.n_frames, float(v.fps)
        stamps = np.ascontiguousarray(v.timestamps, dtype="<f8")
    return VideoProbe(path, name, subject, video_fps, n_frames, stamps, _fingerprint(path))


#: File suffixes taken for videos when a folder is searched for them (any readable file can still be added by name).
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm", ".mpg", ".mpeg", ".wmv", ".flv",
                            ".mts", ".m2ts", ".3gp", ".ogv"})


@dataclass(frozen=True)
class VideoToAdd:
    """A video found by :func:`videos_to_add`: its path, the subject inferred for it and its default id."""

    path: Path
    subject: str
    video_id: str


def infer_subject(path: str | Path) -> str:
    """The one rule (``metst project add`` and the GUI's Add videos): a video's subject is the name of the
    folder that holds it (for a frame folder: the folder above it), e.g. ``p01/interview.mp4`` -> ``p01``."""
    parent = Path(os.path.abspath(path)).parent
    return parent.name or "subject"


def _is_frame_folder(folder: Path) -> bool:
    from metst_engine.video import IMAGE_EXTENSIONS

    try:
        return any(e.is_file() and Path(e.name).suffix.lower() in IMAGE_EXTENSIONS for e in os.scandir(folder))
    except OSError:
        return False


def videos_to_add(paths: Iterable[str | Path]) -> list[VideoToAdd]:
    """Files and frame folders as given; other folders are searched (recursively, sorted) for video files
    and frame folders. Each gets :func:`infer_subject` and its default id: the stem or folder name, or
    ``<subject>_<stem>`` where several found videos share a name (``p01/interview.mp4``,
    ``p02/interview.mp4`` -> ``p01_interview``, ``p02_interview``), numbered if that still repeats."""
    found: list[Path] = []
    for given in map(Path, paths):
        if given.is_dir() and not _is_frame_folder(given):
            found += _search(given)
        else:
            found.append(given)
    unique = list(dict.fromkeys(Path(os.path.abspath(p)) for p in found))
    subjects = [infer_subject(p) for p in unique]
    names = [p.name if p.is_dir() else p.stem for p in unique]
    repeated = {n for n in names if names.count(n) > 1}
    ids = [f"{s}_{n}" if n in repeated else n for s, n in zip(subjects, names, strict=True)]
    seen: dict[str, int] = {}
    for i, vid in enumerate(ids):
        seen[vid] = seen.get(vid, 0) + 1
        if seen[vid] > 1:
            ids[i] = f"{vid}_{seen[vid]}"
    return [VideoToAdd(p, s, v) for p, s, v in zip(unique, subjects, ids, strict=True)]


def _search(folder: Path) -> list[Path]:
    out: list[Path] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        here = Path(root)
        if here != folder and _is_frame_folder(here):
            out.append(here)
            dirs.clear()
            continue
        out += [here / f for f in sorted(files) if Path(f).suffix.lower() in VIDEO_SUFFIXES]
    return out


def _fingerprint(path: Path) -> str:
    # metst_engine.video loads PyAV and OpenCV (a quarter of a second): only reading a video
    # needs them, so `metst` (which registers `metst project`) and opening a project stay fast
    from metst_engine.video import video_fingerprint

    return video_fingerprint(path)


class VideosPart(ProjectCore):
    """Subjects, videos (add, find, relocate, mark complete), prediction runs and curves files."""

    # ------------------------------------------------------------------ subjects and videos
    def add_subject(self, name: str) -> SubjectRecord:
        """Add a subject (or return the existing one of that name)."""
        if not name:
            raise InputError(None, "a subject needs a name")
        with self._transaction() as conn:
            sid = self._subject_id(conn, name)
        return SubjectRecord(sid, name)

    def subjects(self) -> list[SubjectRecord]:
        return [SubjectRecord(r["id"], r["name"]) for r in self._db().execute("SELECT id, name FROM subjects ORDER BY name")]

    def add_video(self, path: str | Path, subject: str, video_id: str | None = None, *,
                  fps: float | None = None, fill_gaps: bool = False) -> VideoRecord:
        """Add a video file or frame folder: reads its frame count, fps and timestamps, and a content hash.

        ``video_id`` is the dataset-wide id (default: the file's stem or folder name). The
        path is stored relative to the project folder when it lies inside it.
        """
        self._check_writable()
        probe = probe_video(Path(path), subject, video_id, fps, fill_gaps)
        with self._transaction() as conn:
            vid = self._insert_video(conn, probe)
        return self.video(vid)

    def _insert_video(self, conn: sqlite3.Connection, probe: VideoProbe) -> int:
        if conn.execute("SELECT 1 FROM videos WHERE name = ?", (probe.name,)).fetchone():
            raise ProjectError(probe.path, f"the project already has a video {probe.name!r}; pass another video id")
        sid = self._subject_id(conn, probe.subject)
        cur = conn.execute(
            "INSERT INTO videos(name, subject_id, path, content_hash, fps, n_frames, timestamps, added) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (probe.name, sid, self._stored_path(probe.path), probe.content_hash, probe.fps, probe.n_frames,
             probe.timestamps.tobytes(), utc_now()))
        return int(cur.lastrowid or 0)

    def videos(self, subject: str | None = None) -> list[VideoRecord]:
        sql, args = _VIDEO_SELECT, ()
        if subject is not None:
            sql, args = sql + " WHERE s.name = ?", (subject,)
        return [self._video_record(r) for r in self._db().execute(sql + " ORDER BY v.name", args)]

    def video(self, video: int | str) -> VideoRecord:
        """A video by its row id (int) or its name (str)."""
        col = "v.id" if isinstance(video, int) else "v.name"
        row = self._db().execute(f"{_VIDEO_SELECT} WHERE {col} = ?", (video,)).fetchone()
        if row is None:
            raise ProjectError(self.db_path, f"no video {video!r} in the project ('metst project stats' lists "
                                             "its videos)")
        return self._video_record(row)

    def timestamps(self, video: int | str) -> np.ndarray:
        """The video's own per-frame times in seconds (as read when it was added)."""
        vid = self.video(video).id
        blob = self._db().execute("SELECT timestamps FROM videos WHERE id = ?", (vid,)).fetchone()[0]
        return np.frombuffer(blob, dtype="<f8")

    def missing_videos(self) -> list[VideoProblem]:
        """Videos whose file is gone or whose content changed, each with how to relocate it."""
        out = []
        for v in self.videos():
            fix = (f"metst project relocate {self.folder} {v.name} NEW_PATH "
                   f"(or Project.relocate_video({v.name!r}, new_path))")
            if not v.path.exists():
                out.append(VideoProblem(v.name, v.path, "file or folder not found", fix))
            elif _fingerprint(v.path) != v.content_hash:
                out.append(VideoProblem(v.name, v.path, "content differs from the video that was added", fix))
        return out

    def relocate_video(self, video: int | str, new_path: str | Path, *, check_content: bool = True) -> Edit:
        """Point a video at its new location; refuses a different video unless ``check_content=False``."""
        v = self.video(video)
        new_path = Path(new_path)
        if not new_path.exists():
            raise InputError(new_path, "file or folder not found")
        digest = _fingerprint(new_path)
        if check_content and digest != v.content_hash:
            raise InputError(new_path, f"not the same video as {v.name!r} (content hash differs)")
        with self._transaction() as conn:
            before = {"path": v.stored_path, "content_hash": v.content_hash}
            after = {"path": self._stored_path(new_path), "content_hash": digest}
            self._put_video_fields(conn, v.id, after)
            return self._log(conn, "relocate", [Change("videos", v.id, before, after)])

    def set_complete(self, video: int | str, complete: bool = True) -> Edit:
        """Mark a video's review complete (only complete videos give training labels) or reopen it.

        Refused (:class:`~metst_engine.errors.PendingIntervalsError`, with the ids) while an
        interval of the video is pending: decide each, or reject them all with ``reject_pending``.
        """
        v = self.video(video)
        with self._transaction() as conn:
            pending = tuple(r[0] for r in conn.execute(
                "SELECT id FROM intervals WHERE video_id = ? AND state = 'pending' ORDER BY onset, offset, id",
                (v.id,)))
            if complete and pending:
                raise PendingIntervalsError(self.db_path, v.name, pending,
                                            "accept or reject each, or reject them all, then mark it complete")
            before = {"complete": int(v.complete), "completed_by": v.completed_by, "completed_at": v.completed_at}
            after = ({"complete": 1, "completed_by": self.annotator, "completed_at": utc_now()} if complete
                     else {"complete": 0, "completed_by": None, "completed_at": None})
            self._put_video_fields(conn, v.id, after)
            return self._log(conn, "complete" if complete else "reopen", [Change("videos", v.id, before, after)])

    # ------------------------------------------------------------------ prediction runs and curves
    def runs(self) -> list[RunRecord]:
        return [RunRecord(r["id"], r["predictor"], json.loads(r["params"]), r["source_file"], r["created"])
                for r in self._db().execute("SELECT * FROM runs ORDER BY id")]

    def record_run(self, predictor: str, params: dict[str, Any] | None = None,
                   source_file: str | Path | None = None) -> RunRecord:
        """Record a run that brought no intervals (yet), e.g. a trained model: its checkpoint and parameters.

        Later predictions made with it are imported as their own runs; this one keeps what
        was trained, with which labels and settings, next to the reviews it came from.
        """
        with self._transaction() as conn:
            cur = conn.execute("INSERT INTO runs(predictor, params, source_file, created) VALUES (?, ?, ?, ?)",
                               (predictor, json.dumps(params or {}, sort_keys=True, default=str),
                                None if source_file is None else str(source_file), utc_now()))
            run_id = int(cur.lastrowid or 0)
        return next(r for r in self.runs() if r.id == run_id)

    def register_curves(self, video: int | str, file: str | Path, run: int | None = None) -> CurvesRecord:
        """Keep a curves file (``metst predict --curves``) in ``cache/``, copied there unless already inside."""
        v = self.video(video)
        file = Path(file)
        if not file.is_file():
            raise InputError(file, "curves file not found")
        self._check_writable()
        cache = self.cache_dir.resolve()
        if cache not in file.resolve().parents:
            target = cache / "curves" / f"{v.id}-{run or 0}-{file.name}"
            with atomic_path(target) as tmp:
                shutil.copyfile(file, tmp)
            file = target
        rel = file.resolve().relative_to(cache).as_posix()
        with self._transaction() as conn:
            cur = conn.execute("INSERT INTO curves(video_id, run_id, path, created) VALUES (?, ?, ?, ?)",
                               (v.id, run, rel, utc_now()))
            cid = int(cur.lastrowid or 0)
        return next(c for c in self.curves(v.id) if c.id == cid)

    def curves(self, video: int | str) -> list[CurvesRecord]:
        vid = self.video(video).id
        return [CurvesRecord(r["id"], r["video_id"], r["run_id"], self.cache_dir / r["path"], r["created"])
                for r in self._db().execute("SELECT * FROM curves WHERE video_id = ? ORDER BY id", (vid,))]

    # ------------------------------------------------------------------ internals
    def _stored_path(self, path: Path) -> str:
        real = Path(os.path.abspath(path))
        folder = Path(os.path.abspath(self.folder))
        try:
            return real.relative_to(folder).as_posix()
        except ValueError:
            return str(real)

    def _video_record(self, r: sqlite3.Row) -> VideoRecord:
        stored = r["path"]
        path = Path(stored) if Path(stored).is_absolute() else self.folder / stored
        return VideoRecord(r["id"], r["name"], r["subject"], path, stored, r["content_hash"], r["fps"], r["n_frames"],
                           bool(r["complete"]), r["completed_by"], r["completed_at"], r["added"])

    def _videos_for(self, source: Path, names: Iterable[str]) -> dict[str, VideoRecord]:
        known = {v.name: v for v in self.videos()}
        unknown = sorted(set(names) - set(known))
        if unknown:
            raise InputError(source, f"video(s) not in the project: {', '.join(unknown[:5])}"
                                     f"{' ...' if len(unknown) > 5 else ''}; add them first")
        return {n: known[n] for n in names}

    @staticmethod
    def _subject_id(conn: sqlite3.Connection, name: str) -> int:
        conn.execute("INSERT OR IGNORE INTO subjects(name) VALUES (?)", (name,))
        return int(conn.execute("SELECT id FROM subjects WHERE name = ?", (name,)).fetchone()[0])
