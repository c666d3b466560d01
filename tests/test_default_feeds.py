"""The example project lists real public feeds, enabled; without a network each fails with one
line, fast, and the seed still makes the issue. No test here reaches the network: the feeds'
hosts go to a resolver that never answers (as DNS does where its packets are dropped)."""

from __future__ import annotations

import shutil
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from conftest import FOUNDING_SEED, REPO
from newsletter.config import load_config
from newsletter.pipeline import run
from newsletter.sources.fetch import FetchRequest, HttpFetcher
from newsletter.sources.ingest import fetch_limits

NOW = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
NEVER = threading.Event()


def silent_dns(host: str) -> list[str]:
    NEVER.wait(30)  # a daemon thread: the test does not wait for it
    raise OSError(f"{host}: no answer")


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("ALL_PROXY", raising=False)


def test_the_example_fetches_real_feeds_and_offline_still_makes_the_issue_fast(
    tmp_path: Path,
) -> None:
    shutil.copy(REPO / "newsletter.toml", tmp_path / "newsletter.toml")
    (tmp_path / "seeds").mkdir()
    shutil.copy(FOUNDING_SEED, tmp_path / "seeds" / FOUNDING_SEED.name)
    config = load_config(tmp_path / "newsletter.toml")
    feeds = [f for f in config.feeds if f.enabled]
    assert len(feeds) >= 3 and all(f.url.startswith("https://") for f in feeds)

    limits = replace(fetch_limits(config), dns_timeout=0.5)
    warnings: list[str] = []
    started = time.monotonic()
    result = run(
        config, now=NOW, warn=warnings.append, fetcher=HttpFetcher(limits, resolver=silent_dns)
    )
    took = time.monotonic() - started

    assert result.path is not None and (result.path / "issue.json").is_file()
    failed = [w for w in warnings if "no answer from DNS within 0.5 s" in w]
    assert len(failed) == len(feeds), warnings  # one line per feed
    assert all(any(f.url in line for line in failed) for f in feeds)
    assert all("\n" not in line for line in failed)
    assert took < 0.5 + 3.0, f"{took:.1f} s: a feed that cannot resolve must fail fast"


def test_a_host_that_resolves_is_still_fetched_while_another_never_answers() -> None:
    local = REPO / "tests" / "data" / "subscriptions.opml"  # any file: only the outcome counts

    def dns(host: str) -> list[str]:
        return ["127.0.0.1"] if host == "localhost" else silent_dns(host)

    fetcher = HttpFetcher(replace(HttpFetcher().limits, dns_timeout=0.3), resolver=dns)
    started = time.monotonic()
    results = fetcher.fetch_all(
        [
            FetchRequest("https://feeds.example.invalid/rss"),
            FetchRequest("http://localhost:9/closed"),  # resolves; nothing listens on port 9
            FetchRequest(local.as_uri()),
        ]
    )
    assert time.monotonic() - started < 3
    hung, closed, on_disk = results
    assert hung.error == (
        "network error: cannot resolve feeds.example.invalid: no answer from DNS within 0.3 s"
    )
    assert closed.error is not None and "DNS" not in closed.error  # it was tried
    assert on_disk.error is None and on_disk.body
