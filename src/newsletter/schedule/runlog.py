"""The run log: every attempt to make an issue, manual or scheduled, in the ``runs`` table.

A run is recorded as "running" before it starts and updated once when it ends. A process killed
in between leaves its row "running"; the next run marks such rows "crashed" (their owner process
is gone, or they are older than the lease), so the log never claims a dead run is still going.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from newsletter.store import state

Trigger = Literal["manual", "schedule", "catch-up"]
# A run's result: a pipeline RunStatus, or one of these.
RUNNING, FAILED, ABANDONED, CRASHED, MISSED = "running", "failed", "abandoned", "crashed", "missed"


@dataclass(frozen=True)
class RunRecord:
    id: int
    newsletter: str
    slot: str
    trigger: str
    schedule: str | None
    started_at: datetime
    finished_at: datetime | None
    result: str
    duration: float | None
    articles_in: int | None
    items_out: int | None
    issue_number: int | None
    issue_path: str | None
    error: str | None


@dataclass(frozen=True)
class Outcome:
    result: str
    articles_in: int | None = None
    items_out: int | None = None
    issue_number: int | None = None
    issue_path: str | None = None
    error: str | None = None


def start_run(
    engine: Engine,
    newsletter: str,
    slot: datetime,
    *,
    trigger: Trigger,
    schedule: str | None,
    owner: str,
    now: datetime,
) -> int:
    with engine.begin() as conn:
        key = conn.execute(
            state.runs.insert().values(
                newsletter=newsletter,
                slot=slot.isoformat(),
                trigger=trigger,
                schedule=schedule,
                owner=owner,
                started_at=now,
                result=RUNNING,
            )
        ).inserted_primary_key
    assert key is not None
    return int(key[0])


def finish_run(engine: Engine, run_id: int, outcome: Outcome, *, now: datetime) -> None:
    with engine.begin() as conn:
        started = conn.execute(
            sa.select(state.runs.c.started_at).where(state.runs.c.id == run_id)
        ).scalar_one()
        conn.execute(
            state.runs.update()
            .where(state.runs.c.id == run_id)
            .values(
                finished_at=now,
                duration=(now - started).total_seconds(),
                result=outcome.result,
                articles_in=outcome.articles_in,
                items_out=outcome.items_out,
                issue_number=outcome.issue_number,
                issue_path=outcome.issue_path,
                error=outcome.error[:2000] if outcome.error else None,
            )
        )


def reap_crashed(engine: Engine, *, now: datetime, lease: timedelta) -> int:
    """Mark "running" rows whose process is gone (or older than ``lease``) as "crashed"."""
    with engine.begin() as conn:
        rows = conn.execute(
            sa.select(state.runs.c.id, state.runs.c.owner, state.runs.c.started_at).where(
                state.runs.c.result == RUNNING
            )
        ).all()
        dead = [
            row.id
            for row in rows
            if not state.owner_alive(row.owner) or now - row.started_at > lease
        ]
        if dead:
            conn.execute(
                state.runs.update()
                .where(state.runs.c.id.in_(dead))
                .values(result=CRASHED, error="the process died during the run")
            )
    return len(dead)


def last_runs(engine: Engine, newsletter: str, limit: int = 10) -> list[RunRecord]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(state.runs)
            .where(state.runs.c.newsletter == newsletter)
            .order_by(state.runs.c.id.desc())
            .limit(limit)
        ).all()
    return [_record(row) for row in rows]


def _record(row: sa.Row[Any]) -> RunRecord:
    return RunRecord(
        id=row.id,
        newsletter=row.newsletter,
        slot=row.slot,
        trigger=row.trigger,
        schedule=row.schedule,
        started_at=row.started_at,
        finished_at=row.finished_at,
        result=row.result,
        duration=row.duration,
        articles_in=row.articles_in,
        items_out=row.items_out,
        issue_number=row.issue_number,
        issue_path=row.issue_path,
        error=row.error,
    )
