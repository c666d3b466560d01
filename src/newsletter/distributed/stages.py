"""The pipeline stages a task calls, adapted to one feed or one batch of subscribers.

No logic of their own: feed ingestion's ``ingest_feeds`` over a config narrowed to one feed,
delivery's ``deliver_issue`` narrowed to some subscribers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine

from newsletter.config import Config
from newsletter.errors import Warn
from newsletter.model import Article
from newsletter.sources.fetch import Fetcher
from newsletter.timings import NO_TIMINGS, Timings

if TYPE_CHECKING:
    from newsletter.distributed.work import BatchOutcome
    from newsletter.sources.ingest import LeftOut


def worker_fetcher(config: Config) -> Fetcher:
    """The feed fetcher a worker keeps for its life: the configured limits, one TLS context."""
    import httpx

    from newsletter.sources.fetch import HttpFetcher
    from newsletter.sources.ingest import fetch_limits

    return HttpFetcher(fetch_limits(config), verify=httpx.create_ssl_context())


def ingest_one(
    config: Config,
    engine: Engine,
    fetcher: Fetcher,
    url: str,
    now: datetime,
    warn: Warn,
) -> int:
    """Fetch, parse and store the one feed configured at ``url``; how many articles it gave."""
    from newsletter.sources.ingest import ingest_feeds

    feeds = [f for f in config.feeds if f.url == url and f.enabled]
    if not feeds:
        warn(f"feed {url}: no longer an enabled feed in newsletter.toml; not fetched")
        return 0
    one = config.model_copy(update={"feeds": feeds})
    return len(ingest_feeds(one, engine, fetcher, now, warn))


def stored_articles(
    config: Config,
    engine: Engine,
    fetcher: Fetcher,
    now: datetime,
    warn: Warn,
    timings: Timings = NO_TIMINGS,
    signatures: dict[str, bytes | None] | None = None,
    *,
    left_out: LeftOut | None = None,
    on_articles: Callable[[Sequence[Article]], None] | None = None,
) -> list[Article]:
    """The build's feed articles: what the slot's fetch tasks stored and no issue published.
    (A ``pipeline.Ingest``: it replaces fetching in the build, nothing else changes.) The
    fetch tasks dropped the entries too old to store; they are not counted here, so
    ``left_out.too_old`` stays unknown and the run's line leaves it out."""
    from newsletter.sources.feedstate import stored_articles as stored
    from newsletter.sources.ingest import oldest_allowed

    urls = [f.url for f in config.feeds if f.enabled]
    return stored(engine, urls, config.newsletter.name, oldest_allowed(config, now))


def subscriber_keys(config: Config) -> list[str]:
    """Every subscriber's key (lowercased address), in the list's order."""
    import logging
    from datetime import UTC, datetime

    from newsletter.delivery.roster import sending_list
    from newsletter.store import state

    warn = logging.getLogger("newsletter.worker").warning
    with state.connect(config.state_dir, config.state.url) as engine:
        _, active = sending_list(config, engine, warn, datetime.now(UTC))
    return [s.key for s in active]


def send_some(config: Config, number: int, emails: Sequence[str], now: datetime) -> BatchOutcome:
    """Deliver issue ``number`` to these subscribers, through delivery's per-subscriber claims."""
    import logging

    from newsletter.delivery.send import deliver_issue, find_issue
    from newsletter.distributed.ratelimit import fleet_throttle
    from newsletter.distributed.work import BatchOutcome

    warn = logging.getLogger("newsletter.worker").warning
    folder = find_issue(config, str(number))
    assert config.queue.broker is not None
    throttle = fleet_throttle(config.queue.broker, config.queue_name, config.delivery.rate)
    try:
        report = deliver_issue(
            config, folder, now=now, warn=warn, only=frozenset(emails), throttle=throttle
        )
    finally:
        throttle.close()
    for failure in report.failed:
        warn(f"issue #{number}: {failure.email}: {failure.reason}")
    return BatchOutcome(
        sent=report.sent, skipped=report.skipped, busy=report.busy, failed=len(report.failed)
    )
