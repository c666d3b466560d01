"""Ingest: configured feeds -> fresh Articles, with each feed's health recorded.

fetch (concurrent, conditional) -> parse (a worker process when there is a lot) -> filter ->
optional full text -> store (one transaction for articles, one for feed records). A 304 costs
no parsing: the feed's stored, not yet published articles stand in for it. Every feed that
failed or needed patching is reported with exactly one warning line naming it, its URL and why.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path

from sqlalchemy.engine import Engine

from newsletter import USER_AGENT, progress
from newsletter.config import Config, FeedSettings
from newsletter.errors import Warn
from newsletter.model import Article
from newsletter.sources import feedstate
from newsletter.sources.feeds import ParsedFeed, ParseJob
from newsletter.sources.feedstate import FeedRecord
from newsletter.sources.fetch import Fetcher, FetchLimits, FetchRequest, FetchResult, HttpFetcher
from newsletter.sources.parseproc import POOL_MIN_FEEDS as POOL_MIN_FEEDS
from newsletter.sources.parseproc import Parser as _Parser
from newsletter.timings import NO_TIMINGS, Timings, timed

log = logging.getLogger(__name__)


def fetch_limits(config: Config) -> FetchLimits:
    f = config.fetch
    return FetchLimits(
        concurrency=f.concurrency,
        timeout=f.timeout,
        deadline=f.deadline,
        max_bytes=f.max_bytes,
        max_redirects=f.max_redirects,
        user_agent=f.user_agent or USER_AGENT,
        allow_private_networks=f.allow_private_networks,
    )


def default_fetcher(config: Config) -> Fetcher:
    return HttpFetcher(fetch_limits(config))


def feed_location(config: Config, feed: FeedSettings) -> str:
    """http(s) and file: URLs as they are; a path, relative to the config file, as file:."""
    if re.match(r"^(https?|file):", feed.url, re.IGNORECASE):
        return feed.url
    return Path(config.path(feed.url)).as_uri()


@dataclass(frozen=True)
class _Outcome:
    """One feed's result this run: its new record, its articles, its one warning (if any)."""

    record: FeedRecord
    articles: tuple[Article, ...] = ()
    warning: str | None = None
    reuse_stored: bool = False
    too_old: int = 0  # entries left out as older than [fetch] max_age_days


@dataclass
class LeftOut:
    """What a run left out before the digest, counted for its one log line (filled in as
    the run goes: ``too_old`` by ingestion, ``published`` and ``off_topic`` by the pipeline).
    ``too_old`` stays None where the ingestion does not count it."""

    too_old: int | None = None
    published: int = 0
    off_topic: int = 0

    def line(self, max_age_days: int) -> str:
        old = "" if self.too_old is None else f", {self.too_old} too old"
        limit = f" (over [fetch] max_age_days = {max_age_days})" if old and max_age_days else ""
        return (
            f"articles left out: {self.off_topic} off-topic{old}{limit}, "
            f"{self.published} in an earlier issue"
        )


