"""What the fleet has done for a slot: one row per planned slot, one per (slot, feed) fetch.

The tables are in ``store/tables.py``. A slot's fetch rows are the barrier: the issue is built once
none is pending, whoever finishes last (or a redelivered task) sees that and enqueues the build.
Every change is a compare-and-set on the row's status, so a task run twice records once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from newsletter.store import writes
from newsletter.store.tables import slot_fetches, slot_runs

SlotStatus = Literal["fetching", "building", "done", "skipped", "failed"]
FetchStatus = Literal["pending", "done", "failed"]
FINISHED: tuple[str, ...] = ("done", "skipped", "failed")


@dataclass(frozen=True)
class SlotRun:
    id: int
    newsletter: str
    slot: str
    attempt: int
    status: str
    feeds: int
    allow_empty: bool
    send: bool
    issue_number: int | None
    issue_path: str | None
    result: str | None
    message: str | None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


@dataclass(frozen=True)
class Planned:
    run: SlotRun
    fresh: bool  # False: the slot was planned before (a retry of the same command)
    pending: list[str]  # feed URLs whose fetch has not finished in this attempt


def _slot_run(row: sa.Row[object]) -> SlotRun:
    m = row._mapping
    return SlotRun(
        id=m["id"],
        newsletter=m["newsletter"],
        slot=m["slot"],
        attempt=m["attempt"],
        status=m["status"],
        feeds=m["feeds"],
        allow_empty=bool(m["allow_empty"]),
        send=bool(m["send"]),
        issue_number=m["issue_number"],
        issue_path=m["issue_path"],
        result=m["result"],
        message=m["message"],
    )


def _where(newsletter: str, slot: str) -> sa.ColumnElement[bool]:
    return sa.and_(slot_runs.c.newsletter == newsletter, slot_runs.c.slot == slot)


def find(engine: Engine, newsletter: str, slot: str) -> SlotRun | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(slot_runs).where(_where(newsletter, slot))).first()
    return _slot_run(row) if row else None


def plan(
    engine: Engine,
    newsletter: str,
    slot: str,
    feed_urls: Sequence[str],
    *,
    allow_empty: bool,
    send: bool,
    now: datetime,
) -> Planned:
    """Record the slot and one pending fetch per feed, once.

    A slot planned before and still under way is left as it is (its pending fetches are
    returned so they can be enqueued again: a lost message costs nothing). A slot that ended
    "skipped" or "failed" gets a new attempt with every fetch pending again."""
    with engine.begin() as conn:
        writes.serialized(conn, f"slot:{newsletter}:{slot}")  # one planner of a slot at a time
        return _plan(conn, newsletter, slot, feed_urls, allow_empty, send, now)


def _plan(
    conn: Connection,
    newsletter: str,
    slot: str,
    feed_urls: Sequence[str],
    allow_empty: bool,
    send: bool,
    now: datetime,
) -> Planned:
    row = conn.execute(sa.select(slot_runs).where(_where(newsletter, slot))).first()
    values = {
        "status": "fetching" if feed_urls else "building",
        "feeds": len(feed_urls),
        "allow_empty": allow_empty,
        "send": send,
        "planned_at": now,
        "finished_at": None,
        "issue_number": None,
        "issue_path": None,
        "result": None,
        "message": None,
    }
    if row is None:
        key = conn.execute(
            slot_runs.insert().values(newsletter=newsletter, slot=slot, attempt=1, **values)
        ).inserted_primary_key
        assert key is not None
        run_id, attempt, fresh = int(key[0]), 1, True
    elif row.status in ("skipped", "failed"):
        run_id, attempt, fresh = row.id, row.attempt + 1, True
        replanned = writes.compare_and_set(
            conn,
            slot_runs,
            slot_runs.c.id == run_id,
            {"attempt": row.attempt},
            {"attempt": attempt, **values},
        )
        if not replanned:  # planners of one slot are serialized: this is a bug
            raise RuntimeError(f"slot {slot} of {newsletter!r} was replanned concurrently")
        conn.execute(slot_fetches.delete().where(slot_fetches.c.run_id == run_id))
    else:
        run = _slot_run(row)
        return Planned(run, fresh=False, pending=_pending(conn, run.id, run.attempt))
    if feed_urls:
        conn.execute(
            slot_fetches.insert(),
            [
                {"run_id": run_id, "attempt": attempt, "feed_url": url, "status": "pending"}
                for url in dict.fromkeys(feed_urls)
            ],
        )
    found = conn.execute(sa.select(slot_runs).where(slot_runs.c.id == run_id)).one()
    return Planned(_slot_run(found), fresh=fresh, pending=list(dict.fromkeys(feed_urls)))


def _pending(conn: Connection, run_id: int, attempt: int) -> list[str]:
    return list(
        conn.execute(
            sa.select(slot_fetches.c.feed_url).where(
                slot_fetches.c.run_id == run_id,
                slot_fetches.c.attempt == attempt,
                slot_fetches.c.status == "pending",
            )
        ).scalars()
    )


def stalled(engine: Engine, newsletter: str, before: datetime) -> list[SlotRun]:
    """The newsletter's unfinished slot runs with no progress since ``before``: planned before
    it, and no fetch of the attempt recorded after it."""
    last = (
        sa.select(sa.func.max(slot_fetches.c.finished_at))
        .where(
            slot_fetches.c.run_id == slot_runs.c.id,
            slot_fetches.c.attempt == slot_runs.c.attempt,
        )
        .scalar_subquery()
    )
    with engine.connect() as conn:
        found = conn.execute(
            sa.select(slot_runs).where(
                slot_runs.c.newsletter == newsletter,
                slot_runs.c.status.in_(("fetching", "building")),
                slot_runs.c.planned_at < before,
                sa.or_(last.is_(None), last < before),
            )
        ).all()
    return [_slot_run(row) for row in found]


def pending_urls(engine: Engine, run_id: int, attempt: int) -> list[str]:
    """The feeds of this attempt whose fetch has not been recorded yet."""
    with engine.connect() as conn:
        return _pending(conn, run_id, attempt)


def fetch_done(engine: Engine, run_id: int, attempt: int, feed_url: str) -> bool:
    """Whether this feed's fetch has already been recorded for this attempt of the slot."""
    with engine.connect() as conn:
        status = conn.execute(
            sa.select(slot_fetches.c.status).where(
                slot_fetches.c.run_id == run_id,
                slot_fetches.c.attempt == attempt,
                slot_fetches.c.feed_url == feed_url,
            )
        ).scalar()
    return status != "pending"


