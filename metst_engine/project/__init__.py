"""The project store: one SQLite file per review project (review states, edit log, imports, exports).

No Qt here: the GUI, the CLI (``metst project``) and training use the same API.

    with Project.open("interviews") as p:
        for iv in p.review_queue(order="score"):
            edit = p.accept(iv.id)      # durable on return; p.undo(edit) reverts it
"""

from metst_engine.project.agreement import Agreement
from metst_engine.project.exports import ExportRow
from metst_engine.project.records import (
    SOURCES,
    STATES,
    TYPES,
    Change,
    CurvesRecord,
    Edit,
    ImportResult,
    IntervalRecord,
    ReviewPosition,
    RunRecord,
    SubjectProgress,
    SubjectRecord,
    VideoProblem,
    VideoProgress,
    VideoRecord,
)
from metst_engine.project.review import (
    History,
    PendingIntervals,
    Review,
    ReviewError,
    Step,
)
from metst_engine.project.schema import SCHEMA_VERSION
from metst_engine.project.store import DB_NAME, Project

__all__ = [
    "DB_NAME",
    "SCHEMA_VERSION",
    "SOURCES",
    "STATES",
    "TYPES",
    "Agreement",
    "Change",
    "CurvesRecord",
    "Edit",
    "ExportRow",
    "History",
    "ImportResult",
    "IntervalRecord",
    "PendingIntervals",
    "Project",
    "Review",
    "ReviewError",
    "ReviewPosition",
    "RunRecord",
    "Step",
    "SubjectProgress",
    "SubjectRecord",
    "VideoProblem",
    "VideoProgress",
    "VideoRecord",
]