def ingest_feeds(
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
    """Fetch, parse and store every enabled feed; return this run's candidate articles.
    ``left_out.too_old`` gets how many fetched entries were older than ``[fetch]
    max_age_days``. ``on_articles`` gets each parse worker's feed's articles as they come
    back while this process waits for the last of them (a head start for the summarizer).

    Reports to ``timings``: "fetch" (all requests), "parse" (from the first body to the last
    parse: it overlaps the fetch), "parse wait" (after the fetch), "parse cpu" (CPU time
    summed over the feeds, in whichever process parsed them) and "store". Parse workers also
    compute each article's near-duplicate signature while the fetch goes on; they land in
    ``signatures`` (see ``dedup.dedupe``)."""
    enabled = [f for f in config.feeds if f.enabled]
    if left_out is not None:
        left_out.too_old = 0
    if not enabled:
        return []
    records = feedstate.load_feeds(engine, [f.url for f in enabled])
    outcomes: dict[str, _Outcome] = {}
    due: list[tuple[FeedSettings, FeedRecord]] = []
    for feed in enabled:
        record = replace(records.get(feed.url) or FeedRecord(feed.url, feed.name), name=feed.name)
        held = _held_back(record, now)
        if held:
            outcomes[feed.url] = _Outcome(record, warning=held, reuse_stored=True)
        elif record.fresh_until is not None and now < record.fresh_until:
            outcomes[feed.url] = _Outcome(record, reuse_stored=True)  # as good as a 304
        else:
            due.append((feed, record))
    with _Parser(len(due), signatures) as parser:
        submitted: set[int] = set()
        answered: set[int] = set()

        def arrived(index: int, result: FetchResult) -> bool:
            """True: the parser has the body (the fetcher need not keep it)."""
            if index not in answered:
                answered.add(index)
                progress.report("feeds fetched", len(answered), len(due))
            if result.ok and index not in submitted:
                submitted.add(index)
                parser.submit(_job(config, due[index][0], result, now))
                return True
            return False

        with timed(timings, "fetch"):
            results = fetcher.fetch_all([_request(config, f, r) for f, r in due], arrived)
        with timed(timings, "parse wait"):
            for index, result in enumerate(results):  # a fetcher may not report as it goes
                arrived(index, result)
            hand_on = (lambda feed: on_articles(feed.articles)) if on_articles else None
            parsed = parser.results(hand_on)
        # Every body is parsed: drop them (the feeds' bytes, ~1 MB per 1,000 entries) before
        # the stages that hold every article.
        results = [replace(r, body=b"") if r.body else r for r in results]
        if parser.started is not None:
            timings.add("parse", time.perf_counter() - parser.started)
            timings.add("parse cpu", parser.seconds)
    for (feed, record), result in zip(due, results, strict=True):
        outcomes[feed.url] = _outcome(config, feed, record, result, parsed.get(feed.url), now)
    outcomes = _capped(config, outcomes, warn)
    outcomes = _with_full_text(config, engine, fetcher, outcomes)
    if left_out is not None:
        left_out.too_old = sum(o.too_old for o in outcomes.values())
    with timed(timings, "store"):
        articles = _store(config, engine, outcomes, now)
    for feed in enabled:
        if outcomes[feed.url].warning:
            warn(f"feed {feed.name!r} ({feed.url}): {outcomes[feed.url].warning}")
    return articles


def _held_back(record: FeedRecord, now: datetime) -> str | None:
    if record.retired:
        return (
            f"retired: the server answered 410 Gone on {_day(record.last_fetched)}; "
            "remove it from newsletter.toml"
        )
    until = _retry_at(record.retry_after, record.last_fetched)
    if until is not None and now < until:
        return f"not fetched: the server asked to retry after {until:%Y-%m-%d %H:%M} UTC"
    return None


_MAX_FRESH = 3_600.0


def _fresh_until(result: FetchResult, now: datetime) -> datetime | None:
    """Until when a successful answer may stand in for a fetch: what the server said, capped
    at an hour. Frequent runs (hourly slots, `run` again after a fix) spare the server; a
    daily edition always fetches, whatever a year-long max-age says."""
    if result.error is not None or not result.fresh_for:
        return None
    return now + timedelta(seconds=min(result.fresh_for, _MAX_FRESH))


def _day(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d}" if moment else "an earlier run"


def _retry_at(value: str | None, since: datetime | None) -> datetime | None:
    """Retry-After is seconds or an HTTP date; capped at a day so a typo cannot mute a feed."""
    if not value or since is None:
        return None
    try:
        if value.strip().isdigit():
            until = since + timedelta(seconds=int(value))
        else:
            until = parsedate_to_datetime(value).astimezone(UTC)
    except (TypeError, ValueError, OverflowError):
        return None
    return min(until, since + timedelta(days=1))


def _request(config: Config, feed: FeedSettings, record: FeedRecord) -> FetchRequest:
    """The operator's URL is trusted as written; a recorded move came from the feed's server,
    so it passes the private-network guard like any URL a stranger chose."""
    written = feed_location(config, feed)
    url = record.current_url or written
    return FetchRequest(
        url=url,
        etag=record.etag,
        last_modified=record.last_modified,
        trusted=url == written,
    )


def _job(config: Config, feed: FeedSettings, result: FetchResult, now: datetime) -> ParseJob:
    return ParseJob(
        key=feed.url,
        name=feed.name,
        body=result.body or b"",
        base_url=result.final_url or result.request.url,
        content_type=result.content_type,
        fetched_at=now,
        max_entries=config.fetch.max_entries,
        max_entry_chars=config.fetch.max_entry_chars,
    )


def _outcome(
    config: Config,
    feed: FeedSettings,
    record: FeedRecord,
    result: FetchResult,
    parsed: ParsedFeed | None,
    now: datetime,
) -> _Outcome:
    fetched = replace(
        record,
        last_fetched=now,
        last_status=result.status,
        retry_after=result.retry_after,
        fresh_until=_fresh_until(result, now),
    )
    if result.error is not None or (parsed is None and not result.not_modified):
        return _failed(config, fetched, result.error or "nothing fetched", result.status == 410)
    if parsed is not None and parsed.error is not None:
        return _failed(config, fetched, parsed.error, False)
    healthy = replace(
        fetched,
        current_url=result.permanent_url or record.current_url,
        etag=result.etag or (record.etag if result.not_modified else None),
        last_modified=result.last_modified
        or (record.last_modified if result.not_modified else None),
        last_error=None,
        last_success=now,
        consecutive_failures=0,
    )
    notes = list(parsed.notes) if parsed else []
    if result.permanent_url and result.permanent_url != record.current_url:
        notes.append(f"moved permanently to {result.permanent_url}; now fetched from there")
    if parsed is None:  # 304 Not Modified: nothing to parse
        return _Outcome(healthy, warning="; ".join(notes) or None, reuse_stored=True)
    oldest = oldest_allowed(config, now)
    recent = [a for a in parsed.articles if not (oldest and a.published and a.published < oldest)]
    articles = _filtered(feed, recent, None)
    too_old = len(parsed.articles) - len(recent)
    counted = replace(healthy, entries_parsed=len(parsed.articles), entries_too_old=too_old)
    warning = "; ".join(notes) or None
    return _Outcome(counted, tuple(articles), warning, too_old=too_old)


def oldest_allowed(config: Config, now: datetime) -> datetime | None:
    """The oldest publication time an article may have (``[fetch] max_age_days``; 0: any)."""
    days = config.fetch.max_age_days
    return now - timedelta(days=days) if days else None


def _failed(config: Config, record: FeedRecord, reason: str, gone: bool) -> _Outcome:
    failures = record.consecutive_failures + 1
    failed = replace(record, last_error=reason, consecutive_failures=failures, retired=gone)
    if gone:
        reason += "; the feed is retired: remove it from newsletter.toml"
    elif failed.unhealthy(config.fetch.unhealthy_after):
        reason += f" (unhealthy: failed {failures} runs in a row)"
    return _Outcome(failed, warning=reason, reuse_stored=True)


def _filtered(
    feed: FeedSettings, articles: Sequence[Article], oldest: datetime | None
) -> list[Article]:
    """The feed's include/exclude patterns, and no entry older than ``oldest`` (a feed first
    added with a year of archives must not fill the first issue with old news)."""
    include = _pattern(feed.include)
    exclude = _pattern(feed.exclude)
    kept = []
    for article in articles:
        if oldest and article.published and article.published < oldest:
            continue
        text = f"{article.title}\n{article.text}"
        if include and not include.search(text):
            continue
        if exclude and exclude.search(text):
            continue
        kept.append(article)
    return kept


def _pattern(words: Sequence[str]) -> re.Pattern[str] | None:
    if not words:
        return None
    alternatives = "|".join(re.escape(w) for w in words)
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


def _capped(config: Config, outcomes: dict[str, _Outcome], warn: Warn) -> dict[str, _Outcome]:
    """At most ``[fetch] max_articles`` fresh articles in one run, taken feed by feed in the
    config's order: a run's memory and summarizing time stay bounded whatever the feeds hold."""
    cap = config.fetch.max_articles
    total = sum(len(o.articles) for o in outcomes.values())
    if total <= cap:
        return outcomes
    warn(f"feeds gave {total:,} articles; took the first {cap:,} (fetch.max_articles)")
    room = cap
    capped = {}
    for key, outcome in outcomes.items():
        taken = outcome.articles[:room]
        room -= len(taken)
        capped[key] = replace(outcome, articles=taken)
    return capped


def _with_full_text(
    config: Config, engine: Engine, fetcher: Fetcher, outcomes: dict[str, _Outcome]
) -> dict[str, _Outcome]:
    wanted = {f.url for f in config.feeds if f.enabled and f.full_text}
    if not wanted or config.fetch.full_text_max == 0:
        return outcomes
    from newsletter.sources.fulltext import missing_extra, with_full_text

    missing = missing_extra(config.feeds)
    if missing:  # the run goes on with the teasers: one line per feed, every run
        for line in missing:
            log.error(line)
        return outcomes
    ids = [a.id for key in wanted for a in outcomes[key].articles]
    known = feedstate.known_ids(engine, ids)
    updated = dict(outcomes)
    for key in wanted:
        fresh = [a for a in outcomes[key].articles if a.id not in known]
        fresh = fresh[: config.fetch.full_text_max]
        if fresh:
            pages, refused = with_full_text(
                fresh,
                fetcher,
                max_bytes=config.fetch.page_max_bytes,
                deadline=config.fetch.page_deadline,
            )
            full = {a.id: a for a in pages}
            articles = tuple(full.get(a.id, a) for a in outcomes[key].articles)
            warning = "; ".join(w for w in (outcomes[key].warning, _pages(refused)) if w)
            updated[key] = replace(outcomes[key], articles=articles, warning=warning or None)
    return updated


def _pages(refused: Sequence[str]) -> str | None:
    """Article pages a guard or limit stopped, for the feed's one warning line."""
    return "; ".join(f"article page {reason}" for reason in refused) or None


def _store(
    config: Config, engine: Engine, outcomes: dict[str, _Outcome], now: datetime
) -> list[Article]:
    by_feed = [(key, o.articles) for key, o in outcomes.items() if o.articles]
    new = feedstate.store_articles(engine, by_feed, now)
    records = [
        replace(o.record, entries_seen=o.record.entries_seen + new.get(key, 0))
        for key, o in outcomes.items()
    ]
    feedstate.save_feeds(engine, records)
    reuse = [key for key, o in outcomes.items() if o.reuse_stored]
    stored = feedstate.stored_articles(
        engine, reuse, config.newsletter.name, oldest_allowed(config, now)
    )
    return [a for _, articles in by_feed for a in articles] + stored


def drop_published(
    engine: Engine, articles: Sequence[Article], published_ids: set[str]
) -> list[Article]:
    """Articles no earlier issue carried, under their id or (publishers change guids) their
    canonical link."""
    fresh = [a for a in articles if a.id not in published_ids]
    urls = feedstate.published_urls(
        engine, published_ids, (a.url for a in fresh if a.origin == "feed" and a.url)
    )
    return [a for a in fresh if not (a.origin == "feed" and a.url in urls)]


@dataclass(frozen=True)
class FeedHealth:
    """One row of ``newsletter feeds``."""

    name: str
    url: str
    fetched_from: str | None
    enabled: bool
    health: str  # "ok", "failing", "unhealthy", "retired", "never fetched", "disabled"
    last_success: datetime | None
    last_status: int | None
    last_error: str | None
    consecutive_failures: int
    entries_seen: int
    # Also in `status --json` (its feed rows had these keys before the two shapes became one).
    last_fetched: datetime | None = None
    retry_after: str | None = None
    retired: bool = False
    entries_parsed: int | None = None  # by the last fetch that parsed
    entries_too_old: int | None = None  # of those, left out by [fetch] max_age_days
    fresh_until: datetime | None = None  # not fetched before (Cache-Control max-age, Expires)

    def as_json(self) -> dict[str, object]:
        """The one feed-health shape of ``feeds --json`` and ``status --json``."""
        values = dict(vars(self))
        for key in ("last_success", "last_fetched", "fresh_until"):
            moment = values[key]
            values[key] = moment.isoformat(timespec="seconds") if moment else None
        values["unhealthy"] = self.health in ("unhealthy", "retired")
        return values


_ORDER = {"retired": 0, "unhealthy": 1, "failing": 2, "never fetched": 3, "ok": 4, "disabled": 5}


def feed_health(config: Config, engine: Engine) -> list[FeedHealth]:
    """Every configured feed with its recorded health, broken ones first."""
    records = feedstate.load_feeds(engine, [f.url for f in config.feeds])
    rows = []
    for feed in config.feeds:
        record = records.get(feed.url) or FeedRecord(feed.url, feed.name)
        rows.append(
            FeedHealth(
                name=feed.name,
                url=feed.url,
                fetched_from=record.current_url,
                enabled=feed.enabled,
                health=_health(config, feed, record),
                last_success=record.last_success,
                last_status=record.last_status,
                last_error=record.last_error,
                consecutive_failures=record.consecutive_failures,
                entries_seen=record.entries_seen,
                last_fetched=record.last_fetched,
                retry_after=record.retry_after,
                retired=record.retired,
                entries_parsed=record.entries_parsed,
                entries_too_old=record.entries_too_old,
                fresh_until=record.fresh_until,
            )
        )
    return sorted(rows, key=lambda r: _ORDER[r.health])


def _health(config: Config, feed: FeedSettings, record: FeedRecord) -> str:
    if not feed.enabled:
        return "disabled"
    if record.retired:
        return "retired"
    if record.last_fetched is None:
        return "never fetched"
    if record.unhealthy(config.fetch.unhealthy_after):
        return "unhealthy"
    return "failing" if record.consecutive_failures else "ok"


def peek_feeds(config: Config, fetcher: Fetcher, now: datetime, warn: Warn) -> list[Article]:
    """Every enabled feed's current articles, fetched and parsed but recorded nowhere: for the
    preview, which must show what the sources hold now without touching the state database.
    No validators are sent (a 304 would leave nothing to show)."""
    enabled = [f for f in config.feeds if f.enabled]
    if not enabled:
        return []
    records = [FeedRecord(f.url, f.name) for f in enabled]
    requests = [_request(config, f, r) for f, r in zip(enabled, records, strict=True)]
    results = fetcher.fetch_all(requests)
    from newsletter.sources.parsework import parse_safely

    articles: list[Article] = []
    for feed, record, result in zip(enabled, records, results, strict=True):
        parsed = parse_safely(_job(config, feed, result, now)) if result.ok else None
        outcome = _outcome(config, feed, record, result, parsed, now)
        if outcome.warning:
            warn(f"feed {feed.name!r} ({feed.url}): {outcome.warning}")
        articles.extend(outcome.articles)
    return articles
