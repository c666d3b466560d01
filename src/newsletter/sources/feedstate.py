"""Feed state beside ``state.py``: each feed's validators and health, each article first seen.

The tables are in ``store/tables.py``, on the same engine. Writes are batched, one short transaction
per stage of a run (never one per entry), so a run over 200 feeds touches the database a
handful of times.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from newsletter.model import Article
from newsletter.store.tables import feed_articles, feeds, issue_articles, issues
from newsletter.store.writes import insert_missing, upsert
from newsletter.untrusted import display_safe, xml_safe

_CHUNK = 500  # bound parameters per IN (...) query


@dataclass(frozen=True)
class FeedRecord:
    url: str
    name: str
    current_url: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    last_status: int | None = None
    last_error: str | None = None
    last_fetched: datetime | None = None
    last_success: datetime | None = None
    consecutive_failures: int = 0
    entries_seen: int = 0
    retry_after: str | None = None
    retired: bool = False
    entries_parsed: int | None = None  # by the last fetch that parsed (None: not yet)
    entries_too_old: int | None = None  # of those, older than [fetch] max_age_days
    fresh_until: datetime | None = None  # not fetched again before (Cache-Control, Expires)

    def unhealthy(self, after: int) -> bool:
        return self.retired or self.consecutive_failures >= after


def _record(row: sa.Row[object]) -> FeedRecord:
    values = dict(row._mapping)
    values["retired"] = bool(values["retired"])
    return FeedRecord(**values)


def load_feeds(engine: Engine, urls: Iterable[str] | None = None) -> dict[str, FeedRecord]:
    """Stored records by configured URL (all of them when ``urls`` is None)."""
    with engine.connect() as conn:
        if urls is None:
            rows = conn.execute(sa.select(feeds).order_by(feeds.c.name)).all()
        else:
            rows = [
                row
                for chunk in _chunks(list(urls))
                for row in conn.execute(sa.select(feeds).where(feeds.c.url.in_(chunk)))
            ]
    return {row.url: _record(row) for row in rows}


def save_feeds(engine: Engine, records: Sequence[FeedRecord]) -> None:
    """Insert or update every record, in one transaction."""
    if records:
        with engine.begin() as conn:
            upsert(conn, feeds, [vars(r) for r in records], keys=["url"])


def store_articles(
    engine: Engine, by_feed: Sequence[tuple[str, Sequence[Article]]], now: datetime
) -> dict[str, int]:
    """Store articles not stored before, in one transaction; return new ones per feed URL."""
    rows: dict[str, dict[str, object]] = {}
    for feed_url, articles in by_feed:
        for a in articles:
            rows.setdefault(a.id, _row(feed_url, a, now))
    if not rows:
        return {}
    with engine.begin() as conn:
        new = insert_missing(conn, feed_articles, list(rows.values()), ["id"], returning="id")
    counts: dict[str, int] = {}
    for key in new:
        feed_url = str(rows[key]["feed_url"])
        counts[feed_url] = counts.get(feed_url, 0) + 1
    return counts


def _row(feed_url: str, a: Article, now: datetime) -> dict[str, object]:
    return {
        "id": a.id,
        "feed_url": feed_url,
        "url": a.url,
        "title": a.title,
        "text": a.text,
        "outlet": a.outlet,
        "published": a.published,
        "first_seen": now,
        "flags": ",".join(a.flags),
    }


def stored_articles(
    engine: Engine, feed_urls: Sequence[str], newsletter: str, oldest: datetime | None = None
) -> list[Article]:
    """Articles of these feeds that no finished issue of ``newsletter`` has published yet
    (and, given ``oldest``, published since then, as fresh entries must be): what a 304 Not
    Modified or a failed fetch stands for without parsing anything."""
    if not feed_urls:
        return []
    published = (
        sa.select(issue_articles.c.article_id)
        .join(issues, issues.c.id == issue_articles.c.issue_id)
        .where(issues.c.newsletter == newsletter, issues.c.status == "done")
    )
    found: list[Article] = []
    with engine.connect() as conn:
        for chunk in _chunks(list(feed_urls)):
            rows = conn.execute(
                sa.select(feed_articles)
                .where(feed_articles.c.feed_url.in_(chunk))
                .where(feed_articles.c.id.not_in(published))
                .where(
                    sa.true()
                    if oldest is None
                    else sa.or_(
                        feed_articles.c.published.is_(None), feed_articles.c.published >= oldest
                    )
                )
            )
            found.extend(_article(row) for row in rows)
    return found


def _article(row: sa.Row[object]) -> Article:
    return Article(
        id=row.id,
        title=display_safe(row.title),  # stored before these characters were removed at entry
        text=xml_safe(row.text),
        url=row.url,
        outlet=row.outlet,
        published=row.published,
        origin="feed",
        flags=tuple(f for f in row.flags.split(",") if f),
    )


def published_urls(engine: Engine, published_ids: set[str], urls: Iterable[str]) -> set[str]:
    """Which of ``urls`` belong to an already published article (under any id): publishers
    change guids, the canonical link stays."""
    wanted = list({u for u in urls if u})
    found: set[str] = set()
    with engine.connect() as conn:
        for chunk in _chunks(wanted):
            rows = conn.execute(
                sa.select(feed_articles.c.id, feed_articles.c.url).where(
                    feed_articles.c.url.in_(chunk)
                )
            )
            found.update(row.url for row in rows if row.id in published_ids)
    return found


def _chunks(items: list[str]) -> Iterable[list[str]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def known_ids(engine: Engine, ids: Sequence[str]) -> set[str]:
    """Which of these article ids are stored already."""
    with engine.connect() as conn:
        return {
            i
            for chunk in _chunks(list(ids))
            for i in conn.execute(
                sa.select(feed_articles.c.id).where(feed_articles.c.id.in_(chunk))
            ).scalars()
        }
