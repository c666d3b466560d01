"""The pipeline stages a task calls, adapted to one feed or one batch of subscribers.

No logic of their own: feed ingestion's ``ingest_feeds`` over a config narrowed to one feed,
delivery's ``deliver_issue`` narrowed to some subscribers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine

from newsletter.config import Config

if TYPE_CHECKING:
    from newsletter.distributed.work import BatchOutcome


def ingest_one(
    config: Config, engine: Engine, url: str, now: datetime, warn: Callable[[str], None]
) -> int:
    raise NotImplementedError("feed ingestion is not part of this build")


def stored_feed_options(config: Config) -> dict[str, Any]:
    return {}


def subscriber_keys(config: Config) -> list[str]:
    """Every subscriber's key (lowercased address), in the list's order."""
    import logging

    from newsletter.subscribers import read_subscribers

    warn = logging.getLogger("newsletter.worker").warning
    known = [s.id for s in config.sections]
    return [s.key for s in read_subscribers(config.subscribers_file, known, warn)]


def send_some(config: Config, number: int, emails: Sequence[str], now: datetime) -> BatchOutcome:
    """Deliver issue ``number`` to these subscribers, through delivery's per-subscriber claims."""
    import logging

    from newsletter.delivery import deliver_issue, find_issue
    from newsletter.distributed.work import BatchOutcome

    warn = logging.getLogger("newsletter.worker").warning
    folder = find_issue(config, str(number))
    report = deliver_issue(config, folder, now=now, warn=warn, only=frozenset(emails))
    for failure in report.failed:
        warn(f"issue #{number}: {failure.email}: {failure.reason}")
    return BatchOutcome(
        sent=report.sent, skipped=report.skipped, busy=report.busy, failed=len(report.failed)
    )
