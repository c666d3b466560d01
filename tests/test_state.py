"""The state layer, on the embedded SQLite file and on PostgreSQL: one claim per slot."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from newsletter.store import state

NOW = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
SLOT = "2026-11-25T00:00:00+02:00"


def engine_for(tmp_path: Path, url: str | None):  # type: ignore[no-untyped-def]
    return state.open_engine(tmp_path / "state", url)


def test_claim_build_finish_then_already_done(tmp_path: Path, state_url: str | None) -> None:
    engine = engine_for(tmp_path, state_url)
    claim = state.claim_issue(engine, "NL", SLOT, owner=state.owner_token(), now=NOW)
    assert isinstance(claim, state.Claimed) and claim.record.number == 1
    state.finish_issue(
        engine,
        claim.record,
        path="/outbox/x",
        subject="s",
        article_ids=["a", "b"],
        articles_in=2,
        items_out=3,
        now=NOW,
    )
    again = state.claim_issue(engine, "NL", SLOT, owner=state.owner_token(), now=NOW)
    assert isinstance(again, state.AlreadyDone) and again.record.path == "/outbox/x"
    tomorrow = state.claim_issue(engine, "NL", "next", owner=state.owner_token(), now=NOW)
    assert isinstance(tomorrow, state.Claimed) and tomorrow.record.number == 2
    assert state.published_article_ids(engine, "NL", except_slot="next") == {"a", "b"}
    assert state.published_article_ids(engine, "NL", except_slot=SLOT) == set()
    other = state.claim_issue(engine, "Other", SLOT, owner=state.owner_token(), now=NOW)
    assert isinstance(other, state.Claimed) and other.record.number == 1
    engine.dispose()


def test_a_live_claim_is_busy_a_dead_one_is_taken_over(
    tmp_path: Path, state_url: str | None
) -> None:
    engine = engine_for(tmp_path, state_url)
    first = state.claim_issue(engine, "NL", SLOT, owner=state.owner_token(), now=NOW)
    assert isinstance(first, state.Claimed)
    busy = state.claim_issue(engine, "NL", SLOT, owner=state.owner_token(), now=NOW)
    assert isinstance(busy, state.Busy)

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_owner = f"{socket.gethostname()}:{dead.stdout.strip()}:deadbeef"
    crashed = state.claim_issue(engine, "NL", "slot-2", owner=dead_owner, now=NOW)
    assert isinstance(crashed, state.Claimed)
    retry = state.claim_issue(engine, "NL", "slot-2", owner=state.owner_token(), now=NOW)
    assert isinstance(retry, state.Claimed) and retry.taken_over
    assert retry.record.number == crashed.record.number  # no gap, no second issue

    remote = state.claim_issue(engine, "NL", "slot-3", owner="elsewhere:1:x", now=NOW)
    assert isinstance(remote, state.Claimed)
    soon = state.claim_issue(engine, "NL", "slot-3", owner=state.owner_token(), now=NOW)
    assert isinstance(soon, state.Busy)
    later = NOW + state.DEFAULT_LEASE + timedelta(seconds=1)
    expired = state.claim_issue(engine, "NL", "slot-3", owner=state.owner_token(), now=later)
    assert isinstance(expired, state.Claimed) and expired.taken_over
    engine.dispose()


def test_concurrent_claimers_get_exactly_one_claim(tmp_path: Path, state_url: str | None) -> None:
    engine = engine_for(tmp_path, state_url)
    results: list[state.ClaimResult] = []
    barrier = threading.Barrier(6)

    def claim() -> None:
        barrier.wait()
        results.append(state.claim_issue(engine, "NL", SLOT, owner=state.owner_token(), now=NOW))

    threads = [threading.Thread(target=claim) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(isinstance(r, state.Claimed) for r in results) == 1
    assert sum(isinstance(r, state.Busy) for r in results) == 5
    engine.dispose()


def test_migrations_are_recorded_and_idempotent(tmp_path: Path, state_url: str | None) -> None:
    engine = engine_for(tmp_path, state_url)
    assert state.migrate(engine) == state.SCHEMA_VERSION
    assert state.migrate(engine) == state.SCHEMA_VERSION
    engine.dispose()
