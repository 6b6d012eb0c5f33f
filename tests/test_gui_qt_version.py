"""The installed PySide6 must not leak references on signal emits (6.12.0 on Python 3.11 does,
and the GUI then aborts after a few thousand emits; pyproject pins PySide6 < 6.12)."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal


class _Emitter(QObject):
    value = Signal(int)


def test_signal_emits_and_python_slots_keep_singleton_refcounts(qapp):
    em = _Emitter()
    seen: list[int] = []
    em.value.connect(lambda v: seen.append(v))
    before = sys.getrefcount(True), sys.getrefcount(None)
    for i in range(5000):
        em.value.emit(i)
    after = sys.getrefcount(True), sys.getrefcount(None)
    assert len(seen) == 5000
    # a leak of one reference per emit shows as thousands; allow a little unrelated churn
    assert abs(after[0] - before[0]) < 100 and abs(after[1] - before[1]) < 100, (before, after)
