"""Keep freed tensor memory in the process instead of handing it back to the kernel (glibc).

A model's forward and backward allocate and free tens of megabytes per layer. glibc's malloc
serves blocks above its mmap threshold (128 KiB, raised on the fly to the largest block freed,
at most 32 MiB) with fresh ``mmap`` pages and gives the top of its heap back above a trim
threshold (twice the mmap threshold), so every batch of ME-TST+ inference faulted in and zeroed
0.4-1.4 GB of new pages (ru_minflt 350,000 per 128-window batch; 17% of the process's CPU in the
kernel). With the thresholds fixed at 32 MiB / 256 MiB the same batches take ~100 faults and
the 10-minute inference of ``bench/infer_bench.py`` runs 1.15-1.25x faster (same run, same
machine; training step ~5%). The cost: up to 256 MiB of freed memory stays mapped in the process.

This changes the whole process's allocator, so the library never calls it on import: the
processes that run a model without Qt call :func:`keep_freed_memory` at start (the ``metst``
command, which also runs the training panel's trainings, and the training workers). Not the GUI:
with these thresholds its test process crashed twice (an abort and a segfault in Qt widget
lookups), a memory-lifetime fault the default thresholds hide, not yet found.
A ``MALLOC_MMAP_THRESHOLD_`` or ``MALLOC_TRIM_THRESHOLD_`` in the environment wins (glibc read
it at start-up; nothing is changed), and where the C library is not glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import os

MMAP_THRESHOLD = 32 << 20   #: blocks below it come from the heap (glibc's largest allowed value)
TRIM_THRESHOLD = 256 << 20  #: free memory kept at the top of the heap before it is returned

_M_TRIM_THRESHOLD = -1      # mallopt parameters (malloc.h)
_M_MMAP_THRESHOLD = -3
_ENV = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")


def keep_freed_memory() -> bool:
    """Fix glibc's mmap and trim thresholds (see the module's docstring); True when they were set.

    Idempotent. False where the C library has no ``mallopt`` (macOS, Windows, musl) or the user
    set either threshold in the environment.
    """
    if any(name in os.environ for name in _ENV):
        return False
    try:
        libc = ctypes.CDLL(None)  # the symbols already loaded into the process, the C library's among them
    except (OSError, TypeError):  # TypeError: Windows wants a library name
        return False
    if not hasattr(libc, "gnu_get_libc_version"):  # glibc only: musl has mallopt as a no-op stub
        return False
    mallopt = libc.mallopt
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
