"""Stopping a long CLI verb cleanly: SIGTERM / SIGINT become a cancel event the verb polls.

Used by ``metst extract / predict / train`` and ``metst project analyze`` (a GUI's
``QProcess.terminate()`` stops a run this way; exit code 4 then says "continue with the same
command").
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger("metst")


@contextmanager
def cancel_on_signals() -> Iterator[threading.Event]:
    """SIGTERM / SIGINT set the returned event (long verbs poll it and stop at a safe point);
    a second signal interrupts at once. Lets a GUI's QProcess.terminate() stop a run cleanly."""
    requested = threading.Event()

    def handler(signum: int, frame: object) -> None:
        if requested.is_set():
            raise KeyboardInterrupt
        requested.set()
        log.warning("%s: stopping at the next safe point (again to interrupt now)", signal.Signals(signum).name)

    if threading.current_thread() is not threading.main_thread():   # signals reach the main thread only
        yield requested
        return
    old = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield requested
    finally:
        for s, h in old.items():
            signal.signal(s, h)
