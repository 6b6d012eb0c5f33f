"""The video player: exactly frame i on screen, played by a wall clock, stepped, looped, zoomed.

Plain data in (a ``VideoSource`` for the metadata, ranges of frames, a face box in source
pixels), signals out; it knows nothing of the project store, so the review workspace wires
its interval table and keys to these slots. Decoding happens in a :class:`FrameProvider`.

Playback runs on a wall clock (media time = start time + elapsed x speed), and each tick
asks for the frame on screen at that time: when decoding is slower than the clock, frames
are dropped instead of the video falling behind (200 fps material at 4x cannot be shown
frame by frame on a 60 Hz screen anyway).
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Sequence

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from metst_engine.video import VideoSource
from metst_gui.player.frame_cache import qimage_to_bgr, source_rect
from metst_gui.player.frame_provider import FrameProvider

MIN_SPEED, MAX_SPEED = 0.05, 4.0
SPEED_PRESETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0)
_MIN_TICK_MS, _MAX_TICK_MS = 8, 40

FrameRange = tuple[int, int]          # inclusive (onset, offset) in source frames
CropBox = tuple[float, float, float, float]   # x0, y0, x1, y1 in source pixels


class FrameView(QtWidgets.QWidget):
    """Paints one frame fitted to the widget (aspect kept), optionally zoomed to a box.

    The image may be a smaller proxy preview: it is mapped onto the source's pixel grid, so
    the zoom box and the layout do not jump when the exact frame replaces it.
    """

    def __init__(self, source_size: tuple[int, int], parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(160, 120)
        self.setSizePolicy(QtWidgets.QSizePolicy.Policy.Expanding, QtWidgets.QSizePolicy.Policy.Expanding)
        self.source_size = source_size
        self.image: QtGui.QImage | None = None
        self.exact = False
        self.zoom_box: CropBox | None = None

    def set_image(self, image: QtGui.QImage, exact: bool) -> None:
        self.image, self.exact = image, exact
        self.update()

    def set_zoom_box(self, box: CropBox | None) -> None:
        self.zoom_box = box
        self.update()

    def visible_source_rect(self) -> QtCore.QRectF:
        """The part of the frame on screen, in source pixels."""
        w, h = self.source_size
        if self.zoom_box is None:
            return QtCore.QRectF(0, 0, w, h)
        x0, y0, x1, y1 = self.zoom_box
        return QtCore.QRectF(QtCore.QPointF(x0, y0), QtCore.QPointF(x1, y1)).intersected(QtCore.QRectF(0, 0, w, h))

    def target_rect(self) -> QtCore.QRectF:
        """Where the visible part lands in the widget (centred, aspect kept)."""
        src = self.visible_source_rect()
        if src.isEmpty():
            return QtCore.QRectF()
        scale = min(self.width() / src.width(), self.height() / src.height())
        tw, th = src.width() * scale, src.height() * scale
        return QtCore.QRectF((self.width() - tw) / 2, (self.height() - th) / 2, tw, th)

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:
        painter = QtGui.QPainter(self)
        painter.fillRect(self.rect(), QtGui.QColor(20, 20, 20))
        if self.image is not None and not self.image.isNull():
            vis, target = self.visible_source_rect(), self.target_rect()
            shown = source_rect(self.image, self.source_size)      # a face-proxy crop shows part of the frame
            part = vis.intersected(shown)
            if not part.isEmpty() and not vis.isEmpty():
                k = target.width() / vis.width()
                sx, sy = self.image.width() / shown.width(), self.image.height() / shown.height()
                img_rect = QtCore.QRectF((part.x() - shown.x()) * sx, (part.y() - shown.y()) * sy,
                                         part.width() * sx, part.height() * sy)
                dest = QtCore.QRectF(target.x() + (part.x() - vis.x()) * k, target.y() + (part.y() - vis.y()) * k,
                                     part.width() * k, part.height() * k)
                painter.setRenderHint(QtGui.QPainter.RenderHint.SmoothPixmapTransform)
                painter.drawImage(dest, self.image, img_rect)
            if not self.exact:
                painter.setPen(QtGui.QColor(255, 200, 0))
                painter.drawText(self.rect().adjusted(6, 4, -6, -4),
                                 QtCore.Qt.AlignmentFlag.AlignTop | QtCore.Qt.AlignmentFlag.AlignRight, "preview")
        painter.end()


class PlaybackClock:
    """Media time from wall time: ``t = t_start + (now - wall_start) * speed``."""

    def __init__(self) -> None:
        self.wall_start = 0.0
        self.media_start = 0.0
        self.speed = 1.0

    def restart(self, media_time: float, speed: float) -> None:
        self.wall_start, self.media_start, self.speed = time.perf_counter(), media_time, speed

    def now(self) -> float:
        return self.media_start + (time.perf_counter() - self.wall_start) * self.speed


class Player(QtWidgets.QWidget):
    """Video view with transport controls; every method takes and returns source frame indices.

    Signals: ``positionChanged(index, seconds)`` whenever the wanted frame changes (the
    playhead); ``frameShown(index, exact)`` when pixels reach the screen (``exact`` False for a
    proxy preview); ``playingChanged(bool)``; ``speedChanged(float)``; ``loopChanged(onset,
    offset)`` (-1, -1 when off); ``intervalReached(onset, offset)`` after PageUp / PageDown went to one;
    ``faceZoomChosen(bool)`` when the user switches between the face crop and the full frame (Z or
    the Face button); the choice holds for the next face box.
    """

    positionChanged = QtCore.Signal(int, float)
    frameShown = QtCore.Signal(int, bool)
    playingChanged = QtCore.Signal(bool)
    speedChanged = QtCore.Signal(float)
    loopChanged = QtCore.Signal(int, int)
    intervalReached = QtCore.Signal(int, int)
    faceZoomChosen = QtCore.Signal(bool)

    def __init__(self, video: VideoSource, provider: FrameProvider | None = None,
                 parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.video = video
        self.n_frames = video.n_frames
        self.fps = float(video.fps)
        self._timestamps = np.asarray(video.timestamps, dtype=np.float64)
        self._owns_provider = provider is None
        self.provider = provider or FrameProvider(video)
        self.provider.frameReady.connect(self._on_exact)
        self.provider.previewReady.connect(self._on_preview)
        self.index = -1
        self.shown_index = -1
        self.speed = 1.0
        self.loop_range: FrameRange | None = None
        self.face_box: CropBox | None = None
        self.prefer_face_zoom = True          # a known face box is shown zoomed unless the user chose otherwise
        self._intervals: list[FrameRange] = []
        self._clock = PlaybackClock()
        self._timer = QtCore.QTimer(self)
        self._timer.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._tick)

        self.view = FrameView(video.size)
        self._build_controls()
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.slider)
        layout.addLayout(self._controls)
        self.seek(0)

    # -- controls -----------------------------------------------------------------------
    def _build_controls(self) -> None:
        self.slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.slider.setRange(0, self.n_frames - 1)
        self.slider.valueChanged.connect(self.seek)
        style = self.style()
        self.play_button = QtWidgets.QToolButton()
        self.play_button.setIcon(style.standardIcon(QtWidgets.QStyle.StandardPixmap.SP_MediaPlay))
        self.play_button.setToolTip("Play / pause (Space)")
        self.play_button.clicked.connect(self.toggle_play)
        self.speed_box = QtWidgets.QComboBox()
        self.speed_box.setEditable(True)
        self.speed_box.setInsertPolicy(QtWidgets.QComboBox.InsertPolicy.NoInsert)
        self.speed_box.setToolTip("Playback speed (0.05x - 4x)")
        for s in SPEED_PRESETS:
            self.speed_box.addItem(f"{s:g}x", s)
        self.speed_box.setCurrentIndex(SPEED_PRESETS.index(1.0))
        self.speed_box.lineEdit().editingFinished.connect(self._speed_edited)
        self.speed_box.activated.connect(self._speed_chosen)
        self.loop_button = QtWidgets.QToolButton()
        self.loop_button.setText("Loop")
        self.loop_button.setCheckable(True)
        self.loop_button.setToolTip("Loop the current interval (L)")
        self.loop_button.clicked.connect(lambda on: self.loop_current_interval() if on else self.clear_loop())
        self.zoom_button = QtWidgets.QToolButton()
        self.zoom_button.setText("Face")
        self.zoom_button.setCheckable(True)
        self.zoom_button.setEnabled(False)
        self.zoom_button.setToolTip("Face crop / full frame (Z)")
        self.zoom_button.toggled.connect(self.set_zoom_to_face)
        self.zoom_button.clicked.connect(self.choose_face_zoom)
        self.position_label = QtWidgets.QLabel()
        self.position_label.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self._controls = QtWidgets.QHBoxLayout()
        for w in (self.play_button, self.speed_box, self.loop_button, self.zoom_button):
            self._controls.addWidget(w)
        self._controls.addStretch(1)
        self._controls.addWidget(self.position_label)

    def install_shortcuts(self, window: QtWidgets.QWidget) -> None:
        """The player's keys on ``window``: Space, Left/Right, Shift+Left/Right, PageUp/PageDown, L, Z."""
        Key, Mod = QtCore.Qt.Key, QtCore.Qt.KeyboardModifier
        bindings = [
            (QtGui.QKeySequence(Key.Key_Space), self.toggle_play),
            (QtGui.QKeySequence(Key.Key_Right), lambda: self.step(1)),
            (QtGui.QKeySequence(Key.Key_Left), lambda: self.step(-1)),
            (QtGui.QKeySequence(Mod.ShiftModifier | Key.Key_Right), lambda: self.jump_seconds(1.0)),
            (QtGui.QKeySequence(Mod.ShiftModifier | Key.Key_Left), lambda: self.jump_seconds(-1.0)),
            (QtGui.QKeySequence(Key.Key_PageDown), self.next_interval),
            (QtGui.QKeySequence(Key.Key_PageUp), self.previous_interval),
            (QtGui.QKeySequence(Key.Key_L), self.toggle_loop),
            (QtGui.QKeySequence(Key.Key_Z), self.toggle_face_zoom),
        ]
        for seq, slot in bindings:
            QtGui.QShortcut(seq, window, activated=slot)

    # -- position -----------------------------------------------------------------------
    def seek(self, index: int) -> None:
        """Show exactly frame ``index`` (clamped); while playing, playback continues from there."""
        self._go(index)
        if self.is_playing():
            self._clock.restart(self.time_of(self.index), self.speed)

    def step(self, frames: int) -> None:
        """Move by ``frames`` (Left/Right: one frame), pausing playback first."""
        self.pause()
        self.provider.set_direction(frames)
        self._go(self.index + frames)

    def jump_seconds(self, seconds: float) -> None:
        """Move to the frame nearest ``seconds`` from the current one (Shift+Left/Right: one second)."""
        self.provider.set_direction(1 if seconds >= 0 else -1)
        self.seek(self.nearest_index(self.time_of(self.index) + seconds))

    def time_of(self, index: int) -> float:
        return float(self._timestamps[index])

    def nearest_index(self, t: float) -> int:
        """The frame whose timestamp is closest to ``t`` seconds (clamped)."""
        k = int(np.searchsorted(self._timestamps, t))
        if k <= 0:
            return 0
        if k >= self.n_frames:
            return self.n_frames - 1
        return k if self._timestamps[k] - t < t - self._timestamps[k - 1] else k - 1

    def _go(self, index: int) -> None:
        index = int(min(max(int(index), 0), self.n_frames - 1))
        if index == self.index:
            return
        self.index = index
        if self.slider.value() != index:
            self.slider.blockSignals(True)
            self.slider.setValue(index)
            self.slider.blockSignals(False)
        self._update_label()
        self.positionChanged.emit(index, self.time_of(index))
        self.provider.request(index)

    # -- frames from the provider ---------------------------------------------------------
    def _on_exact(self, index: int, image: QtGui.QImage) -> None:
        wrapped = self.shown_index > self.index          # playback looped back to the loop's start
        if index == self.index or (self.is_playing() and index <= self.index
                                   and (index > self.shown_index or wrapped)):
            self._show(index, image, exact=True)

    def _on_preview(self, index: int, image: QtGui.QImage) -> None:
        if index == self.index and not (self.shown_index == index and self.view.exact):
            self._show(index, image, exact=False)

    def _show(self, index: int, image: QtGui.QImage, exact: bool) -> None:
        self.shown_index = index
        self.view.set_image(image, exact)
        self._update_label()
        self.frameShown.emit(index, exact)

    @property
    def shown_exact(self) -> bool:
        """True when the pixels on screen are exactly ``VideoSource.frame(shown_index)``."""
        return self.view.exact and self.shown_index == self.index

    def shown_bgr(self) -> np.ndarray | None:
        """The pixels of the image on screen as BGR (what tests compare with ``VideoSource.frame``)."""
        return None if self.view.image is None else qimage_to_bgr(self.view.image)

    def _update_label(self) -> None:
        t = self.time_of(self.index)
        state = "" if self.shown_index == self.index and self.view.exact else "  (decoding)"
        self.position_label.setText(f"frame {self.index} / {self.n_frames - 1}   {t:8.3f} s   "
                                    f"{self.fps:.2f} fps   {self.speed:g}x{state}")

    # -- playback -------------------------------------------------------------------------
    def is_playing(self) -> bool:
        return self._timer.isActive()

    def play(self) -> None:
        """Play from the current frame (from the loop's start when outside the loop)."""
        if self.is_playing():
            return
        if self.loop_range is not None and not self.loop_range[0] <= self.index <= self.loop_range[1]:
            self._go(self.loop_range[0])
        elif self.loop_range is None and self.index >= self.n_frames - 1:
            self._go(0)
        self._clock.restart(self.time_of(self.index), self.speed)
        self.provider.set_direction(1)
        self.provider.set_playing(True)
        self._timer.start(self._tick_ms())
        self.play_button.setIcon(self.style().standardIcon(QtWidgets.QStyle.StandardPixmap.SP_MediaPause))
        self.playingChanged.emit(True)

    def pause(self) -> None:
        if not self.is_playing():
            return
        self._timer.stop()
        self.provider.set_playing(False)
        self.provider.request(self.index)       # the exact frame of where we stopped
        self.play_button.setIcon(self.style().standardIcon(QtWidgets.QStyle.StandardPixmap.SP_MediaPlay))
        self.playingChanged.emit(False)

    def toggle_play(self) -> None:
        self.pause() if self.is_playing() else self.play()

    def set_speed(self, speed: float) -> None:
        """Playback speed, clamped to 0.05x - 4x; takes effect at once while playing."""
        speed = float(min(max(speed, MIN_SPEED), MAX_SPEED))
        if speed == self.speed:
            return
        self.speed = speed
        self.speed_box.setEditText(f"{speed:g}x")
        if self.is_playing():
            self._clock.restart(self.time_of(self.index), speed)
            self._timer.setInterval(self._tick_ms())
        self._update_label()
        self.speedChanged.emit(speed)

    def _speed_chosen(self, item: int) -> None:
        preset = self.speed_box.itemData(item)
        if preset is None:
            self._speed_edited()
        else:
            self.set_speed(float(preset))

    def _speed_edited(self) -> None:
        text = self.speed_box.currentText().strip().rstrip("xX ")
        try:
            self.set_speed(float(text))
        except ValueError:
            self.speed_box.setEditText(f"{self.speed:g}x")

    def _tick_ms(self) -> int:
        """One tick per displayed frame, but no faster than ~120 Hz and no slower than 25 Hz."""
        frame_ms = 1000.0 / max(self.fps * self.speed, 1e-6)
        return int(min(max(frame_ms, _MIN_TICK_MS), _MAX_TICK_MS))

    def _tick(self) -> None:
        target = self.video.index_at(self._clock.now())
        if self.loop_range is not None:
            lo, hi = self.loop_range
            if target > hi or target < lo:
                self._clock.restart(self.time_of(lo), self.speed)
                target = lo
        elif target >= self.n_frames - 1:
            self._go(self.n_frames - 1)
            self.pause()
            return
        self._go(target)

    # -- loop and intervals -----------------------------------------------------------------
    def set_loop_range(self, onset: int, offset: int) -> None:
        """Loop playback over frames onset..offset (inclusive)."""
        lo, hi = sorted((int(onset), int(offset)))
        lo, hi = max(lo, 0), min(hi, self.n_frames - 1)
        self.loop_range = (lo, hi)
        self.loop_button.setChecked(True)
        if self.is_playing() and not lo <= self.index <= hi:
            self.seek(lo)
        self.loopChanged.emit(lo, hi)

    def clear_loop(self) -> None:
        self.loop_range = None
        self.loop_button.setChecked(False)
        self.loopChanged.emit(-1, -1)

    def toggle_loop(self) -> None:
        self.clear_loop() if self.loop_range is not None else self.loop_current_interval()

    def set_intervals(self, ranges: Sequence[FrameRange]) -> None:
        """The intervals that previous/next and loop navigate (inclusive source frames)."""
        self._intervals = sorted((int(a), int(b)) for a, b in ranges)

    def current_interval(self) -> FrameRange | None:
        """The interval containing the current frame, else the last one starting before it."""
        containing = [r for r in self._intervals if r[0] <= self.index <= r[1]]
        if containing:
            return containing[-1]
        k = bisect.bisect_right([r[0] for r in self._intervals], self.index) - 1
        return self._intervals[k] if k >= 0 else None

    def loop_current_interval(self) -> None:
        interval = self.current_interval()
        if interval is None:
            self.loop_button.setChecked(False)
            return
        self.set_loop_range(*interval)

    def next_interval(self) -> None:
        """Go to the onset of the next interval (the loop follows when on)."""
        onsets = [r[0] for r in self._intervals]
        k = bisect.bisect_right(onsets, self.index)
        if k < len(self._intervals):
            self._go_to_interval(self._intervals[k])

    def previous_interval(self) -> None:
        onsets = [r[0] for r in self._intervals]
        k = bisect.bisect_left(onsets, self.index) - 1
        if k >= 0:
            self._go_to_interval(self._intervals[k])

    def _go_to_interval(self, interval: FrameRange) -> None:
        if self.loop_range is not None:
            self.set_loop_range(*interval)
        self.seek(interval[0])
        self.intervalReached.emit(*interval)

    # -- face zoom ------------------------------------------------------------------------
    def set_face_box(self, box: CropBox | None) -> None:
        """The face crop (x0, y0, x1, y1, source pixels) that zoom shows; None disables zoom."""
        self.face_box = None if box is None else tuple(float(v) for v in box)  # type: ignore[assignment]
        self.zoom_button.setEnabled(box is not None)
        self.zoom_button.setChecked(box is not None and self.prefer_face_zoom)
        if self.zoom_button.isChecked():
            self.view.set_zoom_box(self.face_box)

    def set_zoom_to_face(self, on: bool) -> None:
        on = bool(on) and self.face_box is not None
        if self.zoom_button.isChecked() != on:
            self.zoom_button.setChecked(on)      # re-enters through toggled
            return
        self.view.set_zoom_box(self.face_box if on else None)
        self.provider.set_face_view(on)            # the face proxy's crops, when there is one

    def choose_face_zoom(self, on: bool) -> None:
        """The user's choice: the face crop (True) or the full frame; kept for the next videos."""
        self.prefer_face_zoom = bool(on)
        self.set_zoom_to_face(on)
        self.faceZoomChosen.emit(self.prefer_face_zoom)

    def toggle_face_zoom(self) -> None:
        """Z: face crop <-> full frame (nothing to switch without a face box)."""
        if self.face_box is not None:
            self.choose_face_zoom(not self.zoom_button.isChecked())

    # -- lifecycle ------------------------------------------------------------------------
    def close_provider(self) -> None:
        """Stop playback and, if this player created it, the provider's threads."""
        self._timer.stop()
        if self._owns_provider:
            self.provider.close()

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        self.close_provider()
        super().closeEvent(event)
