"""The authors' published per-subject weights as a leave-one-subject-out run folder (no Qt).

zizheng-guo/ME-TST ships one weight file per held-out subject, ``weights/<DATASET>_4emo/
subject_<id>.pkl`` (``<id>`` as their loader names subjects: CAS(ME)^3 ``1`` for ``spNO.1``,
SAMM-LV ``006``). ``import_public_run`` turns such a folder plus the dataset's manifest into
the run folder ``metst train`` writes (docs/training.md): each fold's model is the authors'
file for that held-out subject instead of a trained one; its videos are predicted and
scored exactly as a trained fold's, so ``metst evaluate``, ``metst_engine.run_report`` and the
GUI's training panel read it like any run, and Table III is reproduced without training.

Settings recorded in config.json are the authors' (main.py): window and skip, batch and
ratio per dataset, epochs and lr of the release, inference strategy "spotting_mainly"
(their strategy 2), plus ``"imported"``: where every fold's weights came from (file name,
sha256), the layout, and which fold's model is ``final/`` ("Use this model"; the authors
publish no model trained on every subject, so by default the first subject's fold model
stands in, and ``final=None`` leaves ``final/`` out).
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from .errors import InputError
from .models import checkpoint_bytes, import_public_metst
from .models.public_weights import authors_run, read_public_weights
from .models.registry import default_config
from .runs.folder import RunFolder
from .training import (
    CancelFn,
    FoldOutput,
    ProgressFn,
    TrainConfig,
    VideoData,
    fold_k_prime,
    load_dataset,
    predict_fold,
    run_loso,
)

FILE_PATTERN = re.compile(r"subject_(.+)\.pkl")
#: ``final`` value: the first subject's fold model (natural order) stands in for "final/".
FIRST = "first"


@dataclass(frozen=True)
class PublicFolder:
    """A folder of per-subject weight files: subject id (as in the file name) -> file."""

    path: Path
    files: dict[str, Path]


def scan_folder(path: str | Path) -> PublicFolder:
    path = Path(path)
    if not path.is_dir():
        raise InputError(path, "not a folder of published weights (weights/<DATASET>_4emo/subject_<id>.pkl)")
    files = {m.group(1): p for p in sorted(path.iterdir()) if p.is_file() and (m := FILE_PATTERN.fullmatch(p.name))}
    if not files:
        raise InputError(path, "holds no subject_<id>.pkl files; give the folder of one dataset's published "
                               "weights, e.g. ME-TST/weights/CASME_3_4emo")
    return PublicFolder(path, files)


def _number(text: str) -> int | None:
    digits = re.findall(r"\d+", text)
    return int(digits[-1]) if len(digits) == 1 else None


def match_subjects(file_ids: Sequence[str], subjects: Sequence[str], where: Path) -> dict[str, str]:
    """Dataset subject -> file id: the same name, else the same number (the authors' ``1`` is
    metst's CAS(ME)^3 ``spNO.1``; SAMM-LV's ``006`` is ``006``). Every dataset subject needs
    exactly one file."""
    out: dict[str, str] = {}
    missing, ambiguous = [], []
    for s in subjects:
        if s in file_ids:
            out[s] = s
            continue
        n = _number(s)
        hits = [f for f in file_ids if n is not None and _number(f) == n]
        if len(hits) == 1:
            out[s] = hits[0]
        elif hits:
            ambiguous.append(f"{s} ({', '.join(hits)})")
        else:
            missing.append(s)
    if missing or ambiguous:
        parts = []
        if missing:
            parts.append(f"no subject_<id>.pkl for the dataset's subject(s) {', '.join(missing[:10])}")
        if ambiguous:
            parts.append(f"several files fit {'; '.join(ambiguous[:5])}")
        raise InputError(where, "; ".join(parts) + ": every held-out subject of the run needs its own weight file "
                                                  "(drop the other subjects from the manifest to import a part)")
    taken = list(out.values())
    dup = sorted({f for f in taken if taken.count(f) > 1})
    if dup:
        raise InputError(where, f"the file(s) subject_{dup[0]}.pkl fit several dataset subjects")
    return out


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ------------------------------------------------------------------------------- tasks
def _load(config: TrainConfig, subject: str, videos: Sequence[VideoData], file: str, dataset: str):
    """The fold's published model with the metadata a trained fold's checkpoint carries."""
    model, meta = import_public_metst(file, dataset=dataset)
    train_subjects = sorted({v.entry.subject for v in videos} - {subject})
    k_p = fold_k_prime(videos, train_subjects)
    feats = videos[0].feats
    meta = dataclasses.replace(
        meta, k_prime=k_p, window=feats.k, frame_skip=feats.skip, fps=float(feats.fps),
        provenance=dataclasses.replace(meta.provenance, subjects=train_subjects))
    return model, meta, train_subjects


def imported_fold(config: TrainConfig, subject: str, videos: Sequence[VideoData], dataset_name: str,
                  progress: ProgressFn | None = None, cancel: CancelFn | None = None, *,
                  files: Mapping[str, str], dataset: str) -> FoldOutput:
    """A fold whose model is the published file of ``subject``: predict and score it."""
    t0 = time.time()
    events = [{"event": "fold_start", "fold": subject}]
    if progress:
        progress(events[0])
    model, meta, train_subjects = _load(config, subject, videos, files[subject], dataset)
    preds, row = predict_fold(config, subject, videos, model, meta)
    numeric = {k: float(v) for k, v in row.items() if isinstance(v, (int, float))}
    blob, _ = checkpoint_bytes(model, dataclasses.replace(meta, metrics=numeric))
    metrics = {**row, "subject": subject, "k_prime": meta.k_prime, "train_subjects": train_subjects,
               "seconds": time.time() - t0, "weights": Path(files[subject]).name}
    rows = [(subject, vid, iv) for vid, ivs in preds.items() for iv in ivs]
    return FoldOutput(subject, blob, metrics, rows, row, events)


def imported_final(config: TrainConfig, videos: Sequence[VideoData], dataset_name: str,
                   progress: ProgressFn | None = None, cancel: CancelFn | None = None, *,
                   file: str, subject: str, dataset: str) -> FoldOutput:
    """``final/``: the fold model of ``subject`` (the authors publish no all-subject model)."""
    events = [{"event": "final_start", "fold": "final"}]
    if progress:
        progress(events[0])
    model, meta, _ = _load(config, subject, videos, file, dataset)
    blob, _ = checkpoint_bytes(model, meta)
    return FoldOutput("final", blob, {"seconds": 0.0, "from_fold": subject}, events=events)


# ------------------------------------------------------------------------------- the run
def import_public_run(weights_dir: str | Path, run_dir: str | Path, dataset: str | Path, *,
                      authors_dataset: str | None = None, final: str | None = FIRST, strategy: str = "spotting_mainly",
                      recog_classes: Sequence[str] | None = None, device: str = "auto", threads: int = 1,
                      use_cache: bool = True, cache_dir: str | None = None, resume: bool = False,
                      progress: ProgressFn | None = None, cancel: CancelFn | None = None) -> dict[str, Any]:
    """Import a folder of published per-subject weights as a scored LOSO run in ``run_dir``.

    ``dataset``: the manifest (or a folder holding manifest.csv) of the videos the authors
    evaluated; ``authors_dataset`` (casme3 | samm_lv; default: from the folder name,
    CASME_3_4emo / SAMMLV_4emo) picks their window and skip. ``final``: FIRST, a subject, or
    None (no final/). Returns the pooled metrics, like ``run_loso``.
    """
    folder = scan_folder(weights_dir)
    run = authors_run(authors_dataset) if authors_dataset else authors_run(folder.path.name)
    if run is None:
        what = f"unknown dataset {authors_dataset!r}" if authors_dataset else \
            f"the folder name {folder.path.name!r} does not say which dataset the weights are for"
        raise InputError(folder.path, f"{what}: give casme3 (CAS(ME)^3: k 50, skip 1) or samm_lv (SAMM-LV: k 30, skip 7)")
    ds = load_dataset(dataset)
    subjects = ds.subjects()
    if len(subjects) < 2:
        raise InputError(dataset, f"a leave-one-subject-out run needs at least 2 subjects, found {len(subjects)}")
    by_subject = match_subjects(list(folder.files), subjects, folder.path)
    files = {s: str(folder.files[fid]) for s, fid in by_subject.items()}
    # every file is read (and refused if it is not a published one) before anything is written
    layout, name, config = None, "", {}
    for s, f in files.items():
        pub = read_public_weights(f)
        this = dataclasses.asdict(pub.model.config)  # type: ignore[arg-type]
        if layout is None:
            layout, name, config = pub.layout, pub.layout.model, this
            import_public_metst(f, dataset=run.key)   # and the metadata checks (ROI set) once
        elif (pub.layout, this) != (layout, config):
            raise InputError(f, f"holds another network than {Path(files[subjects[0]]).name} "
                                f"({pub.layout.authors_class} {this} vs {layout.authors_class} {config}): "
                                f"one run holds one architecture")
        del pub
    assert layout is not None
    if final == FIRST:
        final = subjects[0]
    elif final is not None and final not in files:
        raise InputError(folder.path, f"--final {final!r} is not a subject of the dataset ({', '.join(subjects[:10])})")
    defaults = default_config(name)
    overrides = {k: v for k, v in config.items() if k not in ("in_channels", "n_classes") and v != defaults.get(k)}
    cfg = TrainConfig(dataset=str(dataset), model=name, rois=name, window=run.window, skip=run.skip,
                      epochs=layout.epochs, lr=layout.lr, batch=run.batch, ratio=run.ratio, strategy=strategy,
                      threads=threads, device=device, final=final is not None, model_overrides=overrides,
                      use_cache=use_cache, cache_dir=cache_dir,
                      **({"recog_classes": list(recog_classes)} if recog_classes is not None else {}))
    unused = sorted(set(folder.files) - set(by_subject.values()))
    record = {"imported": {
        "source": str(folder.path.resolve()), "authors_class": layout.authors_class, "release": layout.release,
        "layout": layout.name, "authors_dataset": run.key, "final_from": final,
        "files": {s: {"file": Path(f).name, "sha256": _sha256(Path(f))} for s, f in files.items()},
        "unused_files": [folder.files[f].name for f in unused],
    }}
    old = RunFolder(run_dir)
    if resume and old.is_run():
        before = old.read_settings().get("imported") or {}
        if before and before.get("files") != record["imported"]["files"]:
            raise InputError(old.config_file, f"cannot resume: the run was imported from other weight files "
                                      f"({before.get('source')}); import into a new folder")
    fold_task = partial(imported_fold, files=files, dataset=run.key)
    final_task = None if final is None else partial(imported_final, file=files[final], subject=final, dataset=run.key)
    return run_loso(cfg, run_dir, progress=progress, cancel=cancel, resume=resume, fold_task=fold_task,
                    final_task=final_task, record=record)


__all__ = ["FIRST", "PublicFolder", "import_public_run", "imported_final", "imported_fold", "match_subjects",
           "scan_folder"]
