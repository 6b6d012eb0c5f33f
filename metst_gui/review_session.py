"""What the review keys do to the current video's intervals, through undoable store edits.

Holds the open project, the current video and the selected interval; each action
(accept, reject, emotion, set onset / apex / offset at the playhead, add, move edges,
mark complete) is performed on the store through :class:`ReviewStacks`, so it is on disk
when it returns and sits on the video's undo stack. No widgets here: the main window
asks for the playhead and shows what ``changed`` says.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6 import QtCore

from metst_engine.intervals import EMOTIONS
from metst_engine.project import Edit, IntervalRecord, Project, VideoRecord
from metst_gui.review_commands import ReviewStacks

#: Length of a manual interval added with M (seconds); its edges are then set with I / O or dragged.
MANUAL_SECONDS = 0.3


class ReviewSession(QtCore.QObject):
    """Signals: ``changed(Edit)`` after any edit / undo / redo; ``message(str)`` for the status bar;
    ``selectionChanged(id)`` (-1: none) when an action moves the selection."""

    changed = QtCore.Signal(object)
    message = QtCore.Signal(str)
    selectionChanged = QtCore.Signal(int)

    def __init__(self, project: Project, playhead: Callable[[], int], parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.project = project
        self.playhead = playhead
        self.stacks = ReviewStacks(project, self)
        self.stacks.edited.connect(self._edited)
        self.stacks.failed.connect(self.message)
        self.video: VideoRecord | None = None
        self.selected: int | None = None

    # -- state ----------------------------------------------------------------------------
    def set_video(self, video_id: int) -> VideoRecord:
        self.video = self.project.video(video_id)
        self.selected = None
        self.stacks.activate(video_id)
        return self.video

    def intervals(self) -> list[IntervalRecord]:
        return [] if self.video is None else self.project.intervals(self.video.id)

    def select(self, interval_id: int | None) -> None:
        self.selected = interval_id

    def _selected_or_say(self, what: str) -> int | None:
        if self.video is None or self.selected is None:
            self.message.emit(f"{what}: select an interval first")
            return None
        return self.selected

    def _do(self, text: str, action: Callable[[], Edit]) -> Edit | None:
        if self.video is None:
            return None
        if self.project.read_only:
            self.message.emit(f"{text}: {self.project.read_only_reason}")
            return None
        return self.stacks.perform(self.video.id, text, action)

    # -- review actions --------------------------------------------------------------------
    def accept(self) -> None:
        if (iid := self._selected_or_say("Accept")) is not None:
            self._do("Accept", lambda: self.project.accept(iid))

    def reject(self) -> None:
        if (iid := self._selected_or_say("Reject")) is not None:
            self._do("Reject", lambda: self.project.reject(iid))

    def set_emotion(self, number: int) -> None:
        """Emotion keys 1-4: the four classes in the engine's order."""
        emotion = EMOTIONS[number - 1]
        if (iid := self._selected_or_say(f"Emotion {emotion}")) is not None:
            self._do(f"Emotion {emotion}", lambda: self.project.correct(iid, emotion=emotion))

    def set_bound(self, which: str) -> None:
        """``which``: onset, apex or offset, set to the playhead frame."""
        if (iid := self._selected_or_say(f"Set {which}")) is None:
            return
        frame = self.playhead()
        kwargs = {which: frame}
        self._do(f"Set {which} to {frame}", lambda: self.project.correct(iid, **kwargs))

    def move_edges(self, onset: int, offset: int) -> None:
        """The selected interval's edges were dragged to (onset, offset)."""
        if (iid := self._selected_or_say("Move edges")) is None:
            return
        current = self.project.interval(iid)
        apex = current.apex if current.apex is not None and onset <= current.apex <= offset else None
        self._do(f"Move edges to {onset}-{offset}",
                 lambda: self.project.correct(iid, onset=onset, offset=offset, apex=apex))

    def add(self) -> None:
        """A manual interval from the playhead, MANUAL_SECONDS long (clipped to the video)."""
        if self.video is None:
            return
        onset = min(self.playhead(), self.video.n_frames - 1)
        offset = min(onset + max(1, round(MANUAL_SECONDS * self.video.fps)) - 1, self.video.n_frames - 1)
        vid = self.video.id
        edit = self._do(f"Add {onset}-{offset}", lambda: self.project.add_interval(vid, onset, offset))
        if edit is not None and edit.interval_id is not None:
            self.selected = edit.interval_id
            self.selectionChanged.emit(edit.interval_id)

    def next_pending(self) -> int | None:
        """Select the next pending interval after the playhead in this video (wrapping round);
        returns its video id when it is in another video (the caller switches), else None."""
        if self.video is None:
            return None
        here = self.project.review_queue("time", video=self.video.id)
        if here:
            frame = self.playhead()
            after = [r for r in here if r.onset > frame and r.id != self.selected]
            target = (after or here)[0]
            self.selected = target.id
            self.selectionChanged.emit(target.id)
            return None
        elsewhere = self.project.review_queue("time")
        if not elsewhere:
            self.message.emit("Nothing pending in the project")
            return None
        return elsewhere[0].video_id

    def set_complete(self, complete: bool) -> None:
        if self.video is None:
            return
        vid = self.video.id
        self._do("Mark complete" if complete else "Reopen", lambda: self.project.set_complete(vid, complete))

    def _edited(self, edit: Edit) -> None:
        if self.video is not None:
            self.video = self.project.video(self.video.id)
        self.changed.emit(edit)
