"""A time budget for the summarizing stage (``[summary] time_budget_seconds``).

Work is taken article by article; once the budget is spent no further article is taken, and
the digest is made from what is done. One article is always taken, so that a day with a
single huge article still has an issue.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")


class Budget:
    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._deadline = self._clock() + seconds
        self.left_out = 0  # articles not taken, summed over the stages

    def spent(self) -> bool:
        return self._clock() > self._deadline

    def within(self, items: Sequence[T]) -> Iterator[T]:
        """``items`` in order, until the budget is spent (the first is always given)."""
        for index, item in enumerate(items):
            if index and self.spent():
                self.left_out += len(items) - index
                return
            yield item
