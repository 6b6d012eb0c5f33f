"""Imports into a project: ``metst predict`` CSVs (a prediction run), a dataset's ground truth and
the project's own CSV export, each one transaction and one entry of the edit log."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from metst_engine.datasets import Dataset
from metst_engine.errors import ProjectError
from metst_engine.intervals import Interval, interval_iou
from metst_engine.intervals_io import read_predictions
from metst_engine.project.core import INTERVAL_SELECT, check_interval, utc_now
from metst_engine.project.exports import read_csv
from metst_engine.project.records import Change, ImportResult
from metst_engine.project.videos import VideoProbe, VideosPart, probe_video
from metst_engine.safe_paths import check_id

_KEY_COLUMNS = ("video_id", "onset", "apex", "offset", "emotion", "type", "source", "state", "annotator", "note")


class ImportsPart(VideosPart):
    """Bring intervals in: predictions, ground truth, and intervals exported by a project."""

    def import_predictions(self, csv_path: str | Path, *, predictor: str = "metst predict",
                           params: dict[str, Any] | None = None, replace_untouched: bool = True,
                           one_based: bool = False) -> ImportResult:
        """Import a ``metst predict`` CSV as a prediction run; its intervals come in "pending".

        Intervals a human touched are never changed. With ``replace_untouched`` the
        untouched predictions already on the run's videos are replaced; a new prediction
        overlapping (IoU >= 0.5) a touched interval is skipped, as it was already reviewed.
        ``one_based``: the file counts frames from 1 (``metst predict --one-based``).
        """
        csv_path = Path(csv_path)
        per_video = read_predictions([csv_path], one_based=one_based)
        return self.add_prediction_run(per_video, predictor=predictor, params=params,
                                       replace_untouched=replace_untouched, source=csv_path)

    def add_prediction_run(self, per_video: Mapping[str, Sequence[Interval]], *, predictor: str,
                           params: dict[str, Any] | None = None, replace_untouched: bool = True,
                           source: Path | None = None) -> ImportResult:
        """Add spotted intervals (source frames, per video name) as one prediction run, as
        :meth:`import_predictions` does with a CSV's; ``source`` is the file they came from, if any."""
        where = source if source is not None else self.db_path
        videos = self._videos_for(where, per_video.keys())
        for name, ivs in per_video.items():
            for iv in ivs:
                check_interval(where, iv.onset, iv.apex, iv.offset, "micro", name, videos[name].n_frames)
        with self._transaction() as conn:
            now = utc_now()
            cur = conn.execute("INSERT INTO runs(predictor, params, source_file, created) VALUES (?, ?, ?, ?)",
                               (predictor, json.dumps(params or {}, sort_keys=True),
                                None if source is None else str(source), now))
            run_id = int(cur.lastrowid or 0)
            changes: list[Change] = []
            skipped = replaced = 0
            for name, ivs in per_video.items():
                v = videos[name]
                existing = [dict(r) for r in conn.execute(f"{INTERVAL_SELECT} WHERE i.video_id = ?", (v.id,))]
                touched = [Interval(r["onset"], r["offset"]) for r in existing if r["touched"]]
                if replace_untouched:
                    for r in existing:
                        if r["source"] == "predicted" and not r["touched"]:
                            conn.execute("DELETE FROM intervals WHERE id = ?", (r["id"],))
                            changes.append(Change("intervals", r["id"], r, None))
                            replaced += 1
                for iv in ivs:
                    if any(interval_iou(iv, t) >= 0.5 for t in touched):
                        skipped += 1
                        continue
                    row = {"id": None, "video_id": v.id, "onset": iv.onset, "apex": iv.apex, "offset": iv.offset,
                           "emotion": iv.emotion, "type": "micro", "source": "predicted", "state": "pending",
                           "score": iv.score, "annotator": None, "note": "", "run_id": run_id, "touched": 0,
                           "created": now, "updated": now}
                    row["id"] = self._put_interval(conn, row)
                    changes.append(Change("intervals", row["id"], None, self._interval_row(conn, row["id"])))
            what = f"import predictions {source.name}" if source is not None else f"add prediction run {run_id}"
            edit = self._log(conn, what, changes)
        return ImportResult(run_id, len(changes) - replaced, replaced, skipped, edit)

    def import_ground_truth(self, dataset: Dataset, *, annotator: str | None = None,
                            add_missing_videos: bool = True) -> ImportResult:
        """Import a loaded :class:`~metst_engine.datasets.Dataset` (CAS(ME)^3, SAMM-LV, a manifest).

        Its intervals come in as source "imported", state "accepted", annotator the
        dataset's name (or ``annotator``); an interval already imported identically is
        skipped. Videos not yet in the project are added from the dataset's paths.
        """
        self._check_writable()
        who = annotator or dataset.name
        known = {v.name: v for v in self.videos()}
        probes = {}
        for entry in dataset.videos:
            check_id(entry.video, "video id", entry.path)
            check_id(entry.subject, "subject", entry.path)
            if entry.video not in known:
                if not add_missing_videos:
                    raise ProjectError(self.db_path, f"video {entry.video!r} of {dataset.name} is not in the project")
                probes[entry.video] = probe_video(Path(entry.path), entry.subject, entry.video, entry.fps, False)
        rows = []
        for entry in dataset.videos:
            n_frames = known[entry.video].n_frames if entry.video in known else probes[entry.video].n_frames
            for iv in entry.intervals:
                check_interval(Path(entry.path), iv.onset, iv.apex, iv.offset, iv.type, entry.video, n_frames)
                rows.append({"video": entry.video, "onset": iv.onset, "apex": iv.apex, "offset": iv.offset,
                             "emotion": iv.emotion or iv.raw_emotion, "type": iv.type, "source": "imported",
                             "state": "accepted", "score": None, "annotator": who, "note": "", "run_id": None,
                             "touched": 0})
        return self._insert_rows(f"import ground truth {dataset.name}", rows, list(probes.values()))

    def import_intervals(self, csv_path: str | Path) -> ImportResult:
        """Import a CSV written by :meth:`export_csv` (states, sources, annotators and notes kept).

        Videos must be in the project (matched by name); identical intervals are skipped.
        """
        csv_path = Path(csv_path)
        table = read_csv(csv_path)
        videos = self._videos_for(csv_path, {r.video for r in table})
        rows = []
        for r in table:
            v = videos[r.video]
            check_interval(csv_path, r.onset, r.apex, r.offset, r.type, v.name, v.n_frames)
            rows.append({"video": v.name, "onset": r.onset, "apex": r.apex, "offset": r.offset,
                         "emotion": r.emotion, "type": r.type, "source": r.source, "state": r.state,
                         "score": r.score, "annotator": r.annotator, "note": r.note, "run_id": None,
                         "touched": int(r.state != "pending" or r.source == "manual")})
        return self._insert_rows(f"import intervals {csv_path.name}", rows, [])

    def _insert_rows(self, action: str, rows: list[dict[str, Any]], new_videos: list[VideoProbe]) -> ImportResult:
        """Add videos and imported rows (video given by name) in one transaction; skip exact duplicates."""
        with self._transaction() as conn:
            for probe in new_videos:
                self._insert_video(conn, probe)
            ids = {name: vid for vid, name in conn.execute("SELECT id, name FROM videos")}
            rows = [{**{k: v for k, v in row.items() if k != "video"}, "video_id": ids[row["video"]]} for row in rows]
            now = utc_now()
            existing = {tuple(r[c] for c in _KEY_COLUMNS) for r in map(dict, conn.execute(INTERVAL_SELECT))}
            changes, skipped = [], 0
            for row in rows:
                key = tuple(row[c] for c in _KEY_COLUMNS)
                if key in existing:
                    skipped += 1
                    continue
                existing.add(key)
                full = {"id": None, **row, "created": now, "updated": now}
                full["id"] = self._put_interval(conn, full)
                changes.append(Change("intervals", full["id"], None, self._interval_row(conn, full["id"])))
            edit = self._log(conn, action, changes)
        return ImportResult(None, len(changes), 0, skipped, edit)
