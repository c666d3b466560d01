"""What each task does: the pipeline's own stages, called per feed, per slot, per batch.

Plain functions over a ``Work`` context (the config, the state database, the queue to enqueue
follow-up tasks on); ``app.py`` wraps them as Celery tasks, and tests may run them with an
in-process queue. Each is safe to run twice, concurrently, or after a worker died half-way:

- ``fetch_feed`` ingests one feed unless its fetch is recorded for this attempt of the slot,
  then records it (compare-and-set) and, when no fetch of the slot is pending, enqueues the
  build. The check runs even when the fetch was already recorded, so a worker killed between
  recording and enqueueing is made good by the redelivered task.
- ``build_issue`` runs ``pipeline.run`` for the slot (the slot claim makes a second build a
  no-op, and adopts the folder a killed build left), then enqueues sending if asked.
- ``send_issue`` splits the subscribers into batches; ``send_batch`` sends one batch through
  delivery's per-subscriber claims: a subscriber already sent is skipped.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy.engine import Engine

from newsletter import pipeline
from newsletter.config import Config
from newsletter.distributed import slotstate
from newsletter.distributed.stages import stored_articles
from newsletter.errors import Warn
from newsletter.sources.fetch import Fetcher
from newsletter.store import state
from newsletter.store.state import slot_key as slot_key  # one definition; work.slot_key kept

log = logging.getLogger("newsletter.worker")
Clock = Callable[[], datetime]


class Queue(Protocol):
    """Where follow-up work goes: Celery in production, a list or a direct call in tests."""

    def fetch(self, run_id: int, attempt: int, feed_url: str) -> None: ...

    def build(self, run_id: int, attempt: int) -> None: ...

    def send(self, number: int) -> None: ...

    def batch(self, number: int, emails: Sequence[str]) -> None: ...


class NotYet(Exception):
    """The work cannot be done right now (another process holds it): try again later."""


# The stage functions the tasks call; the defaults are the feed and delivery modules'.
FetchOne = Callable[[Config, Engine, Fetcher, str, datetime, Warn], int]
SendSome = Callable[[Config, int, Sequence[str], datetime], "BatchOutcome"]


@dataclass(frozen=True)
class BatchOutcome:
    sent: int
    skipped: int
    busy: int  # held by another live sender: the batch must be looked at again
    failed: int


def _default_fetch(
    config: Config,
    engine: Engine,
    fetcher: Fetcher,
    url: str,
    now: datetime,
    warn: Warn,
) -> int:
    from newsletter.distributed.stages import ingest_one

    return ingest_one(config, engine, fetcher, url, now, warn)


def _default_send(
    config: Config, number: int, emails: Sequence[str], now: datetime
) -> BatchOutcome:
    from newsletter.distributed.stages import send_some

    return send_some(config, number, emails, now)


@dataclass
class Work:
    """One process's context: built once per worker process, engine opened lazily per PID."""

    config: Config
    queue: Queue
    clock: Clock = lambda: datetime.now(UTC)
    fetch_one: FetchOne = _default_fetch
    send_some: SendSome = _default_send
    _engine: Engine | None = field(default=None, repr=False)
    _pid: int = field(default=0, repr=False)
    _fetcher: Fetcher | None = field(default=None, repr=False)

    def engine(self) -> Engine:
        # Never share a connection pool across fork(): a prefork child opens its own.
        if self._engine is None or self._pid != os.getpid():
            self._engine = state.open_engine(self.config.state_dir, self.config.state.url)
            self._pid = os.getpid()
        return self._engine

    def fetcher(self) -> Fetcher:
        """One fetcher per process, with one TLS context (loading CA certificates per task
        would cost more than many a fetch)."""
        if self._fetcher is None:
            from newsletter.distributed.stages import worker_fetcher

            self._fetcher = worker_fetcher(self.config)
        return self._fetcher

    def close(self) -> None:
        if self._engine is not None and self._pid == os.getpid():
            self._engine.dispose()
        self._engine = None


def slot_time(config: Config, key: str) -> datetime:
    return datetime.fromisoformat(key).astimezone(config.newsletter.zone)


