"""`newsletter schedule` logs fetch progress during a run, as `run` does off a terminal:
feeds done/total in a log line at most every `every` seconds, never a bar."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from conftest import example_config_text
from newsletter.config import load_config
from newsletter.logs import LOGGER
from newsletter.schedule.daemon import Daemon, schedules
from newsletter.schedule.lock import FileLock, lock_path
from newsletter.schedule.runner import execute
from newsletter.store import state

RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Wire {n}</title><link>https://wire{n}.example/</link>
<item><title>Ceasefire talks resume {n}</title><link>https://wire{n}.example/a</link>
<description>Negotiators met again in Geneva.</description></item></channel></rss>
"""


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def logged() -> Iterator[list[logging.LogRecord]]:
    logger = logging.getLogger(LOGGER)
    handler, level = _Records(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler.records
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_a_scheduled_run_logs_feeds_fetched_of_total(
    tmp_path: Path, logged: list[logging.LogRecord]
) -> None:
    feeds = ""
    for n in range(4):
        (tmp_path / f"wire{n}.xml").write_text(RSS.format(n=n), encoding="utf-8")
        feeds += f'\n[[feeds]]\nname = "Wire {n}"\nurl = "wire{n}.xml"\n'
    schedule = '\n[[schedule]]\nname = "daily"\ncron = "0 7 * * *"\n'
    (tmp_path / "newsletter.toml").write_text(
        example_config_text() + feeds + schedule, encoding="utf-8"
    )
    config = load_config(tmp_path / "newsletter.toml")
    now = datetime.now(UTC)
    with state.connect(config.state_dir) as engine:
        lock = FileLock(lock_path(config.state_dir, None, config.newsletter.name), "t", lambda: now)
        daemon = Daemon(
            config,
            engine,
            lock,
            clock=lambda: now,
            warn=lambda _line: None,
            deliver=None,
            checkpoint=lambda _stage: None,
            progress_every=0.0,  # every report makes a line (the default is 10 s)
        )
        # What the scheduler's executor thread does when the slot is due.
        daemon._fire(schedules(config)[0].job_id, now)
    progress = [r for r in logged if r.getMessage().startswith("feeds fetched")]
    # One line per feed answered but the last: the run's own lines say when it is done.
    assert [r.getMessage().split(" (")[0] for r in progress] == [
        "feeds fetched 1/4",
        "feeds fetched 2/4",
        "feeds fetched 3/4",
    ]
    assert {(r.fields["total"]) for r in progress} == {4}  # type: ignore[attr-defined]


def test_the_scheduler_never_mails_an_issue_without_items(
    tmp_path: Path, logged: list[logging.LogRecord]
) -> None:
    """With skip_when_nothing_new = false the slot's empty issue is written, never sent."""
    (tmp_path / "newsletter.toml").write_text(example_config_text(), encoding="utf-8")
    config = load_config(tmp_path / "newsletter.toml")  # no seeds, no feeds: nothing at all
    mailed: list[object] = []
    now = datetime.now(UTC)
    result = execute(
        config,
        trigger="schedule",
        clock=lambda: now,
        warn=lambda _line: None,
        slot=now,
        schedule="daily",
        allow_empty=True,  # what skip_when_nothing_new = false asks of the daemon
        deliver=mailed.append,
    )
    assert result.status == "written" and result.items_out == 0
    assert mailed == []
    assert "issue has no item; not sent" in [r.getMessage() for r in logged]
