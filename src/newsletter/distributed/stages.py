"""The pipeline stages a task calls, adapted to one feed or one batch of subscribers.

No logic of their own: feed ingestion's ``ingest_feeds`` over a config narrowed to one feed,
delivery's ``deliver_issue`` narrowed to some subscribers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine

from newsletter.config import Config

if TYPE_CHECKING:
    from newsletter.distributed.work import BatchOutcome


def ingest_one(
    config: Config, engine: Engine, url: str, now: datetime, warn: Callable[[str], None]
) -> int:
    raise NotImplementedError("feed ingestion is not part of this build")


def stored_feed_options(config: Config) -> dict[str, Any]:
    return {}


def subscriber_keys(config: Config) -> list[str]:
    raise NotImplementedError("delivery is not part of this build")


def send_some(config: Config, number: int, emails: Sequence[str], now: datetime) -> BatchOutcome:
    raise NotImplementedError("delivery is not part of this build")
