"""The distributed mode's side of the commands: ``run`` enqueues (and waits), ``worker`` works.

The CLI calls these when ``[queue] broker`` is set and holds no logic of its own; they return
the exit code (0 ok, 1 failed, 2 usage) and print through the callables they are given.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import Engine

from newsletter.config import Config
from newsletter.errors import NewsletterError
from newsletter.logs import LogFormat
from newsletter.schedule import runlog
from newsletter.store import state

Echo = Callable[[str], None]


class BrokerError(NewsletterError):
    """The broker cannot be reached."""


def _broker_error(config: Config, e: Exception) -> BrokerError:
    from newsletter.errors import redacted

    return BrokerError(
        f"[queue] broker {redacted(config.queue.broker or '')}: cannot enqueue: {e}; "
        "is Redis running there?"
    )


def run_command(
    config: Config,
    *,
    slot: datetime,
    now: datetime,
    allow_empty: bool,
    new_edition: bool,
    send: bool,
    wait: bool,
    echo: Echo,
    error: Echo,
    warn: Echo | None = None,
) -> int:
    from kombu.exceptions import OperationalError

    from newsletter.distributed.app import CeleryQueue, make_app
    from newsletter.distributed.orchestrate import enqueue_slot, wait_for

    if new_edition:
        error(
            "--new-edition is not available in the distributed mode ([queue] broker is set): "
            "a slot has one issue there; build a second edition without [queue]"
        )
        return 2
    app = make_app(config)
    try:
        with state.connect(config.state_dir, config.state.url) as engine:
            logged = _RunLog(engine, config, slot, now)
            try:
                queued = enqueue_slot(
                    config,
                    engine,
                    CeleryQueue(app, config.queue_name),
                    slot,
                    now=now,
                    allow_empty=allow_empty,
                    send=send,
                )
            except OperationalError as e:
                logged.end(runlog.Outcome(runlog.FAILED, error=str(_broker_error(config, e))))
                raise _broker_error(config, e) from e
            run = queued.run
            if run.finished and run.result in ("written", "exists") and not queued.fresh:
                echo(
                    f"issue #{run.issue_number} for slot {slot.isoformat()} is already in "
                    f"{run.issue_path}"
                )
                logged.end(runlog.Outcome("exists", issue_number=run.issue_number))
                return 0
            if not run.finished:
                what = f"{queued.fetches} feed fetches" if queued.fetches else "the build"
                echo(f"Slot {slot.isoformat()}: queued {what} on {config.queue_name}")
                if not wait:
                    logged.end(runlog.Outcome(QUEUED))
                    return 0
                _warn_without_workers(config, warn or error)
                found = wait_for(engine, run.id, timeout=config.queue.wait_seconds)
                if found is None:
                    logged.end(runlog.Outcome(QUEUED))
                    error(
                        f"slot {slot.isoformat()} is not finished after "
                        f"{config.queue.wait_seconds} s; are workers running? "
                        "('newsletter status' shows them)"
                    )
                    return 1
                run = found
            logged.end(
                runlog.Outcome(
                    run.result or run.status,
                    issue_number=run.issue_number,
                    issue_path=run.issue_path,
                    error=run.message if run.status == "failed" else None,
                )
            )
    except NewsletterError as e:
        error(str(e))
        return 1
    finally:
        app.close()
    return _report(run, echo, error)


def send_command(config: Config, *, issue: str | None, wait: bool, echo: Echo, error: Echo) -> int:
    """Enqueue sending an issue in batches; wait until every subscriber's delivery ended."""
    import time

    from kombu.exceptions import OperationalError

    from newsletter.delivery import ledger
    from newsletter.delivery.send import find_issue, load_issue
    from newsletter.distributed.app import CeleryQueue, make_app
    from newsletter.distributed.stages import subscriber_keys

    app = make_app(config)
    try:
        folder = find_issue(config, issue)
        number = load_issue(folder).number
        total = len(subscriber_keys(config))
        try:
            CeleryQueue(app, config.queue_name).send(number)
        except OperationalError as e:
            raise _broker_error(config, e) from e
        echo(f"Issue #{number}: queued sending to {total} subscribers on {config.queue_name}")
        if not wait:
            return 0
        deadline = time.monotonic() + config.queue.wait_seconds
        with state.connect(config.state_dir, config.state.url) as engine:
            while True:
                counts = ledger.counts(engine, config.newsletter.name, number)
                ended = counts.get("sent", 0) + counts.get("failed", 0)
                if ended >= total:
                    break
                if time.monotonic() > deadline:
                    error(f"issue #{number}: {ended} of {total} deliveries ended; still waiting")
                    return 1
                time.sleep(0.25)
    except NewsletterError as e:
        error(str(e))
        return 1
    finally:
        app.close()
    line = f"Issue #{number}: sent {counts.get('sent', 0)}, failed {counts.get('failed', 0)}"
    if counts.get("failed"):
        error(line + " ('newsletter send' again retries the temporary failures)")
        return 1
    echo(line)
    return 0


QUEUED = "queued"


def _warn_without_workers(config: Config, warn: Echo) -> None:
    from newsletter.distributed.status import ping

    if not ping(config, timeout=1.0):
        warn(
            f"no worker answers on {config.queue_name}; the slot waits in the queue until one "
            "starts ('newsletter worker')"
        )


class _RunLog:
    """The manual run in the run log ('newsletter status' lists it): queued, then its result."""

    def __init__(self, engine: Engine, config: Config, slot: datetime, now: datetime) -> None:
        self._engine = engine
        self._now = now
        self._id = runlog.start_run(
            engine,
            config.newsletter.name,
            slot,
            trigger="manual",
            schedule=None,
            owner=state.owner_token(),
            now=now,
        )

    def end(self, outcome: runlog.Outcome) -> None:
        runlog.finish_run(self._engine, self._id, outcome, now=datetime.now(UTC))


def _report(run: object, echo: Echo, error: Echo) -> int:
    from newsletter.distributed.slotstate import SlotRun

    assert isinstance(run, SlotRun)
    if run.status == "failed":
        error(run.message or "the build failed")
        return 1
    if run.result == "written" and run.issue_path:
        echo(f"Issue #{run.issue_number} written to {_shown(Path(run.issue_path))}")
    else:
        echo(run.message or run.status)
    return 0


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def worker_command(
    config: Config,
    *,
    concurrency: int | None,
    pool: str,
    loglevel: str,
    error: Echo,
    log_format: LogFormat = "text",
) -> int:
    if not config.distributed:
        error(
            'newsletter worker needs [queue] broker = "redis://..." and [state] url in '
            "newsletter.toml (see docs/scaling.md); without them 'newsletter run' does everything"
        )
        return 2
    from newsletter.distributed.app import start_worker

    try:
        state.open_engine(config.state_dir, config.state.url).dispose()  # migrate before forking
    except NewsletterError as e:
        error(str(e))
        return 1
    count = concurrency or os.cpu_count() or 1
    start_worker(config, concurrency=count, pool=pool, loglevel=loglevel, log_format=log_format)
    return 0
