"""``newsletter schedule`` in the distributed mode: the same daemon, another lock, and a slot
run that only enqueues (workers build and send).

- The lock is a PostgreSQL advisory lock (``lock.AdvisoryLock``): a second scheduler refuses
  to start; ``--standby`` waits for it and takes over as soon as the holder's session ends.
- A due slot is recorded in the run log as "queued" and planned and enqueued exactly like
  ``newsletter run --no-wait``; planning is idempotent, so the slot a dying scheduler had just
  enqueued and its successor's catch-up of the same slot make one issue.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from datetime import datetime

from newsletter.config import Config
from newsletter.distributed.lock import AdvisoryLock, scheduler_key
from newsletter.errors import NewsletterError, Warn
from newsletter.logs import fields
from newsletter.pipeline import Checkpoint
from newsletter.schedule import runlog
from newsletter.schedule.runner import Clock, Deliver, execute
from newsletter.store import state

RunSlot = Callable[..., object]
Taken = tuple[AdvisoryLock, RunSlot]
log = logging.getLogger("newsletter.schedule")
QUEUED = "queued"
_STOP = {signal.SIGTERM, signal.SIGINT}


def scheduler_lock(config: Config, *, standby: bool, poll: float = 0.5) -> AdvisoryLock | None:
    """The advisory lock, held; None when a standby was told to stop before it got it.

    Called with SIGTERM/SIGINT blocked (the daemon receives them with sigwait), so a waiting
    standby polls for them with ``sigtimedwait`` between tries."""
    assert config.state.url is not None
    lock = AdvisoryLock(
        config.state.url, state.owner_token(), scheduler_key(config.newsletter.name)
    )
    if not standby:
        lock.acquire()
        return lock
    log.info(f"standby: waiting for the scheduler lock ({lock.holder() or 'free'})")
    while not lock.try_acquire():
        if signal.sigtimedwait(_STOP, poll) is not None:
            log.info("standby: stopped before taking over")
            lock.release()
            return None
    log.info("standby: took over the scheduler lock")
    return lock


def take_lock(
    config: Config, *, standby: bool
) -> Callable[[], tuple[AdvisoryLock, RunSlot] | None]:
    """The daemon's ``TakeLock`` on PostgreSQL: the advisory lock, and in the distributed mode
    slots enqueued (else built in this process, as with the embedded database)."""
    run_slot: RunSlot = enqueue_run if config.distributed else execute

    def take() -> tuple[AdvisoryLock, RunSlot] | None:
        held = scheduler_lock(config, standby=standby)
        return None if held is None else (held, run_slot)

    return take


def enqueue_run(
    config: Config,
    *,
    trigger: runlog.Trigger,
    clock: Clock,
    warn: Warn,
    slot: datetime | None = None,
    schedule: str | None = None,
    allow_empty: bool = False,
    new_edition: bool = False,
    checkpoint: Checkpoint = lambda _stage: None,
    deliver: Deliver | None = None,
) -> None:
    """The daemon's slot run in the distributed mode (``runner.execute``'s keywords)."""
    from newsletter.distributed.app import CeleryQueue, make_app
    from newsletter.distributed.orchestrate import enqueue_slot

    assert slot is not None
    send = any(
        s.send and config.schedule_name(i) == schedule for i, s in enumerate(config.schedule)
    )
    app = make_app(config)
    try:
        with state.connect(config.state_dir, config.state.url) as engine:
            run_id = runlog.start_run(
                engine,
                config.newsletter.name,
                slot,
                trigger=trigger,
                schedule=schedule,
                owner=state.owner_token(),
                now=clock(),
            )
            try:
                queued = enqueue_slot(
                    config,
                    engine,
                    CeleryQueue(app, config.queue_name),
                    slot,
                    now=clock(),
                    allow_empty=allow_empty,
                    send=send,
                )
            except Exception as e:
                reason = f"{type(e).__name__}: {e}"
                runlog.finish_run(
                    engine, run_id, runlog.Outcome(runlog.FAILED, error=reason), now=clock()
                )
                log.error(f"could not enqueue the slot: {reason}", extra=fields(slot=slot))
                raise NewsletterError(reason) from e
            runlog.finish_run(engine, run_id, runlog.Outcome(QUEUED), now=clock())
    finally:
        app.close()
    log.info(
        "slot queued",
        extra=fields(
            slot=slot,
            schedule=schedule,
            trigger=trigger,
            fetches=queued.fetches,
            build=queued.build,
            status=queued.run.status,
        ),
    )


def sweeper(config: Config, *, clock: Clock) -> Callable[[], int]:
    """The daemon's periodic check in the distributed mode: every slot of this newsletter
    that has made no progress for ``stall_seconds`` gets its unfinished work enqueued again
    (``orchestrate.resume_lost``: a message lost with a worker killed as it took it, or with
    the broker; never while messages still wait in the queue). Returns the tasks sent."""
    from datetime import timedelta

    from newsletter.distributed import slotstate
    from newsletter.distributed.orchestrate import resume_lost, stall_seconds

    def sweep() -> int:
        before = clock() - timedelta(seconds=stall_seconds(config))
        # The daemon upgraded the schema when it started: a check only reads and enqueues.
        with state.connect(config.state_dir, config.state.url, upgrade=False) as engine:
            runs = slotstate.stalled(engine, config.newsletter.name, before)
            if not runs:
                return 0
            from newsletter.distributed.app import CeleryQueue, make_app

            app = make_app(config)
            try:
                queue = CeleryQueue(app, config.queue_name)
                return sum(resume_lost(config, engine, queue, run) for run in runs)
            finally:
                app.close()

    return sweep
