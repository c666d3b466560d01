"""One recorded run: what both ``newsletter run`` and the scheduler call.

It records the attempt in the run log, calls ``pipeline.run`` (which claims the slot before any
work), records the outcome, logs one line, and hands a written issue to delivery when asked.
No decision about the issue itself is made here: that is the pipeline's.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TextIO

from sqlalchemy.engine import Engine

from newsletter import pipeline
from newsletter.config import Config
from newsletter.errors import NewsletterError, StateError, Warn
from newsletter.logs import fields
from newsletter.pipeline import Checkpoint, RunResult
from newsletter.schedule import runlog
from newsletter.schedule.cron import latest_fire, parse_cron
from newsletter.store import state

Clock = Callable[[], datetime]
# Delivery's hook: called with each issue a ``send = true`` schedule wrote (see daemon.py).
Deliver = Callable[[RunResult], None]
# Test-only: ``NEWSLETTER_TEST_PAUSE_AT=<stage>`` makes a run stop dead at that stage (see
# ``pause_at``) so a test can kill the process at a known point.
PAUSE_ENV = "NEWSLETTER_TEST_PAUSE_AT"

log = logging.getLogger("newsletter.run")


class RunAbandoned(BaseException):
    """Raised at a checkpoint when the scheduler is stopping: the run gives its slot back.

    A BaseException, like KeyboardInterrupt, so no ``except Exception`` swallows it."""


def default_slot(config: Config, now: datetime) -> datetime:
    """A manual run's slot: the latest scheduled slot, or the start of today without schedules."""
    latest = [
        latest_fire(parse_cron(s.cron, config.schedule_zone(i)), now)
        for i, s in enumerate(config.schedule)
    ]
    due = [moment for moment in latest if moment is not None]
    return max(due) if due else pipeline.slot_for(now, config)


def execute(
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
) -> RunResult:
    """Make the issue for ``slot`` (at most once), recorded in the run log from start to end."""
    slot = slot or default_slot(config, clock())
    where = fields(slot=slot, trigger=trigger, schedule=schedule)
    with _state(config, where) as engine:
        runlog.reap_crashed(engine, now=clock(), lease=state.DEFAULT_LEASE)
        run_id = runlog.start_run(
            engine,
            config.newsletter.name,
            slot,
            trigger=trigger,
            schedule=schedule,
            owner=state.owner_token(),
            now=clock(),
        )
        log.info("run started", extra=where)
        started = time.monotonic()
        try:
            result = pipeline.run(
                config,
                now=clock(),
                warn=warn,
                slot=slot,
                new_edition=new_edition,
                allow_empty=allow_empty,
                checkpoint=checkpoint,
            )
        except BaseException as e:
            abandoned = isinstance(e, RunAbandoned | KeyboardInterrupt)
            outcome = runlog.Outcome(
                runlog.ABANDONED if abandoned else runlog.FAILED, error=_reason(e)
            )
            runlog.finish_run(engine, run_id, outcome, now=clock())
            log.log(
                logging.WARNING if abandoned else logging.ERROR,
                f"run {outcome.result}: {_reason(e)}",
                extra=fields(**where["fields"], seconds=round(time.monotonic() - started, 3)),
            )
            raise
        runlog.finish_run(engine, run_id, _outcome(result), now=clock())
    _log_result(result, where["fields"], time.monotonic() - started)
    if deliver is not None and result.status == "written":
        if result.items_out:
            deliver(result)
        else:  # an issue forced empty (skip_when_nothing_new = false) is kept, never mailed
            log.warning("issue has no item; not sent", extra=where)
    return result


@contextmanager
def _state(config: Config, where: dict[str, Any]) -> Iterator[Engine]:
    """The state database, upgraded; a database that cannot be used is the run's one line."""
    try:
        engine = state.open_engine(config.state_dir, config.state.url)
    except StateError as e:
        log.error(str(e), extra=where)
        raise
    try:
        yield engine
    finally:
        engine.dispose()


def _reason(error: BaseException) -> str:
    """A problem we raise on purpose says itself; only a bug shows its class name."""
    text = str(error)
    if isinstance(error, RunAbandoned | NewsletterError):
        return text
    return f"{type(error).__name__}: {text}"


def _outcome(result: RunResult) -> runlog.Outcome:
    return runlog.Outcome(
        result=result.status,
        articles_in=result.articles_in,
        items_out=result.items_out,
        issue_number=result.number,
        issue_path=str(result.path) if result.path else None,
        error=None,
    )


def _log_result(result: RunResult, where: dict[str, object], seconds: float) -> None:
    detail = fields(
        **where,
        result=result.status,
        issue=result.number,
        path=result.path,
        articles_in=result.articles_in,
        items_out=result.items_out,
        seconds=round(seconds, 3),
    )
    log.info(result.message, extra=detail)


def pause_at(spec: str, stream: TextIO = sys.stderr) -> Checkpoint:
    """Test-only checkpoint. ``spec`` is ``stage`` (stop there until killed) or ``stage:seconds``
    (wait that long, then go on); on reaching the stage it says ``paused at <stage>``."""
    stage, _, seconds = spec.partition(":")
    wait = float(seconds) if seconds else None

    def checkpoint(reached: str) -> None:
        if reached != stage:
            return
        stream.write(f"paused at {stage}\n")
        stream.flush()
        if wait is not None:
            time.sleep(wait)
            return
        while True:
            time.sleep(60)

    return checkpoint


def chain(*checkpoints: Checkpoint) -> Checkpoint:
    def checkpoint(stage: str) -> None:
        for each in checkpoints:
            each(stage)

    return checkpoint