def record_fetch(
    engine: Engine,
    run_id: int,
    attempt: int,
    feed_url: str,
    *,
    status: FetchStatus,
    owner: str,
    articles: int,
    error: str | None,
    now: datetime,
) -> bool:
    """Mark the fetch finished, once; False if it was already (another delivery of the task)."""
    with engine.begin() as conn:
        return (
            conn.execute(
                slot_fetches.update()
                .where(
                    slot_fetches.c.run_id == run_id,
                    slot_fetches.c.attempt == attempt,
                    slot_fetches.c.feed_url == feed_url,
                    slot_fetches.c.status == "pending",
                )
                .values(
                    status=status,
                    owner=owner,
                    articles=articles,
                    error=error[:2000] if error else None,
                    finished_at=now,
                )
            ).rowcount
            == 1
        )


def pending_count(engine: Engine, run_id: int, attempt: int) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).where(
                    slot_fetches.c.run_id == run_id,
                    slot_fetches.c.attempt == attempt,
                    slot_fetches.c.status == "pending",
                )
            ).scalar()
            or 0
        )


def fetch_counts(engine: Engine, run_id: int) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(slot_fetches.c.status, sa.func.count())
            .where(slot_fetches.c.run_id == run_id)
            .group_by(slot_fetches.c.status)
        ).all()
    return {status: int(count) for status, count in rows}


def start_building(engine: Engine, run_id: int, attempt: int) -> bool:
    """fetching -> building, once; True if the slot is (now or already) ready to build."""
    with engine.begin() as conn:
        conn.execute(
            slot_runs.update()
            .where(
                slot_runs.c.id == run_id,
                slot_runs.c.attempt == attempt,
                slot_runs.c.status == "fetching",
            )
            .values(status="building")
        )
        status = conn.execute(
            sa.select(slot_runs.c.status).where(
                slot_runs.c.id == run_id, slot_runs.c.attempt == attempt
            )
        ).scalar()
    return status == "building"


def finish(
    engine: Engine,
    run_id: int,
    attempt: int,
    status: SlotStatus,
    *,
    now: datetime,
    number: int | None = None,
    path: str | None = None,
    result: str | None = None,
    message: str | None = None,
) -> None:
    with engine.begin() as conn:
        conn.execute(
            slot_runs.update()
            .where(
                slot_runs.c.id == run_id,
                slot_runs.c.attempt == attempt,
                slot_runs.c.status.not_in(FINISHED),
            )
            .values(
                status=status,
                finished_at=now,
                issue_number=number,
                issue_path=path,
                result=result,
                message=message[:2000] if message else None,
            )
        )


def get(engine: Engine, run_id: int) -> SlotRun:
    with engine.connect() as conn:
        return _slot_run(conn.execute(sa.select(slot_runs).where(slot_runs.c.id == run_id)).one())


def recent(engine: Engine, newsletter: str, limit: int = 5) -> list[dict[str, object]]:
    """The latest planned slots with their fetch counts, for ``newsletter status``."""
    with engine.connect() as conn:
        found = conn.execute(
            sa.select(slot_runs)
            .where(slot_runs.c.newsletter == newsletter)
            .order_by(slot_runs.c.planned_at.desc())
            .limit(limit)
        ).all()
    report: list[dict[str, object]] = []
    for row in found:
        counts = fetch_counts(engine, row.id)
        report.append(
            {
                "slot": row.slot,
                "status": row.status,
                "feeds": row.feeds,
                "fetched": counts.get("done", 0) + counts.get("failed", 0),
                "failed": counts.get("failed", 0),
                "issue": row.issue_number,
            }
        )
    return report
