"""``newsletter status``: the last runs, the next slots, the scheduler's lock and feed health.

Read-only over the state database: it creates and migrates nothing, and says to run
``newsletter db upgrade`` when the database is missing or behind.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from newsletter.config import Config
from newsletter.schedule import runlog
from newsletter.schedule.cron import next_fires, parse_cron
from newsletter.schedule.lock import Holder, file_holder, lock_path, on_postgresql
from newsletter.store import state

# Columns shown for each feed when the feed-ingestion module's ``feeds`` table exists; any it
# lacks are left out, so this keeps working as that table grows.
_FEED_COLUMNS = (
    "name",
    "url",
    "retired",
    "last_status",
    "last_error",
    "consecutive_failures",
    "last_fetched",
    "last_success",
    "retry_after",
    "entries_seen",
)


@dataclass(frozen=True)
class NextSlots:
    schedule: str
    cron: str
    timezone: str
    send: bool
    next: list[datetime]  # computed from the config, as the scheduler computes them


@dataclass(frozen=True)
class Status:
    newsletter: str
    now: datetime
    scheduler: Holder | None
    runs: list[runlog.RunRecord]
    schedules: list[NextSlots]
    feeds: list[dict[str, Any]] | None  # None: no feeds table in this database
    # Distributed mode ([queue] broker): workers that answered, queue depth (None: embedded).
    fleet: dict[str, Any] | None = None


def gather(config: Config, now: datetime, *, limit: int = 10, upcoming: int = 3) -> Status:
    with state.connect(config.state_dir, config.state.url, upgrade=False) as engine:
        fleet = None
        if config.distributed:
            from newsletter.distributed.status import fleet_report

            holder, fleet = fleet_report(config, now)
        else:
            holder = scheduler_holder(config, now)
        return Status(
            newsletter=config.newsletter.name,
            now=now,
            scheduler=holder,
            runs=runlog.last_runs(engine, config.newsletter.name, limit),
            schedules=[_next_slots(config, i, now, upcoming) for i in range(len(config.schedule))],
            feeds=_feeds(engine),
            fleet=fleet,
        )


def scheduler_holder(config: Config, now: datetime) -> Holder | None:
    """Is ``newsletter schedule`` up for this newsletter: who holds its lock, or None.

    Takes no lock: the lock file's record (SQLite), the advisory lock's session (PostgreSQL)."""
    if not on_postgresql(config.state.url):
        return file_holder(lock_path(config.state_dir, config.state.url, config.newsletter.name))
    from newsletter.distributed.lock import advisory_holder

    assert config.state.url is not None
    return advisory_holder(config.state.url, config.newsletter.name, now)


def _next_slots(config: Config, index: int, now: datetime, count: int) -> NextSlots:
    settings = config.schedule[index]
    zone = config.schedule_zone(index)
    name = config.schedule_name(index)
    return NextSlots(
        schedule=name,
        cron=settings.cron,
        timezone=str(zone),
        send=settings.send,
        next=next_fires(parse_cron(settings.cron, zone), now, count),
    )


def _feeds(engine: Engine) -> list[dict[str, Any]] | None:
    # Feed health: the ``feeds`` table belongs to feed ingestion (a separate module and
    # migration); it is read here only if it exists, column by column.
    if not sa.inspect(engine).has_table("feeds"):
        return None
    feeds = sa.Table("feeds", sa.MetaData(), autoload_with=engine)
    columns = [feeds.c[name] for name in _FEED_COLUMNS if name in feeds.c]
    if not columns:
        return []
    query = sa.select(*columns).limit(500)
    if "consecutive_failures" in feeds.c:  # broken feeds first
        query = query.order_by(feeds.c.consecutive_failures.desc())
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [dict(row._mapping) for row in rows]


def to_json(status: Status) -> dict[str, Any]:
    document: dict[str, Any] = _plain(asdict(status))
    return document


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def to_text(status: Status) -> str:
    lines = [f"{status.newsletter}: status at {status.now:%Y-%m-%d %H:%M:%S} UTC", ""]
    holder = status.scheduler
    lines.append(
        f"Scheduler: running ({holder.owner}, since {holder.acquired_at:%Y-%m-%d %H:%M} UTC)"
        if holder
        else "Scheduler: not running"
    )
    lines += ["", "Next slots:"]
    if not status.schedules:
        lines.append("  no [[schedule]] in the config")
    for slots in status.schedules:
        upcoming = ", ".join(f"{m:%Y-%m-%d %H:%M:%S%z}" for m in slots.next) or "none"
        send = ", send" if slots.send else ""
        lines.append(f"  {slots.schedule} ({slots.cron}, {slots.timezone}{send}): {upcoming}")
    lines += ["", "Last runs:"]
    if not status.runs:
        lines.append("  none yet")
    for run in status.runs:
        lines.append("  " + _run_line(run))
    if status.feeds is not None:
        lines += ["", "Feeds:"]
        for feed in status.feeds or [{"": "no feeds recorded"}]:
            lines.append("  " + "  ".join(str(v) for v in feed.values() if v is not None))
    if status.fleet is not None:
        from newsletter.distributed.status import fleet_lines

        lines += ["", *fleet_lines(status.fleet)]
    return "\n".join(lines)


def _run_line(run: runlog.RunRecord) -> str:
    seconds = f"{run.duration:.1f}s" if run.duration is not None else "-"
    counts = f"{_n(run.articles_in)} in, {_n(run.items_out)} out"
    where = run.issue_path or run.error or ""
    return f"{run.slot}  {run.trigger:<8}  {run.result:<11}  {seconds:>6}  {counts}  {where}"


def _n(value: int | None) -> str:
    return "-" if value is None else str(value)
