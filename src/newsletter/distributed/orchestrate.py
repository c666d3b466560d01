"""Enqueue a slot's work and (optionally) wait for it: what ``newsletter run`` and the
scheduler do in the distributed mode instead of building the issue themselves.

Enqueueing is idempotent: the slot is planned once in the database; asking again re-enqueues
only what has not finished. A waiting ``newsletter run`` does that by itself when the slot makes
no progress for twice the visibility timeout: a message lost with a broker restart, or taken off
the queue by a worker killed before Redis recorded it as unacknowledged (kombu's Redis transport
has that window), would otherwise hold the issue up for good.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine

from newsletter.config import Config
from newsletter.distributed import slotstate
from newsletter.distributed.work import Queue, enabled_feed_urls
from newsletter.logs import fields
from newsletter.store.state import slot_key

log = logging.getLogger("newsletter.run")


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


def resume(engine: Engine, queue: Queue, run: slotstate.SlotRun) -> int:
    """Enqueue again what an unfinished slot run is waiting for: its pending fetches, or its
    build. Harmless when the first messages were not lost after all: a fetch already recorded
    is not fetched again, and the build is claimed in the database. Returns the tasks sent."""
    if run.finished:
        return 0
    if run.status == "building":
        queue.build(run.id, run.attempt)
        return 1
    pending = slotstate.pending_urls(engine, run.id, run.attempt)
    for url in pending:
        queue.fetch(run.id, run.attempt, url)
    if not pending and slotstate.start_building(engine, run.id, run.attempt):
        queue.build(run.id, run.attempt)
        return 1
    return len(pending)


def resume_lost(config: Config, engine: Engine, queue: Queue, run: slotstate.SlotRun) -> int:
    """``resume`` a stalled slot run, with one warning line, unless messages still wait in
    the queue: then its work is not lost, only not reached yet (no worker runs, or they are
    busy), and sending it again would only pile up copies. Returns the tasks sent."""
    from newsletter.distributed.status import waiting

    if waiting(config.queue.broker or "", config.queue_name):
        return 0
    sent = resume(engine, queue, run)
    if sent:
        what = "build" if run.status == "building" else f"{sent} unfinished fetch(es)"
        log.warning(
            f"slot {run.slot}: no progress for {stall_seconds(config):g} s; enqueued its "
            f"{what} again ({sent} task(s); a worker may have died holding them)",
            extra=fields(slot=run.slot, tasks=sent, status=run.status),
        )
    return sent


def stall_seconds(config: Config) -> float:
    """How long a slot may make no progress before a waiting run re-enqueues its work: twice
    the visibility timeout, by when Redis has handed back every message a dead worker held."""
    return 2.0 * config.queue.visibility_timeout


def wait_for(
    engine: Engine,
    run_id: int,
    *,
    timeout: float,
    poll: float = 0.25,
    progress: Callable[[slotstate.SlotRun, dict[str, int]], None] | None = None,
    stalled: Callable[[slotstate.SlotRun], object] | None = None,
    stall_after: float = float("inf"),
) -> slotstate.SlotRun | None:
    """Poll the shared database until the slot run has finished; None on timeout.

    ``stalled`` is called with the run each time neither its status nor its fetch counts
    have changed for ``stall_after`` seconds."""
    start = time.monotonic()
    deadline = start + timeout
    seen: object = None
    changed = start
    while True:
        run = slotstate.get(engine, run_id)
        if run.finished:
            return run
        counts = slotstate.fetch_counts(engine, run_id)
        if progress is not None:
            progress(run, counts)
        now = time.monotonic()
        state = (run.status, run.attempt, sorted(counts.items()))
        if state != seen:
            seen, changed = state, now
        elif stalled is not None and now - changed >= stall_after:
            stalled(run)
            changed = now
        if now >= deadline:
            return None
        time.sleep(poll)