def enabled_feed_urls(config: Config) -> list[str]:
    return [f.url for f in getattr(config, "feeds", []) if f.enabled]


# --- fetching ------------------------------------------------------------------------------


def fetch_feed(work: Work, run_id: int, attempt: int, feed_url: str) -> None:
    engine = work.engine()
    if not slotstate.fetch_done(engine, run_id, attempt, feed_url):
        warnings: list[str] = []
        articles = work.fetch_one(
            work.config, engine, work.fetcher(), feed_url, work.clock(), warnings.append
        )
        for warning in warnings:
            log.warning(warning)
        slotstate.record_fetch(
            engine,
            run_id,
            attempt,
            feed_url,
            status="done",
            owner=state.owner_token(),
            articles=articles,
            error="; ".join(warnings) or None,
            now=work.clock(),
        )
    maybe_build(work, run_id, attempt)


def fetch_gave_up(work: Work, run_id: int, attempt: int, feed_url: str, error: str) -> None:
    """Retries exhausted: the feed counts as fetched (failed), so the issue is not held up."""
    engine = work.engine()
    slotstate.record_fetch(
        engine,
        run_id,
        attempt,
        feed_url,
        status="failed",
        owner=state.owner_token(),
        articles=0,
        error=error,
        now=work.clock(),
    )
    maybe_build(work, run_id, attempt)


def maybe_build(work: Work, run_id: int, attempt: int) -> None:
    """The barrier: enqueue the build once no fetch of this attempt is pending."""
    engine = work.engine()
    if slotstate.pending_count(engine, run_id, attempt) == 0 and slotstate.start_building(
        engine, run_id, attempt
    ):
        work.queue.build(run_id, attempt)


# --- building ------------------------------------------------------------------------------


def build_issue(work: Work, run_id: int, attempt: int) -> None:
    engine = work.engine()
    run = slotstate.get(engine, run_id)
    if run.attempt != attempt or run.finished or run.status != "building":
        return  # an older attempt, already built, or not ready (the last fetch enqueues it)
    config = work.config
    result = pipeline.run(
        config,
        now=work.clock(),
        warn=log.warning,
        slot=slot_time(config, run.slot),
        allow_empty=run.allow_empty,
        checkpoint=pause_for_tests(),
        ingest=stored_articles,
    )
    if result.status == "busy":
        raise NotYet(result.message)
    if result.status == "nothing-new":
        slotstate.finish(
            engine,
            run_id,
            attempt,
            "skipped",
            now=work.clock(),
            result=result.status,
            message=result.message,
        )
        return
    if run.send and result.number is not None:
        work.queue.send(result.number)
    slotstate.finish(
        engine,
        run_id,
        attempt,
        "done",
        now=work.clock(),
        number=result.number,
        path=str(result.path) if result.path else None,
        result=result.status,
        message=result.message,
    )


def pause_for_tests() -> Callable[[str], None]:
    """Test-only, as for the CLI (runner.PAUSE_ENV): stop a build dead at a named stage so a
    test can SIGKILL the worker running it."""
    from newsletter.schedule.runner import PAUSE_ENV, pause_at

    spec = os.environ.get(PAUSE_ENV)
    return pause_at(spec) if spec else (lambda _stage: None)


def build_gave_up(work: Work, run_id: int, attempt: int, error: str) -> None:
    slotstate.finish(
        work.engine(), run_id, attempt, "failed", now=work.clock(), result="failed", message=error
    )


# --- sending -------------------------------------------------------------------------------


def send_issue(work: Work, number: int) -> None:
    from newsletter.distributed.stages import subscriber_keys

    emails = subscriber_keys(work.config)
    size = work.config.queue.send_batch
    for start in range(0, len(emails), size):
        work.queue.batch(number, emails[start : start + size])


def send_batch(work: Work, number: int, emails: Sequence[str]) -> BatchOutcome:
    outcome = work.send_some(work.config, number, emails, work.clock())
    if outcome.busy:
        raise NotYet(f"issue #{number}: {outcome.busy} subscribers are being sent elsewhere")
    return outcome
