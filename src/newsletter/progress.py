"""Progress of the long loops inside a run (feeds fetched so far), for whoever shows it.

The parts report ``(what, done, total)`` with ``report``; the CLI listens (``listening``) and
draws a bar or logs a line. Nobody listening costs one lookup. A context variable carries the
listener, so the pipeline's signatures stay as they are and concurrent runs (threads, tasks)
each report to their own listener.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

Listener = Callable[[str, int, int], None]

_listener: ContextVar[Listener | None] = ContextVar("newsletter_progress", default=None)


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    token = _listener.set(listener)
    try:
        yield
    finally:
        _listener.reset(token)


def report(what: str, done: int, total: int) -> None:
    listener = _listener.get()
    if listener is not None:
        listener(what, done, total)
