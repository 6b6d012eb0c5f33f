"""Finishing a video's review, resuming where you left off, why a peak got no proposal, provisional intervals.

Real events on the real widgets (menu action, dialog buttons clicked with the mouse, keys,
mouse moves over the curves); the store is re-read through a fresh read-only ``Project.open``.
The demo-project fixtures are those of ``test_gui_review`` (imported, hence F811 on their use).
"""
# ruff: noqa: F811

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6 import QtCore, QtWidgets
from test_gui_review import (  # noqa: F401  (fixtures)
    REVIEWER,
    WAIT_MS,
    click_plot,
    click_row,
    demo_source,
    folder,
    make_window,
    open_busy_video,
    pending_rows,
    settings,
    stored_intervals,
    window,
)

from metst_engine.project import Project

Key = QtCore.Qt.Key
Left = QtCore.Qt.MouseButton.LeftButton


def answer_pending_dialog(qtbot, button: str, seen: list[str]) -> None:
    """When the pending dialog comes up, note its text and click ``button`` (object name) with the mouse."""
    def click() -> None:
        dialog = QtWidgets.QApplication.activeModalWidget()
        if dialog is None or dialog.objectName() != "pendingDialog":
            QtCore.QTimer.singleShot(20, click)
            return
        seen.append(dialog.text())
        target = dialog.findChild(QtWidgets.QPushButton, button)
        seen.append(target.text())
        qtbot.mouseClick(target, Left)
    QtCore.QTimer.singleShot(0, click)


def video_row(folder: Path, name: str):
    with Project.open(folder, read_only=True) as p:
        return p.video(name)


# ------------------------------------------------------------------ mark complete with pending intervals
def test_mark_complete_with_pending_asks_cancel_go_to_first_or_reject_all(qtbot, window, folder):
    vid = open_busy_video(window, qtbot)
    name = window.session.video.name
    pending = pending_rows(window)
    n = len(pending)
    assert n >= 2

    seen: list[str] = []
    answer_pending_dialog(qtbot, "cancelComplete", seen)
    window.complete_action.trigger()                       # what the Review menu item does
    assert f"{n} intervals are still pending" in seen[0]
    assert not window.complete_action.isChecked()
    assert not video_row(folder, name).complete
    assert [r.state for r in stored_intervals(folder, name)].count("pending") == n

    seen.clear()
    window.player.seek(window.session.video.n_frames - 1)
    answer_pending_dialog(qtbot, "goToPending", seen)
    window.complete_action.trigger()
    assert seen[1] == "Go to the first pending"
    first = pending[0]
    assert window.session.selected == first.id and window.table.selected_id() == first.id
    assert window.player.index == first.onset
    assert not window.complete_action.isChecked() and not video_row(folder, name).complete

    seen.clear()
    answer_pending_dialog(qtbot, "rejectAllPending", seen)
    window.complete_action.trigger()
    assert seen[1] == f"Reject all {n} and complete"
    assert window.complete_action.isChecked()
    after = {r.id: r.state for r in stored_intervals(folder, name)}
    assert all(after[r.id] == "rejected" for r in pending) and video_row(folder, name).complete
    assert window.session.stacks.stack(vid).count() == 1          # one step on the Undo stack

    qtbot.waitUntil(lambda: QtWidgets.QApplication.activeWindow() is window, timeout=WAIT_MS)
    qtbot.keyClick(window.table, Key.Key_Z, QtCore.Qt.KeyboardModifier.ControlModifier)   # Undo: one key
    qtbot.waitUntil(lambda: not window.complete_action.isChecked(), timeout=WAIT_MS)
    again = {r.id: r.state for r in stored_intervals(folder, name)}
    assert all(again[r.id] == "pending" for r in pending) and not video_row(folder, name).complete


# ------------------------------------------------------------------ resume where the reviewer left off
def test_reopening_the_project_resumes_on_the_video_and_frame_left(qtbot, folder, settings):
    win = make_window(qtbot, folder, settings)
    first = win.session.video.id
    second = win.browser.video_ids()[1]
    assert second != first
    win.browser.select_video(second)
    qtbot.waitUntil(lambda: win.player is not None and win.player.shown_index >= 0, timeout=WAIT_MS)
    click_plot(qtbot, win.timeline, "flow", 40, 0.0)            # seek by clicking the curves
    qtbot.waitUntil(lambda: win.player.index == 40, timeout=WAIT_MS)
    win.close()
    with Project.open(folder, read_only=True, annotator=REVIEWER) as p:
        saved = p.last_position()
    assert (saved.video_id, saved.frame) == (second, 40)

    again = make_window(qtbot, folder, settings)
    try:
        assert again.session.video.id == second
        qtbot.waitUntil(lambda: again.player is not None and again.player.shown_index == 40, timeout=WAIT_MS)
        assert again.browser.selected_video_ids() == [second]
    finally:
        again.close()


