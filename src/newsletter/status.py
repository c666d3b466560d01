"""``newsletter status``: the last runs, the next slots, the scheduler's lock and feed health.

Read-only over the state database: it creates and migrates nothing, and says to run
``newsletter db upgrade`` when the database is missing or behind.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from newsletter.config import Config
from newsletter.schedule import runlog
from newsletter.schedule.cron import next_fires, parse_cron
from newsletter.schedule.lock import Holder, file_holder, lock_path, on_postgresql
from newsletter.sources.ingest import feed_health
from newsletter.store import state


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
    feeds: list[dict[str, Any]]  # the shape of `feeds --json` (FeedHealth.as_json)
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
            feeds=[row.as_json() for row in feed_health(config, engine)],
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
    else:
        lines += _indented(
            table(
                ("schedule", "cron", "timezone", "send", "next slots"),
                [
                    (
                        slots.schedule,
                        slots.cron,
                        slots.timezone,
                        "yes" if slots.send else "no",
                        ", ".join(f"{m:%Y-%m-%d %H:%M%z}" for m in slots.next) or "none",
                    )
                    for slots in status.schedules
                ],
            )
        )
    lines += ["", "Last runs:"]
    if not status.runs:
        lines.append("  none yet")
    else:
        lines += _indented(
            table(
                ("slot", "trigger", "result", "seconds", "in", "out", "issue / error"),
                [_run_row(run) for run in status.runs],
            )
        )
    lines += ["", "Feeds:"]
    lines += _indented(feed_table(status.feeds)) if status.feeds else ["  no [[feeds]] configured"]
    if status.fleet is not None:
        from newsletter.distributed.status import fleet_lines

        lines += ["", *fleet_lines(status.fleet)]
    return "\n".join(lines)


def feed_table(feeds: list[dict[str, Any]]) -> list[str]:
    """The feed-health rows (``FeedHealth.as_json``) as a labelled table, for people."""
    return table(
        (
            "health",
            "name",
            "last success",
            "status",
            "fails",
            "parsed",
            "too old",
            "stored",
            "last error / url",
        ),
        [
            (
                str(feed["health"]),
                str(feed["name"]),
                _minute(feed["last_success"]) or "never",
                str(feed["last_status"] or "-"),
                str(feed["consecutive_failures"]),
                _n(feed["entries_parsed"]),
                _n(feed["entries_too_old"]),
                str(feed["entries_seen"]),
                str(feed["last_error"] or feed["fetched_from"] or feed["url"]),
            )
            for feed in feeds
        ],
    )


def table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    """Columns padded to their widest cell; the last one is left ragged."""
    everything = [header, *rows]
    widths = [max(len(row[i]) for row in everything) for i in range(len(header) - 1)]
    return [
        "  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[-1]]).rstrip()
        for row in everything
    ]


def _indented(lines: list[str]) -> list[str]:
    return ["  " + line for line in lines]


def _minute(iso: object) -> str | None:
    """An ISO 8601 moment shown to the minute, UTC."""
    if not isinstance(iso, str):
        return None
    return f"{datetime.fromisoformat(iso).astimezone(UTC):%Y-%m-%d %H:%M}"


def _run_row(run: runlog.RunRecord) -> tuple[str, ...]:
    return (
        run.slot,
        run.trigger,
        run.result,
        f"{run.duration:.1f}" if run.duration is not None else "-",
        _n(run.articles_in),
        _n(run.items_out),
        run.issue_path or run.error or "",
    )


def _n(value: int | None) -> str:
    return "-" if value is None else str(value)


_FAILED_RESULTS = (runlog.FAILED, runlog.CRASHED, runlog.MISSED)


def problems(config: Config, status: Status) -> list[str]:
    """What ``status --check`` reports, one line each (empty: healthy): the scheduler down
    while a [[schedule]] is configured, the last finished run failed, unhealthy feeds."""
    found = []
    if config.schedule and status.scheduler is None:
        found.append(
            "the scheduler is not running although newsletter.toml has a [[schedule]]; "
            "start it: newsletter schedule (e.g. as a systemd service)"
        )
    finished = [run for run in status.runs if run.result != runlog.RUNNING]
    if finished and finished[0].result in _FAILED_RESULTS:
        last = finished[0]
        found.append(
            f"the last run (slot {last.slot}) {last.result}: "
            f"{last.error or 'no reason recorded'}; fix the cause, then: "
            f"newsletter run --slot {last.slot}"
        )
    for feed in status.feeds:
        if feed["unhealthy"]:
            found.append(
                f"feed {feed['name']!r} is {feed['health']}: "
                f"{feed['last_error'] or 'failed'} ({_failures(feed['consecutive_failures'])} in "
                f"a row); correct its url in newsletter.toml, or remove or disable it"
            )
    return found


def _failures(count: int) -> str:
    return f"{count} failure" + ("" if count == 1 else "s")
