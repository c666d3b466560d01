"""Progress where it is long: a send logs done/total and the rate every 10 s off a terminal,
and the delivery loop reports each subscriber."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from newsletter.logs import LOGGER, counting


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def logged() -> Iterator[list[str]]:
    logger = logging.getLogger(LOGGER)
    handler, level = _Lines(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler.lines
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_a_line_every_ten_seconds_with_done_total_and_rate(logged: list[str]) -> None:
    now = [100.0]
    with counting("sending", bar=False, clock=lambda: now[0]) as progress:
        for done in range(0, 101):
            progress(done, 100)
            now[0] += 0.25  # 4 messages a second: 40 a line
    assert logged == ["sending 40/100 (4.0/s)", "sending 80/100 (4.0/s)"]
