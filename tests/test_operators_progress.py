"""Progress where it is long: done/total and the rate every 10 s off a terminal (a send, a
fetch), and feed ingestion reports each feed as it is answered."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from conftest import example_config_text
from newsletter.config import load_config
from newsletter.logs import LOGGER, counting
from newsletter.progress import listening
from newsletter.sources.ingest import default_fetcher, ingest_feeds
from newsletter.store import state


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


RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Wire {n}</title><link>https://wire{n}.example/</link>
<item><title>Talks resume {n}</title><link>https://wire{n}.example/a</link>
<description>Negotiators met again.</description></item></channel></rss>
"""


def test_feed_ingestion_reports_feeds_done_of_total(tmp_path: Path) -> None:
    feeds = ""
    for n in range(3):
        (tmp_path / f"wire{n}.xml").write_text(RSS.format(n=n), encoding="utf-8")
        feeds += f'\n[[feeds]]\nname = "Wire {n}"\nurl = "wire{n}.xml"\n'
    (tmp_path / "newsletter.toml").write_text(example_config_text() + feeds, encoding="utf-8")
    config = load_config(tmp_path / "newsletter.toml")
    heard: list[tuple[str, int, int]] = []
    with (
        state.connect(config.state_dir) as engine,
        listening(lambda what, done, total: heard.append((what, done, total))),
    ):
        articles = ingest_feeds(config, engine, default_fetcher(config), datetime.now(UTC), print)
    assert len(articles) == 3
    assert heard == [("feeds fetched", n, 3) for n in (1, 2, 3)]
