"""What the fleet looks like: the workers that answer a ping and the depth of the queue.

Read-only and quick: a ping waits at most ``timeout`` seconds, the depth is Redis ``LLEN`` of
the queue's lists (Celery's Redis transport keeps one list per queue, plus one per priority
step) and, for work in progress, the queue's entries among the messages handed out but not yet
acknowledged (the transport's ``unacked`` hash).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from newsletter.config import Config
from newsletter.errors import redacted
from newsletter.schedule.lock import Holder

# Celery's Redis transport: the priority lists of queue Q are Q, Q\x06\x163, Q\x06\x166, ...
_PRIORITY_SEP = "\x06\x16"
_UNACKED = "unacked"


@dataclass(frozen=True)
class Fleet:
    broker: str  # password hidden
    queue: str
    workers: tuple[str, ...]  # node names that answered the ping
    queued: int | None  # messages waiting; None when the broker cannot be reached
    unacked: int | None  # messages taken by a worker and not yet acknowledged
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


def queue_depth(broker: str, queue: str) -> tuple[int, int]:
    """(waiting, handed out and unacknowledged) for ``queue`` on the Redis ``broker``."""
    import redis

    client = redis.Redis.from_url(broker, socket_timeout=2, socket_connect_timeout=2)
    try:
        names = [queue, *(f"{queue}{_PRIORITY_SEP}{step}" for step in range(1, 10))]
        waiting = sum(int(client.llen(name)) for name in names)
        # Each entry is [message, exchange, routing key]; small: at most prefetch x workers.
        entries: list[bytes] = client.hvals(_UNACKED)  # type: ignore[assignment]
        keys = {queue, *names}
        unacked = len([value for value in entries if _routing_key(value) in keys])
        return waiting, unacked
    finally:
        client.close()


def _routing_key(value: bytes) -> str | None:
    try:
        entry = json.loads(value)
        return str(entry[2])
    except (ValueError, IndexError, TypeError):
        return None


def fleet(config: Config, *, timeout: float = 1.0) -> Fleet | None:
    """The fleet of ``config``'s queue, or None in the embedded mode."""
    broker = config.queue.broker
    if broker is None:
        return None
    shown = redacted(broker)
    try:
        waiting, unacked = queue_depth(broker, config.queue_name)
    except Exception as e:  # the broker is down: say so, the rest of status still shows
        return Fleet(shown, config.queue_name, (), None, None, f"{type(e).__name__}: {e}")
    return Fleet(shown, config.queue_name, ping(config, timeout), waiting, unacked)


def ping(config: Config, timeout: float) -> tuple[str, ...]:
    from newsletter.distributed.app import make_app

    app = make_app(config)
    try:
        replies = app.control.ping(timeout=timeout) or []
    finally:
        app.close()
    prefix = f"{config.newsletter.folder_slug}."
    names = sorted(name for reply in replies for name in reply if name.startswith(prefix))
    return tuple(names)
