"""Writers racing on one state database (a real SQLite file, then PostgreSQL): every row
ends up written once, nobody gives up, and what the next step reads is there."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from newsletter.delivery import ledger, roster
from newsletter.delivery.addresses import parse_address
from newsletter.model import Article
from newsletter.sources import feedstate
from newsletter.store import state

NOW = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
RACERS = 6
ROUNDS = 3
ADDRESSES = [f"reader{i}@example.org" for i in range(40)]


def race(calls: list[Callable[[], object]]) -> list[BaseException]:
    """Run ``calls`` on threads released at the same moment; the exceptions they raised."""
    start = threading.Barrier(len(calls))
    errors: list[BaseException] = []

    def run(call: Callable[[], object]) -> None:
        start.wait()
        try:
            call()
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return errors


def test_concurrent_plans_of_one_issue_all_succeed_and_every_send_can_claim(
    tmp_path: Path, state_url: str | None
) -> None:
    engines = [state.open_engine(tmp_path / "state", state_url) for _ in range(RACERS)]
    try:
        for number in range(1, ROUNDS + 1):
            # Each racer plans the whole list (with its own Message-IDs), as `send` does.
            def plan_as(racer: int, number: int = number) -> Callable[[], None]:
                ids = {email: f"<{number}.{racer}.{email}>" for email in ADDRESSES}
                return lambda: ledger.plan(engines[racer], "NL", number, ids, NOW)

            assert race([plan_as(r) for r in range(RACERS)]) == []
            assert ledger.counts(engines[0], "NL", number) == {"pending": len(ADDRESSES)}
            for email in ADDRESSES:  # before: NoResultFound where a plan had given up
                key = ledger.Key("NL", number, email)
                claimed = ledger.claim(engines[0], key, owner="me", now=NOW)
                assert isinstance(claimed, ledger.Claimed)
                assert claimed.message_id.startswith(f"<{number}.")  # one racer's, kept
    finally:
        for engine in engines:
            engine.dispose()


def article(i: int) -> Article:
    return Article(
        id=f"a{i}",
        title=f"Title {i}",
        text="Text.",
        url=f"https://example.org/{i}",
        outlet="X",
        published=NOW,
        origin="feed",
    )


def test_concurrent_runs_store_each_article_and_feed_once(
    tmp_path: Path, state_url: str | None
) -> None:
    engines = [state.open_engine(tmp_path / "state", state_url) for _ in range(RACERS)]
    feed = "https://example.org/feed"
    new_counts: list[dict[str, int]] = []
    try:

        def ingest(racer: int) -> Callable[[], None]:
            def call() -> None:
                # Overlapping batches: racer r sees articles r*10 .. r*10+39.
                batch = [article(i) for i in range(racer * 10, racer * 10 + 40)]
                new_counts.append(feedstate.store_articles(engines[racer], [(feed, batch)], NOW))
                record = feedstate.FeedRecord(url=feed, name=f"seen by {racer}", entries_seen=40)
                feedstate.save_feeds(engines[racer], [record])

            return call

        assert race([ingest(r) for r in range(RACERS)]) == []
        stored = feedstate.known_ids(engines[0], [f"a{i}" for i in range(200)])
        assert stored == {f"a{i}" for i in range((RACERS - 1) * 10 + 40)}
        # Each article counted new by exactly one run.
        assert sum(c.get(feed, 0) for c in new_counts) == len(stored)
        (record,) = feedstate.load_feeds(engines[0]).values()
        assert record.name.startswith("seen by ") and record.entries_seen == 40
    finally:
        for engine in engines:
            engine.dispose()


def test_concurrent_sign_ups_of_one_address_make_one_subscriber_and_count_every_try(
    tmp_path: Path, state_url: str | None
) -> None:
    engines = [state.open_engine(tmp_path / "state", state_url) for _ in range(RACERS)]
    lists: list[str] = []
    kinds: list[str] = []
    try:

        def sign_up(racer: int) -> Callable[[], None]:
            def call() -> None:
                engine = engines[racer]
                ref = roster.list_id(engine, "NL", NOW)  # the first sign-up makes the list
                lists.append(ref)
                address = parse_address("Reader@Example.org")
                assert not isinstance(address, str)
                roster.over_limit(engine, "ip:192.0.2.1", 100, NOW)
                kinds.append(
                    roster.start_signup(engine, ref, address, "", None, now=NOW, detail=None).kind
                )

            return call

        assert race([sign_up(r) for r in range(RACERS)]) == []
        assert len(set(lists)) == 1  # one list, made once
        assert kinds == ["confirm"] * RACERS  # each form answered, none dropped as "silent"
        (member,) = roster.members(engines[0], lists[0])
        assert member.status == "pending"
        # Every try counted once in the shared window: the next one is number RACERS + 1.
        assert not roster.over_limit(engines[0], "ip:192.0.2.1", RACERS + 1, NOW)
        assert roster.over_limit(engines[0], "ip:192.0.2.1", RACERS + 1, NOW)
    finally:
        for engine in engines:
            engine.dispose()
