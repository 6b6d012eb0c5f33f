"""Training labels from a project: reviewed intervals of review-complete videos (and, if asked,
imported ground truth) as a :class:`~metst_engine.datasets.Dataset` or the manifest ``metst train`` reads.

The rule, from how training reads a manifest: every frame of a listed video outside its
intervals is a negative ("no expression"; :func:`metst_engine.training.frame_labels`), and a
manifest has no "unknown" regions. So a video is listed only when every interval that could
touch its labels is decided: an undecided (pending) interval, or a video whose review is not
complete, is never turned into a negative: the whole video is left out, and
:meth:`TrainingLabelsPart.training_exclusions` says which videos were and why.
"""

from __future__ import annotations

from pathlib import Path

from metst_engine.datasets import Dataset, LabelledInterval, VideoEntry, write_manifest
from metst_engine.errors import ProjectError
from metst_engine.intervals import EMOTIONS, Interval, interval_iou
from metst_engine.project.edits import ReviewPart
from metst_engine.project.records import IntervalRecord, VideoRecord


class TrainingLabelsPart(ReviewPart):
    """The labels a model can be trained on."""

    def training_labels(self, include_ground_truth: bool = False, reviewed: bool = True) -> Dataset:
        """Labels for training, as a Dataset.

        Reviewed labels come from review-complete videos with no pending interval (elsewhere
        an undecided region would silently become a negative): accepted and corrected
        intervals and manual ones (not rejected); imported intervals whose timing or label
        the annotator changed; with ``include_ground_truth`` the other imported intervals
        too, unless a reviewed one overlaps them (IoU >= 0.5). ``reviewed=False`` gives the
        imported ground truth alone, from every video that has some and none of it pending
        (a dataset's labels do not wait for a review). Rejected intervals are negatives.
        Emotions outside the four classes go to ``raw_emotion``.
        """
        entries = []
        for v in self.videos():
            keep = self._labels_of(v, include_ground_truth, reviewed)
            if isinstance(keep, list):
                keep.sort(key=lambda r: (r.onset, r.offset))
                entries.append(_entry(v, keep))
        return Dataset(self.folder.name, entries)

    def training_exclusions(self, reviewed: bool = True) -> dict[str, str]:
        """The videos :meth:`training_labels` leaves out, each with why (video name -> reason)."""
        out = {}
        for v in self.videos():
            why = self._labels_of(v, False, reviewed)
            if isinstance(why, str):
                out[v.name] = why
        return out

    def _labels_of(self, v: VideoRecord, include_ground_truth: bool, reviewed: bool) -> list[IntervalRecord] | str:
        """The intervals ``v`` gives for training, or why it gives none."""
        rows = [r for r in self.intervals(v.id) if r.state != "rejected"]
        if not reviewed:
            rows = [r for r in rows if r.source == "imported"]
            if not rows:
                return "no imported ground truth"
        elif not v.complete:
            return "review not marked complete"
        pending = sum(r.state == "pending" for r in rows)
        if pending:
            return (f"{pending} pending interval(s): undecided, so the video is left out rather than "
                    "counting them as 'no expression'")
        return rows if not reviewed else _reviewed(rows, include_ground_truth)

    def training_manifest(self, path: str | Path, include_ground_truth: bool = False, reviewed: bool = True) -> Path:
        """Write :meth:`training_labels` as the generic manifest ``metst train`` reads."""
        ds = self.training_labels(include_ground_truth, reviewed)
        if not ds.videos:
            if not reviewed:
                raise ProjectError(self.db_path, "no video has imported ground truth (with nothing of it pending)")
            raise ProjectError(self.db_path, "no video is marked review complete with nothing pending; training "
                                             "labels come only from complete videos")
        return write_manifest(ds, path)


def _reviewed(rows: list[IntervalRecord], include_ground_truth: bool) -> list[IntervalRecord]:
    """The decided intervals of a complete video; imported ones no decided interval overlaps if asked."""
    done = [r for r in rows if r.source != "imported" and (r.state in ("accepted", "corrected")
                                                             or r.source == "manual")]
    done += [r for r in rows if r.source == "imported" and (r.state == "corrected" or r.label_edited)]
    keep = list(done)
    if include_ground_truth:
        for r in rows:
            if r.source == "imported" and r not in done and not any(
                    interval_iou(Interval(r.onset, r.offset), Interval(k.onset, k.offset)) >= 0.5
                    for k in done):
                keep.append(r)
    return keep


def _entry(v: VideoRecord, rows: list[IntervalRecord]) -> VideoEntry:
    entry = VideoEntry(v.subject, v.name, v.path, v.fps)
    entry.intervals = [LabelledInterval(v.subject, v.name, r.onset, r.apex, r.offset, r.type,
                                        r.emotion if r.emotion in EMOTIONS else None, r.emotion)
                       for r in rows]
    return entry
