"""Add videos to the open project (menu, file dialog, drag and drop) and say what to do next.

Files and folders go through the engine's rule (:func:`~metst_engine.project.videos.videos_to_add`:
folders are searched, the subject is the folder holding each video); the user checks the
subjects in :class:`~metst_gui.project.add_videos_dialog.AddVideosDialog`, the videos are added
to the store, and the banner offers Analyze. A dropped project folder is handed on
(``openProjectRequested``) for the launcher to open.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6 import QtCore, QtGui, QtWidgets

from metst_engine.errors import MetstError
from metst_engine.project import DB_NAME
from metst_engine.project.videos import VideoToAdd, videos_to_add
from metst_gui.project import file_dialogs
from metst_gui.project.add_videos_dialog import AddVideosDialog
from metst_gui.project.next_step import NextStepBanner

if TYPE_CHECKING:
    from metst_gui.shell.main_window import MainWindow


def dropped_paths(event: QtGui.QDropEvent | QtGui.QDragEnterEvent) -> list[Path]:
    return [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]


class ProjectActions(QtCore.QObject):
    openProjectRequested = QtCore.Signal(Path)

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window, self.project = window, window.project
        self.dialog: AddVideosDialog | None = None
        self.error_box: QtWidgets.QMessageBox | None = None
        self.add_action = QtGui.QAction("&Add videos…", window)
        self.add_action.triggered.connect(self.choose_videos)
        window.addAction(self.add_action)
        self.banner = NextStepBanner()
        window.player_host.layout().insertWidget(0, self.banner)
        window.setAcceptDrops(True)
        window.installEventFilter(self)
        window.browser.videoChosen.connect(lambda _id: self.update_banner())
        window.analyzer.imported.connect(lambda _names: self.update_banner())
        self.update_banner()

    # ------------------------------------------------------------------ adding videos
    def choose_videos(self) -> None:
        paths = file_dialogs.choose_videos(self.window, str(self.project.folder))
        if paths:
            self.offer(paths)

    def offer(self, paths: list[Path]) -> AddVideosDialog | None:
        """Find the videos in ``paths`` and ask for their subjects (the dialog adds them on Add)."""
        if self.project.read_only:
            self._error(f"{self.project.folder} is open read-only ({self.project.read_only_reason}), so no "
                        "videos can be added. Close it in the other window and open it again.")
            return None
        found = videos_to_add(paths)
        if not found:
            names = ", ".join(str(p) for p in paths[:3])
            self._error(f"No videos found in {names}. Add video files (.mp4, .avi, .mov, …) or folders "
                        "holding them.")
            return None
        self.dialog = AddVideosDialog(found, self.window)
        self.dialog.accepted.connect(lambda d=self.dialog: self.add(d.chosen()))
        self.dialog.open()
        return self.dialog

    def add(self, videos: list[VideoToAdd]) -> list[int]:
        """Add the videos to the store (each on its own: one bad file does not stop the others)."""
        added, problems = [], []
        QtWidgets.QApplication.setOverrideCursor(QtCore.Qt.CursorShape.WaitCursor)
        try:
            for v in videos:
                try:
                    added.append(self.project.add_video(v.path, v.subject, v.video_id or None).id)
                except (MetstError, OSError) as exc:
                    problems.append(str(exc))
        finally:
            QtWidgets.QApplication.restoreOverrideCursor()
        self.window.browser.refresh(self.project)
        if added:
            self.window.browser.select_video(added[0])
            self.window.say(f"Added {len(added)} video(s)")
            self.banner.show_step(f"<b>Added {len(added)} video(s).</b> Analyze them now? Analyze finds the "
                                  "candidate micro-expressions (curves and proposals to review); it runs in the "
                                  "background.", ("Analyze now", lambda: self.analyze(added)),
                                  ("Later", self.banner.hide))
        if problems:
            self._error("Not added:\n" + "\n".join(problems) + "\n\nCheck that the file plays in a video player "
                        "(or convert it to .mp4), and give each video a different id.")
        return added

    def analyze(self, video_ids: list[int]) -> None:
        if self.window.analyzer.analyze(video_ids):
            self.banner.hide()

    # ------------------------------------------------------------------ what next
    def update_banner(self) -> None:
        videos = self.project.videos()
        if not videos:
            self.window.placeholder.setText("This project has no videos yet.")
            self.banner.show_step("<b>Next: add the videos to review.</b> Use <i>Add videos…</i>, or drop video "
                                  "files or folders on this window; the subject is taken from each video's folder.",
                                  ("Add videos…", self.choose_videos))
            return
        current = self.window.session.video
        if current is not None and not self.project.curves(current.id) and self.window.analyzer.worker is None:
            waiting = [v.id for v in videos if not self.project.curves(v.id)]
            self.banner.show_step(f"<b>{current.name} is not analyzed yet</b> ({len(waiting)} of {len(videos)} "
                                  "video(s) not analyzed): no curves and no proposals to review.",
                                  ("Analyze", lambda: self.analyze([current.id])),
                                  (f"Analyze all {len(waiting)}", lambda: self.analyze(waiting))
                                  if len(waiting) > 1 else None)
            return
        self.banner.hide()

    # ------------------------------------------------------------------ drag and drop
    def eventFilter(self, watched: QtCore.QObject, event: QtCore.QEvent) -> bool:
        if event.type() in (QtCore.QEvent.Type.DragEnter, QtCore.QEvent.Type.DragMove):
            if dropped_paths(event):
                event.acceptProposedAction()
                return True
        elif event.type() == QtCore.QEvent.Type.Drop:
            paths = dropped_paths(event)
            if paths:
                event.acceptProposedAction()
                self.dropped(paths)
                return True
        return super().eventFilter(watched, event)

    def dropped(self, paths: list[Path]) -> None:
        if len(paths) == 1 and (paths[0] / DB_NAME).is_file():
            self.openProjectRequested.emit(paths[0])
        else:
            self.offer(paths)

    def _error(self, text: str) -> None:
        self.error_box = file_dialogs.show_error(self.window, "metst", text)
