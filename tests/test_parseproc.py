"""The parse worker: a killed worker costs no feed, and a fetcher hands over taken bodies."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from newsletter.sources.fetch import FetchRequest, HttpFetcher
from newsletter.sources.parseproc import Parser
from test_parallel_paths import jobs


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: no worker is started")
def test_a_killed_worker_costs_no_feed() -> None:
    work = jobs(20)
    with Parser(1, min_feeds=1) as serial:
        serial._wanted = False  # everything here: the reference
        for job in work:
            serial.submit(job)
        expected = serial.results()
    with Parser(len(work), {}) as parser:
        for job in work:
            parser.submit(job)
        deadline = time.monotonic() + 30
        while not parser.worker_pids and time.monotonic() < deadline:
            time.sleep(0.005)
        os.kill(parser.worker_pids[0], signal.SIGKILL)
        time.sleep(0.2)
        assert len(parser._parsed) < len(work)  # the worker did not get to finish
        got = parser.results()
    assert got == expected and len(got) == 20


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: no worker is started")
def test_the_waiting_caller_gets_each_parsed_feed_once_as_it_comes() -> None:
    """While the worker finishes, the caller of results() is handed every feed it parses,
    once, in the caller's own thread (the summarizer judges articles there meanwhile)."""
    import threading

    work = jobs(30)
    handed: list[tuple[str, str]] = []
    with Parser(len(work), {}) as parser:
        for job in work:
            parser.submit(job)
        got = parser.results(
            lambda feed: handed.append((feed.key, threading.current_thread().name))
        )
    keys = [key for key, _ in handed]
    assert sorted(keys) == sorted(got) and len(keys) == len(set(keys)) == 30
    assert {thread for _, thread in handed} == {threading.current_thread().name}
    assert all(got[key].articles for key in keys)


def test_a_body_taken_by_the_callback_is_not_kept_by_the_fetcher(tmp_path: Path) -> None:
    feed = tmp_path / "feed.xml"
    feed.write_bytes(b"<rss><channel><title>T</title></channel></rss>")
    request = FetchRequest(feed.as_uri())
    seen: list[bytes | None] = []
    (taken,) = HttpFetcher().fetch_all([request], lambda i, r: seen.append(r.body) or True)
    (kept,) = HttpFetcher().fetch_all([request], lambda i, r: None)
    assert seen == [feed.read_bytes()] and taken.body == b"" and taken.ok
    assert kept.body == feed.read_bytes()
