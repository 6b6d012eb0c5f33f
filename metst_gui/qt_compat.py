"""Work around reference-count bugs of PySide6 6.12 on Python < 3.12.

With PySide6 6.12.0 on CPython 3.11 (measured here), ``SignalInstance.emit()`` returns
``True`` without taking a new reference, and calls into Python slots and overrides drop a
reference to ``None`` (a slot's return value, ``item.data()`` of an empty role, ...). Each
costs one reference per call, and a player emits and repaints dozens of times a second, so
the count of ``True`` or ``None`` reaches zero within minutes and the interpreter aborts
("Fatal Python error: bool_dealloc / none_dealloc"). Python 3.12+ makes these objects
immortal and is unaffected. The fix does what 3.12 does: give ``True``, ``False`` and
``None`` a reference count that cannot run down. It is applied only when a probe shows a
leak, so a fixed PySide6 is left alone.
"""

from __future__ import annotations

import ctypes
import sys

from PySide6 import QtCore

_IMMORTAL_REFS = 1 << 40
_SINGLETONS = (True, False, None)


def _add_refs(obj: object, n: int) -> None:
    ctypes.c_ssize_t.from_address(id(obj)).value += n


def qt_calls_leak_singletons() -> bool:
    """True when a Python emit or a C++ -> Python slot call drops a reference to True or None."""

    class _Probe(QtCore.QObject):
        ping = QtCore.Signal()

    probe = _Probe()
    probe.objectNameChanged.connect(lambda _name: None)
    before = [sys.getrefcount(o) for o in _SINGLETONS]
    for k in range(8):
        probe.ping.emit()
        probe.setObjectName(f"probe{k}")
    after = [sys.getrefcount(o) for o in _SINGLETONS]
    for obj, b, a in zip(_SINGLETONS, before, after):
        _add_refs(obj, max(0, b - a))            # give back what the probe itself cost
    return any(a < b for b, a in zip(before, after))


def protect_singletons_from_qt_leaks() -> bool:
    """Make True/False/None effectively immortal if Qt calls leak them; True if applied."""
    if sys.version_info >= (3, 12) or not qt_calls_leak_singletons():
        return False
    for obj in _SINGLETONS:
        _add_refs(obj, _IMMORTAL_REFS)
    return True
