"""``newsletter schedule``: the foreground scheduler (APScheduler 3.x) that makes each slot's issue.

- One scheduler per newsletter and state database: it holds a lock its holder's death releases
  (``lock.FileLock`` beside SQLite, a PostgreSQL advisory lock) and checks it now and then.
- Jobs live in memory, made from the config's ``[[schedule]]`` tables at start: no stale job
  survives a config change, and ``newsletter status`` computes the next slots from the config.
- A slot's fire time is the issue's identity (``pipeline.run(slot=...)``); runs go through
  ``runner.execute``, so the slot is claimed before any work and a manual ``newsletter run`` of
  the same slot finds it claimed or done.
- Catch-up is deliberate: at start, the most recent due slot of each schedule, if it is within
  ``[scheduler] grace_seconds`` and its issue is not done, is made once (coalesced), however many
  slots were missed. Older missed slots are logged and skipped.
- One run at a time (a one-thread executor). SIGTERM/SIGINT stop the scheduler: the current run
  finishes if it can within half of ``stop_timeout_seconds``, else it is abandoned at its next
  checkpoint and gives its claim back. Exit status 0. A stage that reaches no checkpoint in
  time (a long computation) does not hold the process: at ``stop_timeout_seconds`` it exits
  anyway (status 0, one log line); the next run takes the dead run's claim over.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from apscheduler.events import EVENT_JOB_EXECUTED, EVENT_SCHEDULER_START, JobExecutionEvent
from apscheduler.executors.base import BaseExecutor
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy.engine import Engine

from newsletter.config import Config
from newsletter.errors import NewsletterError, Warn
from newsletter.logs import counting, fields
from newsletter.pipeline import Checkpoint
from newsletter.progress import listening
from newsletter.schedule.cron import latest_fire, parse_cron
from newsletter.schedule.lock import FileLock, LockLost, SchedulerLock, lock_path
from newsletter.schedule.runlog import Trigger
from newsletter.schedule.runner import Clock, Deliver, RunAbandoned, chain, execute
from newsletter.store import state

log = logging.getLogger("newsletter.schedule")

# Stages after which a stopping scheduler lets the run finish: the issue is on disk.
_POINT_OF_NO_RETURN = ("staged", "written", "finished")


def scheduled_issue(**_kwargs: Any) -> None:
    """The jobs' callable. SlotExecutor runs the job instead; this never runs."""
    raise RuntimeError("scheduled issues are run by 'newsletter schedule'")


@dataclass(frozen=True)
class Schedule:
    name: str
    trigger: CronTrigger
    send: bool

    @property
    def job_id(self) -> str:
        return f"schedule:{self.name}"


def schedules(config: Config) -> list[Schedule]:
    return [
        Schedule(config.schedule_name(i), parse_cron(s.cron, config.schedule_zone(i)), s.send)
        for i, s in enumerate(config.schedule)
    ]


def catch_up_slot(
    trigger: CronTrigger, now: datetime, grace: timedelta, done: Callable[[datetime], bool]
) -> tuple[datetime | None, str]:
    """The one slot to make at start, if any, and why (for the log)."""
    latest = latest_fire(trigger, now)
    if latest is None:
        return None, "no slot has come due yet"
    if now - latest > grace:
        return None, f"the last slot {latest.isoformat()} is older than the grace time; skipped"
    if done(latest):
        return None, f"the last slot {latest.isoformat()} is already done"
    return latest, f"the last slot {latest.isoformat()} was missed; making it now"


class SlotExecutor(BaseExecutor):  # type: ignore[misc]
    """Runs a due job as ``fire(job_id, slot)`` on one worker thread, one run at a time.

    APScheduler passes the coalesced run times; the last one is the slot."""

    def __init__(self, fire: Any) -> None:
        super().__init__()
        self._fire = fire
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="newsletter-run")

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        future = self._pool.submit(self._fire, job.id, run_times[-1])

        def done(f: concurrent.futures.Future[None]) -> None:
            error = f.exception()
            if error is not None:
                self._run_job_error(job.id, error, error.__traceback__)
                return
            event = JobExecutionEvent(
                EVENT_JOB_EXECUTED, job.id, job._jobstore_alias, run_times[-1], None
            )
            self._run_job_success(job.id, [event])

        future.add_done_callback(done)

    def shutdown(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait)


PROGRESS_EVERY = 10.0


def logging_fetch_progress(run_slot: RunSlot, every: float = PROGRESS_EVERY) -> RunSlot:
    """``run_slot`` logging the feeds fetched so far (``feeds fetched 40/200 (4.0/s)``) at
    most every ``every`` seconds while it runs, as ``newsletter run`` does off a terminal:
    a scheduler has no terminal, so never a bar. Set in the thread that runs the slot (the
    listener is a context variable)."""

    def run(*args: Any, **kwargs: Any) -> object:
        with (
            counting("feeds fetched", bar=False, every=every) as tick,
            listening(lambda _what, done, total: tick(done, total)),
        ):
            return run_slot(*args, **kwargs)

    return run


STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


