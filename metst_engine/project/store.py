"""The project store: one SQLite file per review project, shared by the GUI, the CLI and training.

:class:`Project` is the core (:mod:`~metst_engine.project.core`: opening, the editing lock,
transactions, the edit log, undo) with its parts, each in its own module: videos, runs and
curves (:mod:`~metst_engine.project.videos`), review edits (:mod:`~metst_engine.project.edits`),
imports, exports, training labels and agreement.
"""

from __future__ import annotations

from metst_engine.project.agreement import AgreementPart
from metst_engine.project.core import DB_NAME
from metst_engine.project.exports import ExportsPart
from metst_engine.project.imports import ImportsPart
from metst_engine.project.training_labels import TrainingLabelsPart

__all__ = ["DB_NAME", "Project"]


class Project(ImportsPart, ExportsPart, TrainingLabelsPart, AgreementPart):
    """An open project. Use :meth:`create` or :meth:`open`; close it (or use ``with``).

    ``read_only`` is True when the project was opened read-only, and ``read_only_reason``
    then says why (e.g. another process has it open for editing) for the GUI to show.
    ``notes`` lists other facts worth telling the user (network file system, migration).
    ``annotator`` is the name recorded on every edit made through this object.
    """
