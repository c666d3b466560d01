"""The distributed mode's `run` and `send` tell the truth like the embedded ones: `--json`
prints one document of the same shape (results.py), `--no-wait --json` says what was
enqueued, and the waits report progress read from the shared database. PostgreSQL and
Redis are real (started by the tests); the workers' side is played by a thread writing the
same rows the tasks write, so no worker process has to start."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from fleet import fresh_database, make_distributed
from newsletter import pipeline
from newsletter.cli import main
from newsletter.config import Config, load_config
from newsletter.delivery import ledger
from newsletter.distributed import slotstate
from newsletter.distributed.commands import run_command, send_command
from newsletter.distributed.work import enabled_feed_urls
from newsletter.logs import LOGGER, counting
from newsletter.store import state
from newsletter.store.state import slot_key

RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Wire {n}</title><link>https://wire{n}.example/</link>
<item><title>Talks resume {n}</title><link>https://wire{n}.example/a</link>
<description>Negotiators met again.</description></item></channel></rss>
"""
FEEDS = 3
SLOT = datetime(2026, 11, 28, tzinfo=UTC)
READERS = ["ann@example.org", "bob@example.org", "cy@example.org"]


@pytest.fixture
def distributed(project: Path, postgres_url: str, redis_url: str) -> Config:
    """The example project on PostgreSQL and Redis, with three local feeds and a list."""
    config = project / "newsletter.toml"
    feeds = ""
    for n in range(FEEDS):
        (project / f"wire{n}.xml").write_text(RSS.format(n=n), encoding="utf-8")
        feeds += f'\n[[feeds]]\nname = "Wire {n}"\nurl = "wire{n}.xml"\n'
    config.write_text(config.read_text(encoding="utf-8") + feeds, encoding="utf-8")
    make_distributed(project, fresh_database(postgres_url), redis_url, extra="wait_seconds = 20")
    (project / "subscribers.csv").write_text("email\n" + "".join(f"{e}\n" for e in READERS))
    return load_config(config)


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def logged() -> Iterator[list[str]]:
    logger = logging.getLogger(LOGGER)
    handler, level = _Lines(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler.lines
    logger.removeHandler(handler)
    logger.setLevel(level)


def _until(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_no_wait_json_says_what_was_enqueued(distributed: Config) -> None:
    config = str(distributed.root / "newsletter.toml")
    ran = CliRunner().invoke(main, ["run", "--config", config, "--no-wait", "--json"])
    assert ran.exit_code == 0, ran.output
    document = json.loads(ran.stdout)  # stdout is the document alone
    assert document["command"] == "run" and document["result"] == "queued" and document["ok"]
    assert document["counts"] == {"fetches": FEEDS, "builds": 0}
    assert document["queue"] == distributed.queue_name and document["slot"]

    built = pipeline.run(distributed, now=datetime.now(UTC), warn=lambda _: None)
    assert built.status == "written"
    sent = CliRunner().invoke(main, ["send", "--config", config, "--no-wait", "--json"])
    assert sent.exit_code == 0, sent.output
    document = json.loads(sent.stdout)
    assert (document["command"], document["result"], document["issue"]) == ("send", "queued", 1)
    assert document["counts"] == {"subscribers": len(READERS)}
    assert document["paths"]["folder"] == str(built.path)


def test_a_distributed_run_reports_feeds_fetched_and_prints_the_run_document(
    distributed: Config, logged: list[str]
) -> None:
    """While it waits, `run` shows the fetches recorded in the database (done/total), then
    one line when the build starts; `--json` gives the embedded run's document."""
    engine = state.open_engine(distributed.state_dir, distributed.state.url)
    seen: list[int] = []
    folder = distributed.root / "outbox" / "made-by-a-worker"

    def workers() -> None:  # what the fetch and build tasks record, one step at a time
        key = (distributed.newsletter.name, slot_key(SLOT))
        _until(lambda: slotstate.find(engine, *key) is not None, "the slot planned")
        run = slotstate.find(engine, *key)
        assert run is not None
        for n, url in enumerate(enabled_feed_urls(distributed)):
            slotstate.record_fetch(
                engine, run.id, run.attempt, url, status="done", owner="t",
                articles=1, error=None, now=datetime.now(UTC),
            )  # fmt: skip
            _until(lambda n=n: n + 1 in seen, f"the wait to see {n + 1} fetches")
        assert slotstate.start_building(engine, run.id, run.attempt)
        _until(lambda: any("building" in line for line in logged), "the build line")
        folder.mkdir(parents=True)
        (folder / "issue.html").write_text("<html></html>", encoding="utf-8")
        slotstate.finish(
            engine, run.id, run.attempt, "done", now=datetime.now(UTC), number=1,
            path=str(folder), result="written", message="issue #1 written",
        )  # fmt: skip

    documents: list[dict[str, object]] = []
    playing = threading.Thread(target=workers)
    playing.start()
    with counting("feeds fetched", bar=False, every=0.0) as tick:

        def progress(done: int, total: int) -> None:
            seen.append(done)
            tick(done, total)

        code = run_command(
            distributed,
            slot=SLOT,
            now=datetime.now(UTC),
            allow_empty=False,
            new_edition=False,
            send=False,
            wait=True,
            echo=lambda _line: None,
            error=lambda line: pytest.fail(line),
            warn=lambda _line: None,
            emit=documents.append,
            progress=progress,
        )
    playing.join(10)
    engine.dispose()
    assert code == 0
    fetched = [line.split(" (")[0] for line in logged if line.startswith("feeds fetched")]
    # Each count once or more (every poll logs with every=0); 3/3 is the build line instead.
    assert [f for f in dict.fromkeys(fetched) if not f.endswith(" 0/3")] == [
        "feeds fetched 1/3",
        "feeds fetched 2/3",
    ]
    assert f"slot 2026-11-28T00:00:00+00:00: {FEEDS} feed(s) fetched; building the issue" in logged
    [document] = documents
    assert document["command"] == "run" and document["result"] == "written" and document["ok"]
    assert document["issue"] == 1 and document["slot"] == "2026-11-28T00:00:00+00:00"
    assert document["paths"] == {"folder": str(folder), "files": [str(folder / "issue.html")]}
    assert set(document) == {
        "command",
        "result",
        "ok",
        "issue",
        "slot",
        "message",
        "counts",
        "paths",
    }


def test_a_distributed_send_reports_messages_ended_and_prints_the_send_document(
    distributed: Config, logged: list[str]
) -> None:
    built = pipeline.run(distributed, now=datetime.now(UTC), warn=lambda _: None)
    assert built.status == "written" and built.path is not None
    engine = state.open_engine(distributed.state_dir, distributed.state.url)
    name = distributed.newsletter.name
    seen: list[int] = []

    def workers() -> None:  # what the batch tasks record: two sent, one refused for good
        now = datetime.now(UTC)
        ledger.plan(engine, name, 1, {e: f"<{e}>" for e in READERS}, now)
        for n, email in enumerate(READERS):
            key = ledger.Key(name, 1, email)
            ledger.claim(engine, key, owner="t", now=now)
            if email == "cy@example.org":
                ledger.mark_failed(engine, key, "t", "550 no such user", permanent=True)
            else:
                ledger.mark_sent(engine, key, "t", now)
            _until(lambda n=n: n + 1 in seen, f"the wait to see {n + 1} messages")

    documents: list[dict[str, object]] = []
    errors: list[str] = []
    playing = threading.Thread(target=workers)
    playing.start()
    with counting("sending", bar=False, every=0.0) as tick:

        def progress(done: int, total: int) -> None:
            seen.append(done)
            tick(done, total)

        code = send_command(
            distributed,
            issue=None,
            wait=True,
            echo=lambda _line: None,
            error=errors.append,
            emit=documents.append,
            progress=progress,
        )
    playing.join(10)
    engine.dispose()
    assert code == 1 and errors == [
        "Issue #1: sent 2, failed 1 ('newsletter send' again retries the temporary failures)"
    ]
    sending = [line.split(" (")[0] for line in logged if line.startswith("sending")]
    assert [f for f in dict.fromkeys(sending) if not f.endswith(" 0/3")] == [
        "sending 1/3",
        "sending 2/3",
    ]
    assert all(line.endswith("/s)") for line in logged if line.startswith("sending"))
    [document] = documents
    assert (document["command"], document["result"], document["ok"]) == ("send", "failed", False)
    assert document["counts"]["sent"] == 2 and document["counts"]["failed"] == 1  # type: ignore[index]
    assert document["failures"] == [
        {"email": "cy@example.org", "reason": "550 no such user", "permanent": True}
    ]
    assert document["paths"]["folder"] == str(built.path)  # type: ignore[index]