class Daemon:
    def __init__(
        self,
        config: Config,
        engine: Engine,
        lock: SchedulerLock,
        *,
        clock: Clock,
        warn: Warn,
        deliver: Deliver | None,
        checkpoint: Checkpoint,
        run_slot: RunSlot = execute,
        progress_every: float = PROGRESS_EVERY,
        sweep: Sweep | None = None,
    ) -> None:
        # the distributed mode enqueues instead (see distributed/)
        self._run_slot = logging_fetch_progress(run_slot, progress_every)
        self._config = config
        self._engine = engine
        self._lock = lock
        self._clock = clock
        self._warn = warn
        self._deliver = deliver
        self._checkpoint = checkpoint
        self._schedules = {s.job_id: s for s in schedules(config)}
        self._sweep = sweep
        self._catch_up: set[tuple[str, datetime]] = set()
        self._stopping = threading.Event()
        self._abandon = threading.Event()
        self._lost = threading.Event()
        self._failed = threading.Event()
        self._exited = threading.Event()
        self._ready = threading.Event()
        settings = config.scheduler
        self._grace = timedelta(seconds=settings.grace_seconds)
        self._scheduler = BlockingScheduler(
            executors={"default": SlotExecutor(self._fire)},
            job_defaults={
                "coalesce": True,
                # One run at a time (the executor has one thread); a slot that comes due
                # while the previous one is still being made waits for it instead of being
                # skipped. One waits at most: a schedule faster than its runs skips, with
                # APScheduler's warning, as it must.
                "max_instances": 2,
                "misfire_grace_time": settings.grace_seconds,
            },
            timezone="UTC",
        )
        self._scheduler.add_listener(self._prepare, EVENT_SCHEDULER_START)

    def run(self) -> int:
        """Schedule until SIGTERM/SIGINT; 0 on a requested stop, 1 if the lock was lost.

        The stop signals must be blocked in every thread (``serve`` does it) so that only the
        watcher thread receives them, with ``sigwait``: no handler interrupts the scheduler or
        a run half-way through a statement."""
        threading.Thread(target=self._check_lock, name="lock-check", daemon=True).start()
        threading.Thread(target=self._watch_signals, name="signals", daemon=True).start()
        if self._sweep is not None:
            threading.Thread(target=self._sweep_stalled, name="sweep", daemon=True).start()
        names = ", ".join(s.name for s in self._schedules.values()) or "none"
        log.info("scheduler started", extra=fields(schedules=names))
        for schedule in self._schedules.values():
            if schedule.send and self._deliver is None:
                log.warning(
                    "send = true, but this build has no delivery: issues stay in the outbox",
                    extra=fields(schedule=schedule.name),
                )
        try:
            self._scheduler.start(paused=True)  # returns once the watcher has shut it down
        except Exception:  # the scheduler could not start
            log.exception("the scheduler could not start")
            self._failed.set()
        finally:
            self._exited.set()
            if not self._lost.is_set():
                self._lock.release()
            log.info("scheduler stopped")
        return 1 if self._lost.is_set() or self._failed.is_set() else 0

    def _watch_signals(self) -> None:
        signum = signal.sigwait(STOP_SIGNALS)
        self._stopping.set()
        log.info("stopping", extra=fields(signal=signal.Signals(signum).name))
        limit = self._config.scheduler.stop_timeout_seconds
        timers = [
            threading.Timer(limit / 2, self._abandon.set),
            threading.Timer(limit, self._exit_now, args=(limit,)),
        ]
        for timer in timers:
            timer.daemon = True
            timer.start()
        self._ready.wait()  # the scheduler must have started before it can be shut down
        try:
            self._scheduler.shutdown(wait=True)  # waits for the current run
        finally:
            for timer in timers:
                timer.cancel()

    def _exit_now(self, limit: float) -> None:
        """The run did not stop within ``stop_timeout_seconds``: leave without it. Its claim
        and run-log row belong to a dead process then, which the next run takes over."""
        if self._exited.is_set():
            return
        log.warning(
            "stop timeout: exiting with a run still in progress; the next run takes its slot over",
            extra=fields(stop_timeout_seconds=limit),
        )
        for handler in logging.getLogger().handlers:
            handler.flush()
        os._exit(0)

    def _prepare(self, _event: object) -> None:
        """At start, in the paused scheduler: add the config's jobs, then plan catch-up."""
        try:
            self._add_jobs()
            self._scheduler.resume()
        except Exception:  # APScheduler would swallow it and stay paused forever
            log.exception("could not set up the schedules")
            self._failed.set()
            os.kill(os.getpid(), signal.SIGTERM)
        finally:
            self._ready.set()

    def _add_jobs(self) -> None:
        now = self._clock()
        for schedule in self._schedules.values():
            slot, why = catch_up_slot(schedule.trigger, now, self._grace, self._done)
            log.info(f"catch-up: {why}", extra=fields(schedule=schedule.name))
            if slot is not None:
                self._catch_up.add((schedule.job_id, slot))
            self._scheduler.add_job(
                scheduled_issue,
                schedule.trigger,
                id=schedule.job_id,
                name=schedule.name,
                # A past next run time makes APScheduler fire the job at once, coalesced.
                **({"next_run_time": slot} if slot is not None else {}),
            )
        for job in self._scheduler.get_jobs():
            log.info("next slot", extra=fields(schedule=job.name, slot=job.next_run_time))

    def _done(self, slot: datetime) -> bool:
        return state.slot_done(self._engine, self._config.newsletter.name, slot)

    def _fire(self, job_id: str, slot: datetime) -> None:
        schedule = self._schedules[job_id]
        trigger: Trigger = "catch-up" if (job_id, slot) in self._catch_up else "schedule"
        self._catch_up.discard((job_id, slot))
        late = self._clock() - slot
        if late > self._grace:
            log.warning(
                "slot missed: the run started later than the grace time",
                extra=fields(
                    schedule=schedule.name, slot=slot, late_seconds=int(late.total_seconds())
                ),
            )
            return
        if self._stopping.is_set():
            return
        try:
            self._run_slot(
                self._config,
                trigger=trigger,
                clock=self._clock,
                warn=self._warn,
                slot=slot,
                schedule=schedule.name,
                allow_empty=not self._config.scheduler.skip_when_nothing_new,
                checkpoint=chain(self._abandon_point, self._checkpoint),
                deliver=self._deliver if schedule.send else None,
            )
        except RunAbandoned:
            pass  # logged and recorded by execute; the claim is released
        except NewsletterError:
            pass  # logged and recorded by execute; the next slot tries again
        except Exception:
            log.exception("run failed unexpectedly", extra=fields(schedule=schedule.name))

    def _abandon_point(self, stage: str) -> None:
        if self._abandon.is_set() and stage not in _POINT_OF_NO_RETURN:
            raise RunAbandoned(f"abandoned at '{stage}': the scheduler is stopping")

    def _sweep_stalled(self) -> None:
        """The distributed mode's check for slots that stopped moving (``Sweep``), every
        ``sweep_seconds``; a failure is logged and the next check tries again."""
        assert self._sweep is not None
        sweep, every = self._sweep
        while not self._exited.wait(every):
            if self._stopping.is_set():
                return
            try:
                sweep()
            except Exception as e:
                log.warning(f"could not check for stalled slots: {type(e).__name__}: {e}")

    def _check_lock(self) -> None:
        every = self._config.scheduler.lease_seconds / 3
        while not self._exited.wait(every):
            try:
                self._lock.renew()
            except LockLost as e:
                log.error(str(e))
                self._lost.set()
                os.kill(os.getpid(), signal.SIGTERM)
                return
            except Exception as e:  # a database hiccup: try again at the next check
                log.warning(f"could not check the scheduler lock: {e}")


