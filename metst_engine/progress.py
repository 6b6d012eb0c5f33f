"""Progress bars on stderr for the CLI (tqdm), kept out of the library functions.

Engine functions report progress through plain ``callback(done, total)`` functions;
this adapter turns those into a tqdm bar.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tqdm import tqdm


class _Bar:
    def __init__(self, bar: tqdm):
        self._bar = bar
        self._started = False
        self._text: str | None = None

    def __call__(self, n: int = 1) -> None:
        self._bar.update(n)

    def describe(self, text: str) -> None:
        """Name what is counted now; a new name starts the count (and its rate and time left) afresh."""
        if text != self._text:
            self._text = text
            self._bar.initial = 0
            self._bar.reset()
            self._bar.set_description(text)
            self._started = False

    def update_to(self, done: int, total: int | None) -> None:
        if total is not None and self._bar.total != total:
            self._bar.total = total
        if not self._started and done:   # work kept from an earlier run (resume): not part of the rate
            self._bar.initial = self._bar.n = self._bar.last_print_n = done
            self._bar.refresh()
        else:
            self._bar.update(done - self._bar.n)
        self._started = True


@contextmanager
def progress_bar(total: int | None, unit: str) -> Iterator[_Bar]:
    """A tqdm bar on stderr (silent when stderr is not a terminal and METST_PROGRESS is unset)."""
    import os

    disable = not (sys.stderr.isatty() or os.environ.get("METST_PROGRESS"))
    bar = tqdm(total=total, unit=f" {unit}", file=sys.stderr, disable=disable, dynamic_ncols=True)
    try:
        yield _Bar(bar)
    finally:
        bar.close()


class TimeLeft:
    """Seconds left at the pace since the first report (work done before it, such as
    chunks kept from an earlier run, does not count): ``left(done, total)``; None until
    there is a pace."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._start: tuple[float, int] | None = None

    def __call__(self, done: int, total: int) -> float | None:
        now = self._clock()
        if self._start is None:
            self._start = (now, done)
            return None
        t0, d0 = self._start
        if done <= d0 or now <= t0:
            return None
        return (total - done) * (now - t0) / (done - d0)


def format_duration(seconds: float) -> str:
    """'1 h 05 min', '3 min 10 s', '42 s'."""
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    if s >= 60:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s} s"