# ------------------------------------------------------------------ why a clear peak has no proposal
def test_hovering_a_rejected_peak_explains_why_it_has_no_proposal(qtbot, window):
    from metst_gui.review.timeline_hints import peak_explanation

    timeline = window.timeline
    peaks = []
    for vid in window.browser.video_ids():
        window.browser.select_video(vid)
        peaks = timeline.rejected_hints.peaks
        if peaks:
            break
    assert peaks, "the demo project has peaks the spotter left without a proposal"
    peak = max(peaks, key=lambda p: p.score)
    assert timeline.rejected_hints.markers.data["x"].tolist() == [p.apex for p in peaks]
    timeline.set_follow_playhead(False)
    timeline.set_x_range(max(peak.apex - 60, 0), peak.apex + 60)
    vb = timeline.plots["spotting"].getViewBox()
    view = timeline.graphics

    def at(frame: float, y: float) -> QtCore.QPoint:
        return view.mapFromScene(vb.mapViewToScene(QtCore.QPointF(frame, y)))

    qtbot.mouseMove(view.viewport(), at(peak.apex, peak.score))
    qtbot.waitUntil(lambda: timeline.rejected_hints.hover_text != "", timeout=WAIT_MS)
    text = timeline.rejected_hints.hover_text
    assert text == peak_explanation(peak) and peak.reason in text and f"frame {peak.apex}" in text
    assert view.viewport().toolTip() == text
    assert QtWidgets.QToolTip.text() == text
    others = [p.apex for p in peaks if p is not peak]
    away = peak.apex + 40 if all(abs(a - peak.apex - 40) > 10 for a in others) else peak.apex - 40
    QtWidgets.QToolTip.hideText()                 # (offscreen, the shown tip window takes the next move)
    qtbot.waitUntil(lambda: not QtWidgets.QToolTip.isVisible(), timeout=WAIT_MS)
    qtbot.mouseMove(view.viewport(), at(away, peak.score))
    qtbot.waitUntil(lambda: timeline.rejected_hints.hover_text == "", timeout=WAIT_MS)


def test_peak_explanation_names_the_interval_it_was_merged_into():
    from metst_engine.intervals import RejectedPeak
    from metst_gui.review.timeline_hints import peak_explanation

    text = peak_explanation(RejectedPeak(130, 0.9, "merged into the stronger brow spot", by=120))
    assert text == "No proposal at frame 130 (score 0.90): merged into the stronger brow spot at frame 120"
    assert peak_explanation(RejectedPeak(7, 0.5, "shorter than 3 frames: jitter")).endswith(
        "shorter than 3 frames: jitter")


# ------------------------------------------------------------------ label edited, shown in the table
def test_an_accepted_interval_whose_emotion_was_changed_says_label_edited(qtbot, window, folder):
    open_busy_video(window, qtbot)
    target = pending_rows(window)[0]
    click_row(qtbot, window.table, target.id)
    qtbot.keyClick(window.table, Key.Key_A)                 # accept
    qtbot.keyClick(window.table, Key.Key_2)                 # then change the emotion only
    row = window.table.interval_model.row_of(target.id)
    state_column = window.table.interval_model.columnCount() - 3
    cell = window.table.interval_model.index(row, state_column)
    assert cell.data() == "accepted (label edited)"
    with Project.open(folder, read_only=True) as p:
        saved = p.interval(target.id)
    assert saved.state == "accepted" and saved.label_edited


# ------------------------------------------------------------------ provisional intervals while Analyze runs
@pytest.fixture(scope="module")
def long_video(tmp_path_factory) -> Path:
    """A 20 s synthetic face with micro-expressions from the first seconds on."""
    from metst_engine.synth import SynthConfig, generate

    config = SynthConfig(subjects=1, videos_per_subject=1, seconds=20.0, me_per_minute=30.0, macro_per_minute=4.0,
                         blink_per_minute=10.0, seed=0)
    return generate(tmp_path_factory.mktemp("long") / "videos", config).videos[0].path


def test_provisional_intervals_show_before_the_analysis_ends(qtbot, long_video, settings, tmp_path, monkeypatch):
    monkeypatch.setenv("METST_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "project"
    with Project.create(folder, annotator=REVIEWER) as p:
        p.add_video(long_video, "s01", "long")
    win = make_window(qtbot, folder, settings)
    try:
        n_frames = win.session.video.n_frames
        seen: list[tuple[str, int, int, str]] = []     # (event, intervals shown, frames they cover, tag)
        win.analyzer.provisional.connect(lambda _v: seen.append(
            ("partial", len(win.timeline.provisional.marks), win.timeline.provisional.upto_frame,
             win.timeline.provisional.tag.toPlainText())))
        assert win.analyze([win.session.video.id])
        assert stored_intervals(folder, "long") == []
        win.analyzer.worker.succeeded.connect(lambda _a: seen.append(("succeeded", 0, 0, "")))
        qtbot.waitUntil(lambda: win.analyzer.worker is None, timeout=300_000)
        done = seen.index(("succeeded", 0, 0, ""))
        early = [(k, upto, tag) for event, k, upto, tag in seen[:done] if event == "partial" and k and upto < n_frames]
        assert early, f"a provisional interval in the first part, shown before the run ended: {seen}"
        assert all(tag.startswith("provisional:") for _, _, tag in early)
        assert win.timeline.provisional.marks == [] and win.timeline.provisional.tag.toPlainText() == ""
        assert stored_intervals(folder, "long"), "the final intervals are imported"
        assert len(win.timeline.intervals) == len(stored_intervals(folder, "long"))
    finally:
        win.close()
