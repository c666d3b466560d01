"""Parsing while the fetch goes on, in a child interpreter fed bodies as they arrive.

The worker is a plain ``subprocess`` child (``python -m newsletter.sources.parseproc``)
speaking pickled messages over its stdin and stdout: no ``multiprocessing`` pool, so no
resource tracker (a third interpreter, ~13 MB) and no re-import of the parent's ``__main__``
(under ``spawn`` a pool worker of the ``newsletter`` command imports the whole CLI). The child
imports only what parsing and signing need (``parsework``: feedparser, nh3, numpy).

Each body goes to the worker as soon as its fetch completes and is forgotten once parsed: at
most the feeds still waiting for the worker are held here. The worker also computes each
article's near-duplicate signature, so this process imports neither numpy nor (unless the
worker fails) feedparser: with a worker, this process does not parse. (It used to take the
feeds still queued once the fetch was over, from the back: a second core at work for the tail,
but feedparser, nh3 and numpy in both interpreters, which the memory budget cannot carry.)
If the worker cannot start, or dies, the feeds it did not answer are parsed here (and dedup
signs them itself): one worker's bad luck never costs the run.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import functools
import itertools
import logging
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from newsletter.sources.feeds import ParsedFeed, ParseJob

log = logging.getLogger("newsletter.ingest")

POOL_MIN_FEEDS = 16  # below this, starting a worker costs more than it saves
_TRIM_EVERY = 16  # answers between two hand-backs of freed memory (see release_freed_memory)

# Messages, pickled one after another on the pipes (both ends are this module):
#   to the worker:   ("parse", job, signed)
#   from the worker: ("parsed", key, parsed, seconds, signatures)


class _Child:
    """One worker interpreter and the two threads that talk to it: ``writer`` takes jobs from
    the shared queue and sends them, ``reader`` collects what comes back."""

    def __init__(self, parser: Parser) -> None:
        self._parser = parser
        self._process: subprocess.Popen[bytes] | None = None
        self.sent: dict[str, ParseJob] = {}  # sent, not yet answered (held for a retry here)
        self.alive = False
        self._writer = threading.Thread(target=self._write, name="parse-writer", daemon=True)
        self._reader: threading.Thread | None = None
        self._writer.start()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def _start(self) -> bool:
        package_root = str(Path(__file__).resolve().parents[2])  # so a source tree works too
        path = os.environ.get("PYTHONPATH")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (package_root, path) if p)}
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "newsletter.sources.parseproc"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
            )
        except OSError as e:
            log.warning("parse worker unavailable (%s); parsing in this process", e)
            return False
        self.alive = True
        self._reader = threading.Thread(target=self._read, name="parse-reader", daemon=True)
        self._reader.start()
        return True

    def _write(self) -> None:
        if not self._start():
            self._parser.worker_failed()
            return
        assert self._process is not None and self._process.stdin is not None
        stdin = self._process.stdin
        try:
            while (message := self._parser.next_message()) is not None:
                if message[0] == "parse":
                    job = message[1]
                    self.sent[job.key] = job
                pickle.dump(message, stdin, protocol=pickle.HIGHEST_PROTOCOL)
                stdin.flush()
                del message
        except (OSError, ValueError):  # the worker is gone: what it did not answer is redone
            pass
        finally:
            with contextlib.suppress(OSError):
                stdin.close()

    def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        stdout = self._process.stdout
        answers = 0
        try:
            while True:
                message = pickle.load(stdout)
                if message[0] == "parsed":
                    self.sent.pop(message[1], None)
                self._parser.answered(message)
                del message
                answers += 1
                if answers % _TRIM_EVERY == 0:
                    release_freed_memory()
        except (EOFError, OSError, pickle.UnpicklingError):
            pass
        finally:
            self.alive = False
            self._parser.worker_failed()

    @property
    def running(self) -> bool:
        """Still sending jobs or reading answers."""
        reader = self._reader
        return self._writer.is_alive() or (reader is not None and reader.is_alive())

    def join(self) -> None:
        self._writer.join()
        if self._reader is not None:
            self._reader.join()
        if self._process is not None:
            self._process.wait()

    def kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()


class Parser:
    """With many feeds, parse in worker interpreters as each body arrives, while the rest are
    still on the wire (feedparser holds the GIL, so threads would not help); with few, parse
    here once the fetch is over (never inside the event loop: it would stall the fetches).
    Workers start with the first body (a run of 304s starts none), from a thread, so that
    starting them and handing them bodies never stalls the event loop."""

    def __init__(
        self,
        feeds: int,
        signatures: dict[str, bytes | None] | None = None,
        min_feeds: int = POOL_MIN_FEEDS,
    ) -> None:
        cores = os.cpu_count() or 1
        self._workers = max(1, min(cores - 1, feeds))
        self._wanted = cores > 1 and feeds >= min_feeds
        self._signatures = signatures
        self._children: list[_Child] = []
        self._waiting: collections.deque[tuple[Any, ...]] = collections.deque()
        self._changed = threading.Condition()
        self._closing = False
        self._parsed: dict[str, ParsedFeed] = {}
        self._signed: dict[str, bytes | None] = {}
        self.started: float | None = None  # perf_counter() at the first body
        self.seconds = 0.0  # parsing CPU time summed over the feeds

    @property
    def worker_pids(self) -> list[int]:
        return [c.pid for c in self._children if c.pid is not None]

    def __enter__(self) -> Parser:
        return self

    def __exit__(self, *_: object) -> None:
        self._close()
        for child in self._children:
            child.kill()
            child.join()

    def submit(self, job: ParseJob) -> None:
        """Called from the event loop: must not block."""
        if self.started is None:
            self.started = time.perf_counter()
        with self._changed:
            self._waiting.append(("parse", job, self._signatures is not None))
            if self._wanted and not self._children:
                self._children = [_Child(self) for _ in range(self._workers)]
            self._changed.notify()

    # --- called by the children's threads ---

    def next_message(self) -> tuple[Any, ...] | None:
        """The next message for a worker (the oldest waiting), or None once there is none to
        come."""
        with self._changed:
            while not self._waiting and not self._closing:
                self._changed.wait()
            return self._waiting.popleft() if self._waiting else None

    def answered(self, message: tuple[Any, ...]) -> None:
        with self._changed:
            if message[0] == "parsed":
                _, key, parsed, seconds, signatures = message
                self._parsed[key] = parsed
                self._signed.update(signatures)
                self.seconds += seconds
            self._changed.notify_all()

    def worker_failed(self) -> None:
        with self._changed:
            self._changed.notify_all()

    # --- this process ---

    def _close(self) -> None:
        with self._changed:
            self._closing = True
            self._changed.notify_all()

    def results(
        self, on_parsed: Callable[[ParsedFeed], None] | None = None
    ) -> dict[str, ParsedFeed]:
        """Every submitted feed parsed (the fetch is over: nothing more will come). While
        the workers finish, ``on_parsed`` gets each feed they parse, in this thread, as it
        comes back: work for this process's otherwise idle wait."""
        self._close()
        if on_parsed is not None:
            self._as_they_come(on_parsed)
        for child in self._children:  # each ends once the queue is empty, or on failure
            child.join()
        # What no worker took (none started, or one died) and what a dead worker held.
        jobs: list[ParseJob] = [message[1] for message in self._waiting]
        self._waiting.clear()
        for child in self._children:
            jobs += [job for job in child.sent.values() if job.key not in self._parsed]
            child.sent.clear()
        parsed = self._parsed
        if jobs:
            from newsletter.sources.parsework import parse_safely

            for job in jobs:  # dedup computes their signatures itself
                start = time.process_time()
                parsed[job.key] = parse_safely(job)
                self.seconds += time.process_time() - start
        if self._signatures is not None:
            self._signatures.update(self._signed)
        self._parsed, self._signed = {}, {}
        return parsed

    def _as_they_come(self, on_parsed: Callable[[ParsedFeed], None]) -> None:
        handed = 0  # answers are only ever added to _parsed, in the order they came
        while True:
            with self._changed:
                running = any(child.running for child in self._children)
                fresh = list(itertools.islice(self._parsed.values(), handed, None))
                if not fresh and running:
                    self._changed.wait(0.05)
                    continue
            handed += len(fresh)
            for parsed in fresh:
                on_parsed(parsed)
            if not running:
                return


