"""The review window's face proxies: attach a built one to the frame provider, build missing ones in a thread.

The proxy itself (format, crop, validation) is the engine's :mod:`metst_engine.video.face_proxy`;
this module only runs it off the GUI thread and hands the result to the player's provider.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from PySide6 import QtCore

from metst_engine.errors import MetstError
from metst_engine.video import ContainerVideo
from metst_engine.video.face_proxy import ensure_face_proxy, find_face_proxy
from metst_gui.player.frame_provider import FrameProvider


@dataclass(frozen=True)
class FaceProxyJob:
    video: str
    path: Path
    curves_npz: Path


class FaceProxyWorker(QtCore.QThread):
    """After Analyze: the face proxy of each analysed video (``metst_engine.video.face_proxy``), one after another.

    Signals: ``progressed(video, done, total)``, ``built(video, proxy_path)`` per video,
    ``failed(video, message)`` (the others go on); ``cancel()`` stops at the next frame and
    leaves no partial file.
    """

    progressed = QtCore.Signal(str, int, int)
    built = QtCore.Signal(str, str)
    failed = QtCore.Signal(str, str)

    def __init__(self, jobs: list[FaceProxyJob], proxy_dir: Path, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.jobs = list(jobs)
        self.proxy_dir = Path(proxy_dir)
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    def run(self) -> None:
        for job in self.jobs:
            if self._cancel.is_set():
                return
            try:
                path = ensure_face_proxy(job.path, job.curves_npz, self.proxy_dir, cancel=self._cancel.is_set,
                                         progress=lambda d, t, v=job.video: self.progressed.emit(v, d, t))
            except (MetstError, OSError, ValueError) as exc:
                self.failed.emit(job.video, str(exc))
                continue
            if path is not None:
                self.built.emit(job.video, str(path))


class FaceProxyBuilder(QtCore.QObject):
    """The review window's face proxies (in ``proxy_dir``): attach a built one to a provider, build missing
    ones in a :class:`FaceProxyWorker`, one build at a time.

    Signals: ``built(video, proxy_path)``; ``message(text)`` for the status bar.
    """

    built = QtCore.Signal(str, str)
    message = QtCore.Signal(str)

    def __init__(self, proxy_dir: Path, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.proxy_dir = Path(proxy_dir)
        self.worker: FaceProxyWorker | None = None
        self.closed = False

    def attach(self, provider: FrameProvider, video: str, curves_npz: Path, *, build: bool = True) -> None:
        """Let ``provider``'s face view read the face proxy for this curves file; build it when it is missing
        or unusable (e.g. a build cut short when the app closed) and ``build``. Frame folders need none."""
        if not isinstance(provider.video, ContainerVideo):
            return
        try:
            found = find_face_proxy(provider.video, curves_npz, self.proxy_dir)
        except MetstError as exc:
            self.message.emit(f"face proxy: {exc}")
            return
        if (found is None or not provider.use_face_proxy(found)) and build:
            self.build([FaceProxyJob(video, provider.video.path, Path(curves_npz))])

    def build(self, jobs: list[FaceProxyJob]) -> None:
        """Build (or check) these face proxies in the background; the jobs of a running build are kept.
        Nothing starts after :meth:`shutdown` (an event queued before the window closed may still ask)."""
        if self.closed:
            return
        if self.worker is not None:
            jobs = [j for j in self.worker.jobs if j.video not in {k.video for k in jobs}] + jobs
        self.stop()
        if not jobs:
            return
        worker = FaceProxyWorker(jobs, self.proxy_dir, parent=self)
        # no per-frame messages: the status bar belongs to the reviewer's own feedback (a drag's frame, ...)
        worker.progressed.connect(lambda v, d, t: d == 1 and self.message.emit(
            f"Preparing the face view of {v} for exact frames (in the background)"))
        worker.failed.connect(lambda v, msg: self.message.emit(f"face proxy {v}: {msg}"))
        worker.built.connect(self.built)
        self.worker = worker
        worker.start()

    def shutdown(self) -> None:
        """The window is closing: stop the build and start none again (a QThread still running when its
        window is destroyed takes the whole app down)."""
        self.closed = True
        self.stop()

    def stop(self) -> None:
        """Cancel a running build (it stops at the next frame and leaves no partial file)."""
        if self.worker is not None:
            self.worker.cancel()
            self.worker.wait()
            self.worker.deleteLater()
            self.worker = None
