"""Stage timings: the run reports how long each stage took to whoever asks.

``pipeline.run`` takes a ``Timings`` (anything with ``add(stage, seconds)``) and reports each
stage as it finishes: fetch, parse, store, dedup, summarize, render, write, record. The
benchmark passes a ``Stopwatch``; everyone else gets ``NO_TIMINGS``. Stages are also logged at
DEBUG as ``phase <stage> <seconds>``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

log = logging.getLogger("newsletter.timings")


class Timings(Protocol):
    def add(self, stage: str, seconds: float) -> None: ...


class _Nothing:
    def add(self, stage: str, seconds: float) -> None:
        return None


NO_TIMINGS: Timings = _Nothing()


@dataclass
class Stopwatch:
    """Seconds per stage, summed when a stage is reported more than once."""

    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, stage: str, seconds: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds


@contextmanager
def timed(timings: Timings, stage: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        seconds = time.perf_counter() - start
        log.debug("phase %s %.4f", stage, seconds)
        timings.add(stage, seconds)
