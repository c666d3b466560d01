"""The subscriber list at scale: importing a CSV, syncing it again on each send, reading the
active list, and the sign-up rate limit's database round trip.

    PYTHONPATH=src python benchmarks/subscribers.py [--rows 10000] [--url postgresql+psycopg://...]

Without --url it uses a fresh SQLite file (the embedded default). Prints a table.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from newsletter.delivery import roster
from newsletter.delivery.addresses import Address, parse_address
from newsletter.delivery.subscribers import Subscriber
from newsletter.store import state

NOW = datetime(2026, 11, 28, 7, 0, tzinfo=UTC)


def rows(count: int) -> list[tuple[Address, Subscriber]]:
    made = []
    for i in range(count):
        email = f"reader{i:06d}@example{i % 97}.org"
        parsed = parse_address(email)
        assert isinstance(parsed, Address)
        sections = None if i % 3 else frozenset({"us-plan"})
        made.append((parsed, Subscriber(email, f"Reader {i}", sections)))
    return made


def timed(label: str, action: object, table: list[tuple[str, float]]) -> object:
    start = time.perf_counter()
    result = action()  # type: ignore[operator]
    table.append((label, time.perf_counter() - start))
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--url", default=None)
    args = parser.parse_args()
    table: list[tuple[str, float]] = []
    listed = timed(
        f"parse + validate {args.rows} addresses (email-validator)", lambda: rows(args.rows), table
    )
    with tempfile.TemporaryDirectory() as folder, state.connect(Path(folder), args.url) as engine:
        ref = roster.list_id(engine, "Bench", NOW)
        origin = "csv:/bench.csv"
        timed(
            "first import (one transaction)",
            lambda: roster.import_subscribers(
                engine, ref, listed, origin=origin, now=NOW, sync=True
            ),  # type: ignore[arg-type]
            table,
        )
        timed(
            "the same CSV again, as each send syncs it",
            lambda: roster.import_subscribers(
                engine, ref, listed, origin=origin, now=NOW, sync=True
            ),  # type: ignore[arg-type]
            table,
        )
        active = timed(
            "read the active list", lambda: roster.active_subscribers(engine, ref), table
        )
        assert len(active) == args.rows  # type: ignore[arg-type]
        start = time.perf_counter()
        for i in range(200):
            roster.over_limit(engine, f"client:10.0.0.{i % 50}", 10, NOW)
        table.append(
            (
                "200 rate-limit checks (per request, ms each)",
                (time.perf_counter() - start) / 200 * 1000,
            )
        )
    backend = "PostgreSQL" if args.url else "SQLite (embedded)"
    print(f"| {backend}, {args.rows} subscribers | seconds |")
    print("|---|---|")
    for label, seconds in table:
        print(f"| {label} | {seconds:.3f} |")


if __name__ == "__main__":
    main()
