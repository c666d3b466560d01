"""The Celery app, built by a factory from the config: nothing is configured at import time.

Delivery is at least once, by design: ``task_acks_late`` (a message is acknowledged only when
its task has finished), ``task_reject_on_worker_lost`` (a pool process that dies puts its
message back), ``worker_prefetch_multiplier = 1`` (a worker holds no more than it runs), and
Redis's visibility timeout hands the unacknowledged messages of a worker killed outright to
the others. Every task is idempotent (see work.py), so running one twice is harmless. A task
that fails is retried by Celery's own ``autoretry_for`` with ``retry_backoff`` (exponential,
from ``[queue] retry_backoff``: Celery counts whole seconds, at least 1), ``retry_jitter``
(full jitter: a random delay up to the backoff, so tasks that failed together do not retry
together) and ``retry_backoff_max`` (half the visibility timeout: a message held longer would
be handed to another worker); when retries run out its "gave up" path records the failure so
the slot is not held up forever. Messages are JSON.

Workers log through our formatter (``--log-format text|json``): a ``setup_logging`` receiver
makes Celery leave logging to us, so its own lines (ready, task received/succeeded, errors)
come out in the same format as ours. The lines Celery's signal handlers print themselves
("worker: Warm shutdown (MainProcess)") are silenced and logged instead, from Celery's
``worker_shutting_down`` signal (see ``LoggedShutdown``); under json the banner is off.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Sequence
from typing import Any

from celery import Celery, Task
from celery.apps.worker import Worker as CeleryWorker

from newsletter.config import Config
from newsletter.distributed import work as w
from newsletter.logs import LogFormat, configure, fields

log = logging.getLogger("newsletter.worker")

FETCH = "newsletter.fetch_feed"
BUILD = "newsletter.build_issue"
SEND = "newsletter.send_issue"
BATCH = "newsletter.send_batch"
MAX_BACKOFF = 300.0


def make_app(config: Config) -> Celery:
    """A Celery app for ``config``'s broker and queue (no tasks: enough to enqueue)."""
    if config.queue.broker is None:
        raise ValueError("make_app needs [queue] broker")
    queue = config.queue
    app = Celery(f"newsletter-{config.newsletter.folder_slug}", set_as_current=False)
    app.conf.update(
        broker_url=queue.broker,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": queue.visibility_timeout,
            # Look for messages of dead workers often enough to honour a short timeout.
            "unacked_restore_interval": max(1, min(10, queue.visibility_timeout // 4)),
            "unacked_restore_throttle": 1,
            # The lock a worker takes to restore them expires after this: a worker killed
            # while holding it (kombu's default: 5 minutes) must not stall the restore.
            "unacked_mutex_expire": max(2, min(300, queue.visibility_timeout // 2)),
        },
        task_default_queue=config.queue_name,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,  # our log lines go to stderr as they are (--log-format)
        worker_send_task_events=False,
        enable_utc=True,
    )
    return app


def retry_options(config: Config) -> dict[str, Any]:
    """Celery's task options for retries (see module doc)."""
    return {
        "autoretry_for": (Exception,),
        "max_retries": config.queue.max_retries,
        "retry_backoff": config.queue.retry_backoff,
        "retry_backoff_max": max(1, int(min(MAX_BACKOFF, config.queue.visibility_timeout / 2))),
        "retry_jitter": True,
    }


class CeleryQueue:
    """``work.Queue`` over Celery: each call publishes one JSON message to the queue."""

    def __init__(self, app: Celery, queue: str) -> None:
        self._app = app
        self._queue = queue

    def _send(self, name: str, *args: Any) -> None:
        self._app.send_task(name, args=list(args), queue=self._queue)

    def fetch(self, run_id: int, attempt: int, feed_url: str) -> None:
        self._send(FETCH, run_id, attempt, feed_url)

    def build(self, run_id: int, attempt: int) -> None:
        self._send(BUILD, run_id, attempt)

    def send(self, number: int) -> None:
        self._send(SEND, number)

    def batch(self, number: int, emails: Sequence[str]) -> None:
        self._send(BATCH, number, list(emails))


def worker_app(config: Config) -> tuple[Celery, w.Work]:
    """The app a worker runs: ``make_app`` plus the four tasks, bound to a ``Work`` context."""
    app = make_app(config)
    context = w.Work(config, CeleryQueue(app, config.queue_name))
    max_retries = config.queue.max_retries

    def task(
        name: str, gave_up: Callable[..., None] | None = None
    ) -> Callable[[Callable[..., None]], Any]:
        def register(body: Callable[..., None]) -> Any:
            def run(self: Task, *args: Any) -> None:
                try:
                    body(context, *args)
                except Exception as e:
                    retries = int(self.request.retries or 0)
                    reason = f"{type(e).__name__}: {e}"
                    if retries >= max_retries:
                        log.error(f"{name}{tuple(args)!r}: gave up after {retries} tries: {reason}")
                        if gave_up is not None:
                            gave_up(context, *args, reason)
                        return
                    level = logging.INFO if isinstance(e, w.NotYet) else logging.WARNING
                    log.log(level, f"{name}: {reason}; retry {retries + 1} of {max_retries}")
                    raise  # Celery's autoretry schedules it (backoff with jitter)

            return app.task(bind=True, name=name, acks_late=True, **retry_options(config))(run)

        return register

    task(FETCH, w.fetch_gave_up)(w.fetch_feed)
    task(BUILD, w.build_gave_up)(w.build_issue)
    task(SEND)(w.send_issue)
    task(BATCH)(_send_batch)
    return app, context


def _send_batch(context: w.Work, number: int, emails: Sequence[str]) -> None:
    outcome = w.send_batch(context, number, emails)
    log.info(
        f"issue #{number}: batch of {len(emails)}: sent {outcome.sent}, skipped "
        f"{outcome.skipped}, failed {outcome.failed}"
    )


def node_name(config: Config) -> str:
    return f"{config.newsletter.folder_slug}.{os.getpid()}@{socket.gethostname()}"


def log_through(log_format: LogFormat) -> Callable[..., None]:
    """A ``setup_logging`` receiver: Celery configures nothing, we configure our formatter
    at the worker's ``--loglevel`` (connected with ``weak=False``: Celery keeps weak refs)."""

    def setup(loglevel: int | str | None = None, **_: Any) -> None:
        level = logging.getLevelName(loglevel) if isinstance(loglevel, str) else loglevel
        level = level if isinstance(level, int) else logging.INFO
        configure(log_format, level)
        ours = logging.getLogger("newsletter").handlers
        logging.captureWarnings(True)  # Celery's warnings (e.g. running as root) as log lines
        for name in ("celery", "kombu", "py.warnings"):
            logger = logging.getLogger(name)
            logger.handlers[:] = ours
            logger.setLevel(level)
            logger.propagate = False

    return setup


def _logged_shutdown(sig: str = "", how: str = "", exitcode: int = 0, **_: Any) -> None:
    log.info(
        f"worker: {how.lower()} shutdown on {sig}",
        extra=fields(signal=sig, how=how.lower(), exitcode=exitcode),
    )


class LoggedShutdown(CeleryWorker):  # type: ignore[misc]  # Celery is untyped
    """Celery's worker application, its shutdown signals installed without their printed
    line (``verbose=False``: Celery writes it to stdout with ``os.write``, bypassing logging);
    ``_logged_shutdown`` logs it through our formatter instead."""

    def install_platform_tweaks(self, worker: Any) -> None:
        super().install_platform_tweaks(worker)
        from celery.apps import worker as celery_worker

        # The same handlers Celery installs (celery/apps/worker.py), without the print.
        celery_worker.install_worker_term_handler(worker, verbose=False)
        celery_worker.install_worker_term_hard_handler(worker, verbose=False)


def start_worker(
    config: Config,
    *,
    concurrency: int,
    pool: str = "prefork",
    loglevel: str = "INFO",
    log_format: LogFormat = "text",
) -> None:
    """Run a worker in the foreground until SIGTERM (warm shutdown) or SIGQUIT."""
    from celery import signals

    setup = log_through(log_format)
    setup(loglevel=loglevel)  # now: Celery warns (e.g. about running as root) before its setup
    signals.setup_logging.connect(setup, weak=False)
    signals.worker_shutting_down.connect(_logged_shutdown, weak=False)
    app, _context = worker_app(config)
    app.Worker = app.subclass_with_self(LoggedShutdown)  # what `worker_main` instantiates
    quiet = ["--quiet"] if log_format == "json" else []  # no banner among the JSON lines
    app.worker_main(
        [
            *quiet,
            "worker",
            f"--concurrency={concurrency}",
            f"--pool={pool}",
            f"--queues={config.queue_name}",
            f"--hostname={node_name(config)}",
            f"--loglevel={loglevel}",
            "--without-mingle",
            "--without-gossip",
        ]
    )
