"""Logs: one line per event on stderr, for people (text) or machines (json).

Modules log through ``logging.getLogger("newsletter...")`` and attach structured fields with
``extra=fields(slot=..., path=...)``; only the CLI entry point calls ``configure``. A run in a
terminal shows a rich progress bar over the pipeline's stages; anywhere else (a pipe, a file,
journald) there is no bar, only the lines.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, TextIO

if TYPE_CHECKING:  # the CLI configures logs at every start; the pipeline loads only for a run
    from newsletter.pipeline import Checkpoint

LogFormat = Literal["text", "json"]
LOGGER = "newsletter"


def fields(**values: Any) -> dict[str, Any]:
    """``extra=`` for a log call: structured fields shown as key=value or JSON keys."""
    return {"fields": {k: v for k, v in values.items() if v is not None}}


def _value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


class TextFormatter(logging.Formatter):
    """``12:40:01 info: issue #3 written slot=... path=...``: local time, level, message."""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        extra: dict[str, Any] = getattr(record, "fields", {})
        tail = "".join(f" {k}={_value(v)}" for k, v in extra.items())
        line = f"{when} {record.levelname.lower()}: {record.getMessage()}{tail}"
        if record.exc_info and record.levelno >= logging.ERROR:
            line += " | " + " ".join(self.formatException(record.exc_info).split())
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC ISO 8601), level, logger, event, and the fields."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in getattr(record, "fields", {}).items():
            document.setdefault(key, _value(value))
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        import json  # not at every start: only JSON logs need it

        return json.dumps(document, ensure_ascii=False)


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is now, so a rich progress bar can redirect it."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def configure(log_format: LogFormat, level: int = logging.INFO) -> None:
    """Route the ``newsletter`` and ``apscheduler`` loggers to stderr in ``log_format``."""
    handler = _StderrHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    for name, minimum in ((LOGGER, level), ("apscheduler", max(level, logging.WARNING))):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(minimum)
        logger.propagate = False


@contextmanager
def progress(enabled: bool, description: str) -> Iterator[Checkpoint]:
    """A checkpoint that advances a transient rich progress bar over the pipeline's stages,
    which also shows the feeds fetched so far; without a bar, those are a log line every 10 s."""
    from newsletter.progress import listening

    if not enabled:
        with counting("feeds fetched", bar=False) as tick, listening(lambda _w, d, t: tick(d, t)):
            yield lambda _stage: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from newsletter.pipeline import STAGES

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[stage]}"),
        TimeElapsedColumn(),
        console=Console(file=sys.stderr),
        transient=True,
    )
    task = bar.add_task(description, total=len(STAGES), stage="starting")

    def advance(stage: str) -> None:
        done = STAGES.index(stage) + 1 if stage in STAGES else 0
        bar.update(task, completed=done, stage=stage)

    def fetched(what: str, done: int, total: int) -> None:
        bar.update(task, stage=f"{what} {done}/{total}")

    with bar, listening(fetched):
        yield advance


@contextmanager
def counting(
    what: str,
    *,
    bar: bool,
    every: float = 10.0,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[Callable[[int, int], None]]:
    """A ``(done, total)`` callback for a long loop (``what``: "sent" for a send): a rich bar
    with done/total and the rate in a terminal, else one INFO line every ``every`` seconds,
    so a send to 10,000 subscribers is not half an hour of silence in a log."""
    started = clock()
    if not bar:
        last = [started]

        def line(done: int, total: int) -> None:
            now = clock()
            if now - last[0] < every or done >= total:
                return
            last[0] = now
            rate = done / max(now - started, 1e-9)
            logging.getLogger(LOGGER).info(
                f"{what} {done}/{total} ({rate:.1f}/s)",
                extra=fields(done=done, total=total, rate=round(rate, 2)),
            )

        yield line
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    shown = Progress(
        TextColumn(what),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        console=Console(file=sys.stderr),
        transient=True,
    )
    task = shown.add_task(what, total=None, rate="")

    def advance(done: int, total: int) -> None:
        rate = done / max(clock() - started, 1e-9)
        shown.update(task, completed=done, total=total, rate=f"{rate:.1f}/s")

    with shown:
        yield advance
