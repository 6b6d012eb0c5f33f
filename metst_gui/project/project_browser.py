"""Project browser: subjects and their videos with review progress (pending / total, complete).

Choosing a video emits ``videoChosen(video_id)``; several can be selected for Analyze
(``selected_video_ids``). ``refresh`` re-reads the progress from the store after edits.
"""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from metst_engine.project import Project

_VIDEO_ROLE = QtCore.Qt.ItemDataRole.UserRole


def progress_text(pending: int, total: int) -> str:
    """Pending first: imported ground truth arrives accepted, so "reviewed" would overstate the work done."""
    return "no intervals" if total == 0 else f"{pending} pending of {total}"


class ProjectBrowser(QtWidgets.QTreeWidget):
    videoChosen = QtCore.Signal(int)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setColumnCount(3)
        self.setHeaderLabels(["Subject / video", "Intervals", "Done"])
        self.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setUniformRowHeights(True)
        self.currentItemChanged.connect(self._current_changed)
        self._video_items: dict[int, QtWidgets.QTreeWidgetItem] = {}

    def refresh(self, project: Project) -> None:
        """Rebuild from the store, keeping the current video."""
        current = self.current_video_id()
        self.blockSignals(True)
        try:
            self.clear()
            self._video_items = {}
            progress = {p.video: p for p in project.progress()}
            subjects: dict[str, QtWidgets.QTreeWidgetItem] = {}
            for s in project.subject_progress():
                item = QtWidgets.QTreeWidgetItem(self, [s.subject, progress_text(s.pending, s.total),
                                                        f"{s.videos_complete}/{s.videos}"])
                item.setFlags(item.flags() & ~QtCore.Qt.ItemFlag.ItemIsSelectable)
                subjects[s.subject] = item
            for v in project.videos():
                p = progress[v.name]
                item = QtWidgets.QTreeWidgetItem(subjects[v.subject], [v.name, progress_text(p.pending, p.total),
                                                                      "✓" if v.complete else ""])
                item.setData(0, _VIDEO_ROLE, v.id)
                if not v.exists:
                    item.setToolTip(0, f"missing: {v.path}")
                    item.setForeground(0, self.palette().placeholderText())
                self._video_items[v.id] = item
            self.expandAll()
            for col in range(3):
                self.resizeColumnToContents(col)
            if current in self._video_items:
                self.setCurrentItem(self._video_items[current])
        finally:
            self.blockSignals(False)

    def video_ids(self) -> list[int]:
        """Every video in browser order."""
        return list(self._video_items)

    def current_video_id(self) -> int | None:
        item = self.currentItem()
        value = None if item is None else item.data(0, _VIDEO_ROLE)
        return None if value is None else int(value)

    def select_video(self, video_id: int) -> None:
        """Make this video current (emits ``videoChosen``)."""
        item = self._video_items.get(video_id)
        if item is not None:
            self.setCurrentItem(item)

    def selected_video_ids(self) -> list[int]:
        """Selected videos, or the current one when none is selected."""
        ids = [int(i.data(0, _VIDEO_ROLE)) for i in self.selectedItems() if i.data(0, _VIDEO_ROLE) is not None]
        current = self.current_video_id()
        return ids or ([current] if current is not None else [])

    def _current_changed(self, item: QtWidgets.QTreeWidgetItem | None, _previous: object) -> None:
        value = None if item is None else item.data(0, _VIDEO_ROLE)
        if value is not None:
            self.videoChosen.emit(int(value))
