"""The distributed mode's side of the commands: ``run`` enqueues (and waits), ``worker`` works.

The CLI calls these when ``[queue] broker`` is set and holds no logic of its own; they return
the exit code (0 ok, 1 failed, 2 usage) and print through the callables they are given.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy.engine import Engine

from newsletter.config import Config
from newsletter.distributed.slotstate import SlotRun
from newsletter.errors import NewsletterError
from newsletter.logs import LogFormat, fields
from newsletter.pipeline import RunResult, RunStatus
from newsletter.results import failed_document, queued_document, run_document, send_document
from newsletter.schedule import runlog
from newsletter.store import state

Echo = Callable[[str], None]
Emit = Callable[[dict[str, Any]], None]  # --json: the one result document
Progress = Callable[[int, int], None]  # (done, total), e.g. logs.counting's callback

log = logging.getLogger("newsletter.run")


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
    emit: Emit | None = None,
    progress: Progress | None = None,
) -> int:
    """``emit`` (``--json``) gets the one result document (results.py's shapes); ``progress``
    gets (feeds fetched, feeds) from the database while waiting."""
    from kombu.exceptions import OperationalError

    from newsletter.distributed.app import CeleryQueue, make_app
    from newsletter.distributed.orchestrate import (
        enqueue_slot,
        resume_lost,
        stall_seconds,
        wait_for,
    )

    def failed(line: str, code: int = 1) -> int:
        error(line)
        if emit is not None:
            emit(failed_document("run", line))
        return code

    if new_edition:
        return failed(
            "--new-edition is not available in the distributed mode ([queue] broker is set): "
            "a slot has one issue there; build a second edition without [queue]",
            2,
        )
    app = make_app(config)
    try:
        with state.connect(config.state_dir, config.state.url) as engine:
            logged = _RunLog(engine, config, slot, now)
            queue = CeleryQueue(app, config.queue_name)
            try:
                queued = enqueue_slot(
                    config,
                    engine,
                    queue,
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
                line = (
                    f"issue #{run.issue_number} for slot {slot.isoformat()} is already in "
                    f"{run.issue_path}"
                )
                echo(line)
                if emit is not None:
                    emit(run_document(_run_result(run, slot, "exists", line)))
                logged.end(runlog.Outcome("exists", issue_number=run.issue_number))
                return 0
            if not run.finished:
                what = f"{queued.fetches} feed fetches" if queued.fetches else "the build"
                line = f"Slot {slot.isoformat()}: queued {what} on {config.queue_name}"
                echo(line)
                if not wait:
                    logged.end(runlog.Outcome(QUEUED))
                    if emit is not None:
                        counts = {"fetches": queued.fetches, "builds": int(queued.build)}
                        emit(
                            queued_document(
                                "run", line, config.queue_name, counts, slot=slot.isoformat()
                            )
                        )
                    return 0
                _warn_without_workers(config, warn or error)
                found = wait_for(
                    engine,
                    run.id,
                    timeout=config.queue.wait_seconds,
                    progress=_slot_progress(slot, progress),
                    stalled=lambda stuck: resume_lost(config, engine, queue, stuck),
                    stall_after=stall_seconds(config),
                )
                if found is None:
                    logged.end(runlog.Outcome(QUEUED))
                    return failed(
                        f"slot {slot.isoformat()} is not finished after "
                        f"{config.queue.wait_seconds} s; are workers running? "
                        "('newsletter status' shows them)"
                    )
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
        return failed(str(e))
    finally:
        app.close()
    if run.status == "failed":
        return failed(run.message or "the build failed")
    if run.result == "written" and run.issue_path:
        line = f"Issue #{run.issue_number} written to {_shown(Path(run.issue_path))}"
    else:
        line = run.message or run.status
    echo(line)
    if emit is not None:
        emit(run_document(_run_result(run, slot, run.result or run.status, line)))
    return 0


def _run_result(run: SlotRun, slot: datetime, status: str, message: str) -> RunResult:
    """The slot run as the embedded mode's RunResult, so ``run --json`` has one shape; the
    counts of articles and items stay None (the workers keep them in the issue folder)."""
    return RunResult(
        status=cast(RunStatus, status),
        slot=slot,
        number=run.issue_number,
        path=Path(run.issue_path) if run.issue_path else None,
        message=message,
    )


def _slot_progress(
    slot: datetime, progress: Progress | None
) -> Callable[[SlotRun, dict[str, int]], None]:
    """``wait_for``'s callback: the fetches recorded so far to ``progress``, and one line
    when every feed is in and the build starts."""
    building = [False]

    def report(run: SlotRun, counts: dict[str, int]) -> None:
        if progress is not None and run.feeds:
            progress(counts.get("done", 0) + counts.get("failed", 0), run.feeds)
        if run.status == "building" and not building[0]:
            building[0] = True
            log.info(
                f"slot {slot.isoformat()}: {run.feeds} feed(s) fetched; building the issue",
                extra=fields(feeds=run.feeds, failed=counts.get("failed", 0)),
            )

    return report


def send_command(
    config: Config,
    *,
    issue: str | None,
    wait: bool,
    echo: Echo,
    error: Echo,
    emit: Emit | None = None,
    progress: Progress | None = None,
) -> int:
    """Enqueue sending an issue in batches; wait until every subscriber's delivery ended.
    ``progress`` gets (deliveries ended, subscribers) from the database while waiting;
    ``emit`` (``--json``) the one result document."""
    import time

    from kombu.exceptions import OperationalError

    from newsletter.delivery import ledger
    from newsletter.delivery.send import DeliveryReport, Failure, find_issue, load_issue
    from newsletter.distributed.app import CeleryQueue, make_app
    from newsletter.distributed.stages import subscriber_keys

    def failed(line: str) -> int:
        error(line)
        if emit is not None:
            emit(failed_document("send", line))
        return 1

    from newsletter.distributed.orchestrate import stall_seconds
    from newsletter.distributed.status import waiting

    app = make_app(config)
    try:
        folder = find_issue(config, issue)
        number = load_issue(folder).number
        total = len(subscriber_keys(config))
        queue = CeleryQueue(app, config.queue_name)
        try:
            queue.send(number)
        except OperationalError as e:
            raise _broker_error(config, e) from e
        line = f"Issue #{number}: queued sending to {total} subscribers on {config.queue_name}"
        echo(line)
        if not wait:
            if emit is not None:
                emit(
                    queued_document(
                        "send",
                        line,
                        config.queue_name,
                        {"subscribers": total},
                        issue=number,
                        paths={"folder": str(folder), "files": []},
                    )
                )
            return 0
        deadline = time.monotonic() + config.queue.wait_seconds
        stall, broker = stall_seconds(config), config.queue.broker or ""
        seen, changed = -1, time.monotonic()
        with state.connect(config.state_dir, config.state.url) as engine:
            while True:
                counts = ledger.counts(engine, config.newsletter.name, number)
                ended = counts.get("sent", 0) + counts.get("failed", 0)
                if progress is not None:
                    progress(min(ended, total), total)
                if ended >= total:
                    break
                now = time.monotonic()
                if now > deadline:
                    return failed(
                        f"issue #{number}: {ended} of {total} deliveries ended; still waiting"
                    )
                if ended != seen:
                    seen, changed = ended, now
                elif now - changed >= stall and not waiting(broker, config.queue_name):
                    # A batch lost with a killed worker (or the broker): send the issue again.
                    # Idempotent: every subscriber already sent is skipped, a claim held by a
                    # live worker is waited for (see docs/scaling.md).
                    queue.send(number)
                    changed = now
                    log.warning(
                        f"issue #{number}: no delivery ended for {stall:g} s with "
                        f"{total - ended} left; enqueued the issue's sending again "
                        "(a worker may have died holding a batch)",
                        extra=fields(issue=number, left=total - ended),
                    )
                time.sleep(0.25)
            failures = ledger.failures(engine, config.newsletter.name, number)
    except NewsletterError as e:
        return failed(str(e))
    finally:
        app.close()
    if emit is not None:
        report = DeliveryReport(
            number,
            folder,
            sent=counts.get("sent", 0),
            failed=tuple(
                Failure(email, reason, permanent) for email, reason, permanent in failures
            ),
        )
        emit(send_document(report))
    line = f"Issue #{number}: sent {counts.get('sent', 0)}, failed {counts.get('failed', 0)}"
    if counts.get("failed"):
        error(line + " ('newsletter send' again retries the temporary failures)")
        return 1
    echo(line)
    return 0


QUEUED = "queued"


def _warn_without_workers(config: Config, warn: Echo) -> None:
    from newsletter.distributed.status import ping

    if not ping(config, timeout=1.0, any_one=True):
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