@contextmanager
def _stop_signals_blocked() -> Iterator[None]:
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


RunSlot = Callable[..., object]
"""How a due slot is made: ``runner.execute``'s keywords (the distributed mode enqueues)."""
TakeLock = Callable[[], "tuple[SchedulerLock, RunSlot] | None"]
Sweep = tuple[Callable[[], object], float]
"""A check the daemon runs every so many seconds while it holds the lock (the distributed
mode's re-enqueueing of stalled slots), and that interval."""
"""Takes another scheduler lock than the lock file, held, with the slot run that goes with it; None
when told to stop while waiting for it. Called with SIGTERM/SIGINT blocked (sigwait gets them)."""


def serve(
    config: Config,
    *,
    clock: Clock,
    warn: Warn,
    deliver: Deliver | None = None,
    checkpoint: Checkpoint = lambda _stage: None,
    take_lock: TakeLock | None = None,
    sweep: Sweep | None = None,
) -> int:
    """Run the scheduler in the foreground until SIGTERM/SIGINT; raises LockHeld if another runs.
    The command chooses the lock: ``take_lock`` (PostgreSQL's), else the lock file."""
    with _stop_signals_blocked():
        return _serve(
            config,
            clock=clock,
            warn=warn,
            deliver=deliver,
            checkpoint=checkpoint,
            take_lock=take_lock,
            sweep=sweep,
        )


def _serve(
    config: Config,
    *,
    clock: Clock,
    warn: Warn,
    deliver: Deliver | None,
    checkpoint: Checkpoint,
    take_lock: TakeLock | None,
    sweep: Sweep | None,
) -> int:
    engine = state.open_engine(config.state_dir, config.state.url)
    try:
        lock: SchedulerLock
        run_slot: RunSlot = execute
        if take_lock is not None:
            held = take_lock()
            if held is None:
                return 0  # a standby stopped while it waited
            lock, run_slot = held
        else:
            path = lock_path(config.state_dir, config.state.url, config.newsletter.name)
            lock = FileLock(path, state.owner_token(), clock)
            lock.acquire()
        daemon = Daemon(
            config,
            engine,
            lock,
            clock=clock,
            warn=warn,
            deliver=deliver,
            checkpoint=checkpoint,
            run_slot=run_slot,
            sweep=sweep,
        )
        return daemon.run()
    finally:
        engine.dispose()
