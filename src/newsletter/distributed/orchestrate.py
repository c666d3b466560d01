"""Enqueue a slot's work and (optionally) wait for it: what ``newsletter run`` and the
scheduler do in the distributed mode instead of building the issue themselves.

Enqueueing is idempotent: the slot is planned once in the database; asking again re-enqueues
only what has not finished (a message lost with a broker restart costs one more command).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine

from newsletter.config import Config
from newsletter.distributed import slotstate
from newsletter.distributed.work import Queue, enabled_feed_urls
from newsletter.store.state import slot_key


@dataclass(frozen=True)
class Enqueued:
    run: slotstate.SlotRun
    fresh: bool
    fetches: int  # fetch tasks enqueued now
    build: bool  # a build task enqueued now


def enqueue_slot(
    config: Config,
    engine: Engine,
    queue: Queue,
    slot: datetime,
    *,
    now: datetime,
    allow_empty: bool = False,
    send: bool = False,
) -> Enqueued:
    """Plan ``slot`` and enqueue its unfinished work: one fetch per feed, or the build."""
    planned = slotstate.plan(
        engine,
        config.newsletter.name,
        slot_key(slot),
        enabled_feed_urls(config),
        allow_empty=allow_empty,
        send=send,
        now=now,
    )
    run = planned.run
    if run.finished:
        return Enqueued(run, planned.fresh, 0, False)
    if run.status == "fetching" and planned.pending:
        for url in planned.pending:
            queue.fetch(run.id, run.attempt, url)
        return Enqueued(run, planned.fresh, len(planned.pending), False)
    # Every fetch is recorded (or there are no feeds): the build may have been lost.
    if slotstate.start_building(engine, run.id, run.attempt):
        queue.build(run.id, run.attempt)
        return Enqueued(run, planned.fresh, 0, True)
    return Enqueued(run, planned.fresh, 0, False)


def wait_for(
    engine: Engine,
    run_id: int,
    *,
    timeout: float,
    poll: float = 0.25,
    progress: Callable[[slotstate.SlotRun, dict[str, int]], None] | None = None,
) -> slotstate.SlotRun | None:
    """Poll the shared database until the slot run has finished; None on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        run = slotstate.get(engine, run_id)
        if run.finished:
            return run
        if progress is not None:
            progress(run, slotstate.fetch_counts(engine, run_id))
        if time.monotonic() >= deadline:
            return None
        time.sleep(poll)
