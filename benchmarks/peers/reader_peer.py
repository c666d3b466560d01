"""Run inside reader's own virtual environment (see ``benchmarks/run.py --peer reader``).

    python reader_peer.py DB_PATH WORKERS URL...

Measures lemon24/reader's ingestion of the given feeds from this process's start: import,
``make_reader``, ``add_feed`` for every URL, ``update_feeds(workers=WORKERS)`` (the first
run), then ``update_feeds(scheduled=False)`` again (the re-run: every feed answers 304;
without ``scheduled=False`` reader skips feeds updated within the hour), and prints one JSON
line: wall seconds of each, entries stored, and this process's peak RSS (``ru_maxrss``;
reader's workers are threads, so that is all of it). Standard library only besides reader.
"""

from __future__ import annotations

import json
import resource
import sys
import time

START = time.perf_counter()  # before importing reader: its import is part of its cost


def main() -> None:
    db, workers, urls = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    from reader import make_reader

    reader = make_reader(db)
    for url in urls:
        reader.add_feed(url)
    reader.update_feeds(workers=workers)
    first = time.perf_counter() - START
    entries = reader.get_entry_counts().total
    rss_first = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    again_start = time.perf_counter()
    reader.update_feeds(workers=workers, scheduled=False)  # not due yet on its own schedule
    again = time.perf_counter() - again_start
    reader.close()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "first": first,
                "again": again,
                "entries": entries,
                "rss first": rss_first,
                "rss": rss,
                "version": sys.modules["reader"].__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
