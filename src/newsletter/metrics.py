"""``newsletter metrics`` and ``/metrics``: the state database as Prometheus metrics.

Read-only: counts issues, published articles and items, feed failures, messages sent and
failed, and the last successful run of each schedule, and renders them with
prometheus_client's own exposition (a registry of one custom collector, ``generate_latest``),
for node_exporter's textfile collector or a scrape of ``newsletter serve``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine

from newsletter.config import Config
from newsletter.sources.ingest import feed_health
from newsletter.store.tables import deliveries, issue_articles, issues, runs

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_SUCCESS = ("written", "exists", "nothing-new")  # a run that did its job (RunStatus)
_NO_SCHEDULE = "-"  # the schedule label of runs started by hand


@dataclass(frozen=True)
class Figures:
    issues: int
    articles: int
    items: int
    messages: dict[str, int]  # delivery status -> count
    feeds: list[tuple[str, int, bool]]  # name, consecutive failures, unhealthy
    last_success: dict[str, float]  # schedule -> Unix time of its last successful run


def figures(config: Config, engine: Engine) -> Figures:
    name = config.newsletter.name
    done = sa.and_(issues.c.newsletter == name, issues.c.status == "done")
    with engine.connect() as conn:
        issue_count = conn.scalar(sa.select(sa.func.count()).where(done)) or 0
        items = conn.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(issues.c.items_out), 0)).where(done)
        )
        articles = conn.scalar(
            sa.select(sa.func.count())
            .select_from(issue_articles.join(issues, issue_articles.c.issue_id == issues.c.id))
            .where(done)
        )
        messages = conn.execute(
            sa.select(deliveries.c.status, sa.func.count())
            .where(deliveries.c.newsletter == name)
            .group_by(deliveries.c.status)
        ).all()
        last = conn.execute(
            sa.select(runs.c.schedule, sa.func.max(runs.c.finished_at))
            .where(runs.c.newsletter == name, runs.c.result.in_(_SUCCESS))
            .group_by(runs.c.schedule)
        ).all()
    return Figures(
        issues=int(issue_count),
        articles=int(articles or 0),
        items=int(items or 0),
        messages={str(status): int(count) for status, count in messages},
        feeds=[
            (row.name, row.consecutive_failures, row.health in ("unhealthy", "retired"))
            for row in feed_health(config, engine)
            if row.enabled
        ],
        last_success={
            schedule or _NO_SCHEDULE: moment.timestamp() for schedule, moment in last if moment
        },
    )


class _Collector(Collector):
    def __init__(self, newsletter: str, found: Figures) -> None:
        self.newsletter = newsletter
        self.found = found

    def collect(self) -> Iterator[Metric]:
        found, labels = self.found, ["newsletter"]
        me = [self.newsletter]
        for metric_name, documentation, value in (
            ("newsletter_issues", "Issues written.", found.issues),
            ("newsletter_articles_published", "Articles cited by written issues.", found.articles),
            ("newsletter_items_published", "Items in written issues.", found.items),
        ):
            counter = CounterMetricFamily(metric_name, documentation, labels=labels)
            counter.add_metric(me, value)
            yield counter
        sent = GaugeMetricFamily(
            "newsletter_messages",
            "Messages by delivery status: sent, failed, pending, sending.",
            labels=[*labels, "status"],
        )
        for status in sorted({"sent", "failed", *found.messages}):
            sent.add_metric([*me, status], found.messages.get(status, 0))
        yield sent
        failures = GaugeMetricFamily(
            "newsletter_feed_consecutive_failures",
            "Failed fetches in a row, per enabled feed.",
            labels=[*labels, "feed"],
        )
        unhealthy = GaugeMetricFamily(
            "newsletter_feed_unhealthy",
            "1 when a feed is unhealthy or retired (fetch.unhealthy_after), else 0.",
            labels=[*labels, "feed"],
        )
        for feed, count, bad in found.feeds:
            failures.add_metric([*me, feed], count)
            unhealthy.add_metric([*me, feed], 1 if bad else 0)
        yield failures
        yield unhealthy
        last = GaugeMetricFamily(
            "newsletter_last_success_timestamp_seconds",
            "When the last successful run of each schedule ended ('-': runs by hand).",
            labels=[*labels, "schedule"],
        )
        for schedule, moment in sorted(found.last_success.items()):
            last.add_metric([*me, schedule], moment)
        yield last


def exposition(config: Config, engine: Engine) -> bytes:
    """The Prometheus text exposition of this newsletter's figures."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(config.newsletter.name, figures(config, engine)))
    return generate_latest(registry)
