"""The delivery ledger on SQLite and PostgreSQL: one sender per (issue, subscriber)."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from newsletter.delivery import ledger
from newsletter.store import state

NOW = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
KEY = ledger.Key("NL", 1, "a@example.org")


def planned(tmp_path: Path, url: str | None):  # type: ignore[no-untyped-def]
    engine = state.open_engine(tmp_path / "state", url)
    ledger.plan(engine, "NL", 1, {"a@example.org": "<1.a@x>", "b@example.org": "<1.b@x>"}, NOW)
    ledger.plan(engine, "NL", 1, {"a@example.org": "<other@x>"}, NOW)  # planning twice is harmless
    return engine


def test_claim_send_then_skip(tmp_path: Path, state_url: str | None) -> None:
    engine = planned(tmp_path, state_url)
    me = state.owner_token()
    claim = ledger.claim(engine, KEY, owner=me, now=NOW)
    assert claim == ledger.Claimed("<1.a@x>", resumed=False)
    other = ledger.claim(engine, KEY, owner=state.owner_token(), now=NOW)
    assert isinstance(other, ledger.Skip) and other.reason == "busy"
    ledger.mark_sent(engine, KEY, me, NOW)
    again = ledger.claim(engine, KEY, owner=state.owner_token(), now=NOW)
    assert isinstance(again, ledger.Skip) and again.reason == "sent"
    assert ledger.sent_emails(engine, "NL", 1) == {"a@example.org"}
    assert ledger.counts(engine, "NL", 1) == {"sent": 1, "pending": 1}

    b = ledger.Key("NL", 1, "b@example.org")
    assert isinstance(ledger.claim(engine, b, owner=me, now=NOW), ledger.Claimed)
    ledger.mark_failed(engine, b, me, "550 no such user", permanent=True)
    refused = ledger.claim(engine, b, owner=me, now=NOW)
    assert refused == ledger.Skip("refused", "550 no such user")
    retried = ledger.claim(engine, b, owner=me, now=NOW, retry_refused=True)
    assert isinstance(retried, ledger.Claimed)
    engine.dispose()


def test_a_dead_or_expired_sender_is_taken_over(tmp_path: Path, state_url: str | None) -> None:
    engine = planned(tmp_path, state_url)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_owner = f"{socket.gethostname()}:{dead.stdout.strip()}:deadbeef"
    assert isinstance(ledger.claim(engine, KEY, owner=dead_owner, now=NOW), ledger.Claimed)
    resumed = ledger.claim(engine, KEY, owner=state.owner_token(), now=NOW)
    assert resumed == ledger.Claimed("<1.a@x>", resumed=True)

    b = ledger.Key("NL", 1, "b@example.org")
    assert isinstance(ledger.claim(engine, b, owner="elsewhere:1:x", now=NOW), ledger.Claimed)
    soon = ledger.claim(engine, b, owner=state.owner_token(), now=NOW)
    assert isinstance(soon, ledger.Skip) and soon.reason == "busy"
    later = NOW + ledger.SENDING_LEASE + timedelta(seconds=1)
    assert isinstance(ledger.claim(engine, b, owner=state.owner_token(), now=later), ledger.Claimed)
    engine.dispose()


def test_concurrent_senders_get_one_claim(tmp_path: Path, state_url: str | None) -> None:
    engine = planned(tmp_path, state_url)
    results: list[ledger.ClaimOutcome] = []
    barrier = threading.Barrier(6)

    def claim() -> None:
        barrier.wait()
        results.append(ledger.claim(engine, KEY, owner=state.owner_token(), now=NOW))

    threads = [threading.Thread(target=claim) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(isinstance(r, ledger.Claimed) for r in results) == 1
    engine.dispose()
