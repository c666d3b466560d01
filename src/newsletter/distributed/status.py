"""What the fleet looks like: the workers that answer, the depth of the queue, the work in
progress.

Read-only and quick, through the libraries' public APIs: the depth is kombu's passive
``queue_declare`` (its ``message_count``; on Redis a queue with nothing waiting has no key, and
kombu says "no such queue": that is a depth of 0), and the workers and what they run come from
one Celery ``inspect().active()`` broadcast, answered within ``timeout`` seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from newsletter.config import Config
from newsletter.errors import redacted
from newsletter.schedule.lock import Holder

if TYPE_CHECKING:
    from celery import Celery


@dataclass(frozen=True)
class Fleet:
    broker: str  # password hidden
    queue: str
    workers: tuple[str, ...]  # node names that answered the ping
    queued: int | None  # messages waiting; None when the broker cannot be reached
    unacked: int | None  # tasks of this queue the workers are running
    error: str | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "broker": self.broker,
            "queue": self.queue,
            "workers": list(self.workers),
            "queued": self.queued,
            "in_progress": self.unacked,
            "error": self.error,
        }


def fleet_report(config: Config, now: datetime) -> tuple[Holder | None, dict[str, object]]:
    """For ``newsletter status``: the scheduler holding the advisory lock, and the fleet."""
    from newsletter.distributed.lock import advisory_holder

    assert config.state.url is not None
    holder = advisory_holder(config.state.url, config.newsletter.name, now)
    found = fleet(config)
    assert found is not None
    report = found.as_json()
    from newsletter.distributed.slotstate import recent
    from newsletter.store import state

    with state.connect(config.state_dir, config.state.url, upgrade=False) as engine:
        report["slots"] = recent(engine, config.newsletter.name)
    return holder, report


def fleet_lines(report: dict[str, object]) -> list[str]:
    workers = report.get("workers") or []
    assert isinstance(workers, list)
    head = f"Queue: {report.get('queue')} on {report.get('broker')}"
    if report.get("error"):
        return [head, f"  broker unreachable: {report['error']}"]
    lines = [
        head,
        f"  waiting: {report.get('queued')}, in progress: {report.get('in_progress')}",
        f"  workers ({len(workers)}): {', '.join(map(str, workers)) or 'none answered'}",
    ]
    slots = report.get("slots") or []
    assert isinstance(slots, list)
    if slots:
        lines += ["", "Slots (distributed):"]
    for slot in slots:
        issue = f", issue #{slot['issue']}" if slot.get("issue") else ""
        failed = f" ({slot['failed']} failed)" if slot.get("failed") else ""
        lines.append(
            f"  {slot['slot']}  {slot['status']:<9}  fetched {slot['fetched']}/{slot['feeds']}"
            f"{failed}{issue}"
        )
    return lines


def waiting(broker: str, queue: str) -> int:
    """Messages waiting in ``queue`` on ``broker`` (kombu's passive queue_declare)."""
    from kombu.connection import Connection
    from kombu.exceptions import ChannelError

    options = {"socket_timeout": 2, "socket_connect_timeout": 2}
    opened: Any = Connection(  # type: ignore[no-untyped-call]
        broker, connect_timeout=2, transport_options=options
    )
    with opened as connection:
        connection.ensure_connection(max_retries=1)
        try:
            declared = connection.default_channel.queue_declare(queue=queue, passive=True)
        except ChannelError:  # Redis: no waiting message, no key, "no such queue"
            return 0
        return int(declared.message_count)


Active = dict[str, list[dict[str, Any]]]  # worker node name -> the tasks it runs


def active(app: Celery, timeout: float) -> Active:
    """What every worker that answers within ``timeout`` is running (Celery's inspect)."""
    replies = app.control.inspect(timeout=timeout).active() or {}
    return {str(name): list(tasks or []) for name, tasks in replies.items()}


def in_progress(running: Active, queue: str) -> int:
    return sum(
        1
        for tasks in running.values()
        for task in tasks
        if (task.get("delivery_info") or {}).get("routing_key") == queue
    )


def queue_depth(broker: str, queue: str, timeout: float = 0.5) -> tuple[int, int]:
    """(waiting, being run by a worker) for ``queue`` on ``broker``."""
    from celery import Celery

    app = Celery(broker=broker, set_as_current=False)
    try:
        return waiting(broker, queue), in_progress(active(app, timeout), queue)
    finally:
        app.close()


def fleet(config: Config, *, timeout: float = 1.0) -> Fleet | None:
    """The fleet of ``config``'s queue, or None in the embedded mode."""
    broker = config.queue.broker
    if broker is None:
        return None
    shown = redacted(broker)
    queue = config.queue_name
    try:
        depth = waiting(broker, queue)
    except Exception as e:  # the broker is down: say so, the rest of status still shows
        return Fleet(shown, queue, (), None, None, f"{type(e).__name__}: {e}")
    from newsletter.distributed.app import make_app

    app = make_app(config)
    try:
        running = active(app, timeout)
    finally:
        app.close()
    prefix = f"{config.newsletter.folder_slug}."
    ours = {name: tasks for name, tasks in running.items() if name.startswith(prefix)}
    return Fleet(shown, queue, tuple(sorted(ours)), depth, in_progress(ours, queue))


def ping(config: Config, timeout: float, *, any_one: bool = False) -> tuple[str, ...]:
    """The node names of ``config``'s workers that answer a ping within ``timeout``; with
    ``any_one``, as soon as the first of ours answers (a ping otherwise waits the whole
    ``timeout`` for workers that might still answer)."""
    from newsletter.distributed.app import make_app

    prefix = f"{config.newsletter.folder_slug}."
    app = make_app(config)
    try:
        replies = app.control.ping(timeout=timeout, limit=1 if any_one else None) or []
        names = [name for reply in replies for name in reply if name.startswith(prefix)]
        if any_one and replies and not names:  # the first was another newsletter's worker
            replies = app.control.ping(timeout=timeout) or []
            names = [name for reply in replies for name in reply if name.startswith(prefix)]
    finally:
        app.close()
    return tuple(sorted(names))