def release_freed_memory() -> None:
    """Give the pages of freed memory back to the operating system (glibc's ``malloc_trim``;
    a no-op where the C library has none).

    Bodies are made by the event loop's thread and freed as the worker takes them; the parsed
    articles are unpickled by the reader thread. glibc gives each thread its own arena, so the
    bodies' freed pages are not reused for the articles and, left alone, kept the run's peak
    memory about 10 MB higher (benchmarks/run.py, docs/benchmarks.md)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS, Windows)
        return None
    return trim


# --- the worker ------------------------------------------------------------------------------


def serve(stdin: IO[bytes], stdout: IO[bytes]) -> None:
    """The worker's loop: one answer per message, until the parent closes the pipe."""
    from newsletter.sources.parsework import parse_timed

    while True:
        try:
            message = pickle.load(stdin)
        except EOFError:
            return
        job, signed = message[1], message[2]
        parsed, seconds, signs = parse_timed(job, signed)
        answer = ("parsed", job.key, parsed, seconds, signs)
        del message
        pickle.dump(answer, stdout, protocol=pickle.HIGHEST_PROTOCOL)
        stdout.flush()
        del answer


def main() -> None:
    # The parent ends the worker by closing its stdin; a Ctrl-C meant for the parent is not
    # the worker's business. Anything printed by accident goes to stderr, not into the pipe.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stdout = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    with contextlib.suppress(BrokenPipeError):  # the parent is gone
        serve(sys.stdin.buffer, stdout)


if __name__ == "__main__":
    main()
