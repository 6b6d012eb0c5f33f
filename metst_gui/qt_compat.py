"""Work around a reference-count bug of PySide6 6.12's ``Signal.emit`` on Python < 3.12.

``SignalInstance.emit()`` returns ``True`` without taking a new reference, so every emit
from Python (ours and pyqtgraph's, dozens per second while playing) drops one reference
to ``True``. On Python 3.12+ ``True`` is immortal and nothing happens; on 3.11 its count
reaches zero after a few thousand emits and the interpreter aborts with "Fatal Python
error: bool_dealloc: deallocating True or False" (seen here with PySide6 6.12.0 / CPython
3.11). The fix does what 3.12 does: give ``True`` and ``False`` a reference count that can
never run down. It is applied only when a probe shows the leak.
"""

from __future__ import annotations

import ctypes
import sys

from PySide6 import QtCore

_IMMORTAL_REFS = 1 << 40


def emit_leaks_true() -> bool:
    """True when ``Signal.emit()`` drops a reference to ``True`` (the PySide6 6.12 bug)."""

    class _Probe(QtCore.QObject):
        ping = QtCore.Signal()

    probe = _Probe()
    before = sys.getrefcount(True)
    for _ in range(8):
        probe.ping.emit()
    leaked = sys.getrefcount(True) < before
    ctypes.c_ssize_t.from_address(id(True)).value += max(0, before - sys.getrefcount(True))
    return leaked


def protect_bools_from_emit_leak() -> bool:
    """Make ``True``/``False`` effectively immortal if emits leak them; True if applied."""
    if sys.version_info >= (3, 12) or not emit_leaks_true():
        return False
    for obj in (True, False):
        ctypes.c_ssize_t.from_address(id(obj)).value += _IMMORTAL_REFS
    return True
