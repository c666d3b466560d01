"""The distributed mode's bookkeeping, in-process, on SQLite and PostgreSQL: a slot is planned
once, each feed's fetch is recorded once, the build is enqueued when the last fetch finishes
(also when that task is delivered again), and the issue is built once."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from newsletter.config import Config, load_config
from newsletter.distributed import orchestrate, slotstate
from newsletter.distributed import work as w
from newsletter.store import state

NOW = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
SLOT = datetime(2026, 11, 25, 0, 0, tzinfo=UTC)
FEEDS = ["https://a.example/feed", "https://b.example/feed", "https://c.example/feed"]


@dataclass
class Recorded:
    """A ``work.Queue`` that only records what would have been enqueued."""

    calls: list[tuple[object, ...]] = field(default_factory=list)

    def fetch(self, run_id: int, attempt: int, feed_url: str) -> None:
        self.calls.append(("fetch", run_id, attempt, feed_url))

    def build(self, run_id: int, attempt: int) -> None:
        self.calls.append(("build", run_id, attempt))

    def send(self, number: int) -> None:
        self.calls.append(("send", number))

    def batch(self, number: int, emails: Sequence[str]) -> None:
        self.calls.append(("batch", number, tuple(emails)))

    def of(self, kind: str) -> list[tuple[object, ...]]:
        return [c for c in self.calls if c[0] == kind]


def config_for(project: Path, state_url: str | None) -> Config:
    config = load_config(project / "newsletter.toml")
    return config.model_copy(update={"state": config.state.model_copy(update={"url": state_url})})


def test_plan_is_idempotent_and_a_skipped_slot_gets_a_new_attempt(
    tmp_path: Path, state_url: str | None
) -> None:
    engine = state.open_engine(tmp_path / "state", state_url)
    key = w.slot_key(SLOT)
    first = slotstate.plan(engine, "NL", key, FEEDS, allow_empty=False, send=True, now=NOW)
    assert first.fresh and first.pending == FEEDS and first.run.status == "fetching"
    again = slotstate.plan(engine, "NL", key, FEEDS, allow_empty=False, send=True, now=NOW)
    assert not again.fresh and again.run.id == first.run.id and sorted(again.pending) == FEEDS
    run = first.run
    assert slotstate.record_fetch(
        engine, run.id, 1, FEEDS[0], status="done", owner="o", articles=3, error=None, now=NOW
    )
    assert not slotstate.record_fetch(  # the same task delivered twice records once
        engine, run.id, 1, FEEDS[0], status="done", owner="o", articles=3, error=None, now=NOW
    )
    planned = slotstate.plan(engine, "NL", key, FEEDS, allow_empty=False, send=True, now=NOW)
    assert sorted(planned.pending) == FEEDS[1:]
    other = slotstate.plan(engine, "Other", key, FEEDS, allow_empty=False, send=False, now=NOW)
    assert other.fresh and other.run.id != run.id  # every row belongs to a newsletter

    slotstate.finish(engine, run.id, 1, "skipped", now=NOW, result="nothing-new")
    retry = slotstate.plan(engine, "NL", key, FEEDS, allow_empty=True, send=True, now=NOW)
    assert retry.fresh and retry.run.attempt == 2 and retry.pending == FEEDS
    assert slotstate.pending_count(engine, run.id, 2) == 3
    assert not slotstate.fetch_done(engine, run.id, 2, FEEDS[0])
    engine.dispose()


def test_concurrent_recorders_of_one_fetch_record_it_once(
    tmp_path: Path, state_url: str | None
) -> None:
    engine = state.open_engine(tmp_path / "state", state_url)
    run = slotstate.plan(
        engine, "NL", w.slot_key(SLOT), FEEDS, allow_empty=False, send=False, now=NOW
    ).run
    wins: list[bool] = []
    gate = threading.Barrier(4)

    def record() -> None:
        gate.wait()
        wins.append(
            slotstate.record_fetch(
                engine,
                run.id,
                1,
                FEEDS[1],
                status="done",
                owner="x",
                articles=0,
                error=None,
                now=NOW,
            )
        )

    threads = [threading.Thread(target=record) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == [False, False, False, True]
    engine.dispose()


def test_the_last_fetch_enqueues_the_build_and_a_redelivered_fetch_does_no_work(
    project: Path, state_url: str | None
) -> None:
    config = config_for(project, state_url)
    config = config.model_copy(update={"feeds": []})
    queue = Recorded()
    fetched: list[str] = []

    def fetch_one(
        config: Config, engine: object, fetcher: object, url: str, now: datetime, warn: object
    ) -> int:
        fetched.append(url)
        return 2

    work = w.Work(config, queue, clock=lambda: NOW, fetch_one=fetch_one)
    engine = work.engine()
    run = slotstate.plan(
        engine,
        config.newsletter.name,
        w.slot_key(SLOT),
        FEEDS,
        allow_empty=False,
        send=True,
        now=NOW,
    ).run
    for url in FEEDS[:2]:
        w.fetch_feed(work, run.id, 1, url)
    assert queue.of("build") == []  # one fetch is still pending: no build yet
    w.fetch_feed(work, run.id, 1, FEEDS[2])
    assert queue.of("build") == [("build", run.id, 1)]
    w.fetch_feed(work, run.id, 1, FEEDS[2])  # delivered again (its worker died before the ack)
    assert fetched == FEEDS  # each feed fetched once
    assert len(queue.of("build")) == 2  # the build is enqueued again: harmless, see below
    assert slotstate.fetch_counts(engine, run.id) == {"done": 3}

    w.build_issue(work, run.id, 1)
    w.build_issue(work, run.id, 1)  # the second delivery finds the slot done
    done = slotstate.get(engine, run.id)
    assert done.status == "done" and done.result == "written" and done.issue_number == 1
    assert queue.of("send") == [("send", 1)]  # send = true: sending is enqueued once
    folders = [p for p in (project / "outbox").iterdir() if not p.name.startswith(".")]
    assert [p.name for p in folders] == [Path(done.issue_path or "").name]
    work.close()


def test_enqueue_slot_resumes_what_is_unfinished(project: Path, state_url: str | None) -> None:
    config = config_for(project, state_url).model_copy(update={"feeds": []})
    queue = Recorded()
    with state.connect(config.state_dir, config.state.url) as engine:
        first = orchestrate.enqueue_slot(config, engine, queue, SLOT, now=NOW)
        assert first.fresh and first.build and queue.calls == [("build", first.run.id, 1)]
        again = orchestrate.enqueue_slot(config, engine, queue, SLOT, now=NOW)
        assert not again.fresh and again.build  # the build message may have been lost
        work = w.Work(config, queue, clock=lambda: NOW)
        w.build_issue(work, first.run.id, 1)
        work.close()
        finished = orchestrate.enqueue_slot(config, engine, queue, SLOT, now=NOW)
        assert finished.run.finished and not finished.build and len(queue.calls) == 2
        assert orchestrate.wait_for(engine, first.run.id, timeout=1) == finished.run


def test_a_failed_fetch_does_not_hold_up_the_issue(project: Path, state_url: str | None) -> None:
    queue = Recorded()
    work = w.Work(config_for(project, state_url), queue, clock=lambda: NOW)
    engine = work.engine()
    run = slotstate.plan(
        engine, "NL", w.slot_key(SLOT), FEEDS[:1], allow_empty=False, send=False, now=NOW
    ).run
    w.fetch_gave_up(work, run.id, 1, FEEDS[0], "ConnectionError: refused")  # retries ran out
    assert queue.of("build") == [("build", run.id, 1)]
    assert slotstate.fetch_counts(engine, run.id) == {"failed": 1}
    work.close()


def test_one_scheduler_lock_per_database_and_a_standby_takes_over(postgres_url: str) -> None:
    from fleet import fresh_database
    from newsletter.distributed.lock import AdvisoryLock, AdvisoryLockHeld

    url = fresh_database(postgres_url)
    first = AdvisoryLock(url, "host:1:first")
    first.acquire()
    first.renew()
    second = AdvisoryLock(url, "host:2:second")
    with pytest.raises(AdvisoryLockHeld, match=r"host:1:first from .* --standby"):
        second.acquire()
    stop = threading.Event()
    took: list[bool] = []
    standby = threading.Thread(target=lambda: took.append(second.wait(stop, poll=0.05)))
    standby.start()
    standby.join(0.3)
    assert standby.is_alive()  # still waiting: the first holds the lock
    first.release()
    standby.join(5)
    assert took == [True]
    second.renew()
    second.release()


def test_queue_config_needs_a_shared_database_and_worker_needs_a_broker(project: Path) -> None:
    from conftest import run_cli
    from newsletter.errors import ConfigError

    config = project / "newsletter.toml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text + '\n[queue]\nbroker = "redis://127.0.0.1:1/0"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[queue\] broker needs a database every worker"):
        load_config(config)
    config.write_text(text, encoding="utf-8")
    assert not load_config(config).distributed  # the embedded default: no [queue], no server
    worker = run_cli("worker", cwd=project)
    assert worker.returncode == 2 and "needs [queue] broker" in worker.stderr


def test_a_failing_task_is_retried_with_backoff_then_gives_up_without_holding_the_slot(
    project: Path,
) -> None:
    """The real Celery task wrapper, run eagerly in-process (no broker): retries, then the
    "gave up" path records the fetch as failed and the barrier enqueues the build."""
    from newsletter.distributed.app import FETCH, worker_app

    config = config_for(project, None)
    queue_settings = config.queue.model_copy(
        update={"broker": "redis://127.0.0.1:1/0", "max_retries": 2, "retry_backoff": 0.5}
    )
    config = config.model_copy(update={"queue": queue_settings})
    app, context = worker_app(config)
    fetch = app.tasks[FETCH]  # Celery's own retry options: backoff with full jitter, capped
    assert (fetch.retry_backoff, fetch.retry_jitter, fetch.max_retries) == (0.5, True, 2)
    assert fetch.retry_backoff_max == 300 and fetch.autoretry_for == (Exception,)
    app.conf.task_always_eager = True
    queue = Recorded()
    tries: list[str] = []

    def broken(config: Config, engine: object, fetcher: object, url: str, *_: object) -> int:
        tries.append(url)
        raise ConnectionError("database went away")

    context.queue, context.fetch_one = queue, broken
    engine = context.engine()
    run = slotstate.plan(
        engine,
        config.newsletter.name,
        w.slot_key(SLOT),
        FEEDS[:1],
        allow_empty=False,
        send=False,
        now=NOW,
    ).run
    app.tasks[FETCH].apply(args=[run.id, 1, FEEDS[0]])
    assert tries == FEEDS[:1] * 3  # the first try and two retries
    assert slotstate.fetch_counts(engine, run.id) == {"failed": 1}
    assert queue.of("build") == [("build", run.id, 1)]  # the issue is not held up
    context.close()
