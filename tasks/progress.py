"""Progress of long work (scrubbing, fine-tuning, scoring) where a person can watch it.

Common layer. ``Progress`` draws one line on a terminal (``scrub  [#######.....]  58%  5,800/10,000 docs
ETA 0:42``), redrawn at most twice a second and quiet when stderr is not a terminal (CI, a log file, a
deployment's worker), and passes the percentage to an optional ``sink``: inside a Prefect run,
``tasks.runtime.progress`` makes that sink a progress artifact of the task run, updated at most every two
seconds, so the UI shows it too.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

WIDTH = 24


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    def __init__(self, what: str, total: int | None, unit: str, sink: Callable[[float], None] | None = None,
                 stream: TextIO | None = None, tty: bool | None = None):
        self.what, self.total, self.unit, self.sink = what, total, unit, sink
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.done, self.start = 0, time.monotonic()
        self._drawn = self._sent = 0.0

    def line(self) -> str:
        """The bar as text: done of total, share, rate-based time left (or the count alone, total unknown)."""
        count = f"{self.done:,}/{self.total:,} {self.unit}" if self.total else f"{self.done:,} {self.unit}"
        if not self.total:
            return f"{self.what}  {count}"
        share = min(1.0, self.done / self.total)
        bar = "#" * int(share * WIDTH) + "." * (WIDTH - int(share * WIDTH))
        spent = time.monotonic() - self.start
        eta = _clock(spent * (self.total - self.done) / self.done) if 0 < self.done < self.total else "–"
        return f"{self.what}  [{bar}]  {share:4.0%}  {count}  ETA {eta}"

    def update(self, done: int, total: int | None = None, final: bool = False) -> None:
        self.done, self.total = done, total if total is not None else self.total
        now = time.monotonic()
        if self.tty and (final or now - self._drawn >= 0.5):
            self.stream.write("\r" + self.line() + ("\n" if final else ""))
            self.stream.flush()
            self._drawn = now
        if self.sink and self.total and (final or now - self._sent >= 2.0):
            self.sink(round(100.0 * min(1.0, self.done / self.total), 1))
            self._sent = now

    def close(self) -> None:
        self.update(self.done, final=True)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is None:
            self.close()
        elif self.tty:
            self.stream.write("\n")
