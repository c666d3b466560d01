"""The work spread over processes gives exactly what one process gives: parsing in workers
(with dedup signatures computed there) and our numpy MinHash + LSH against datasketch's."""

from __future__ import annotations

import os
import random
import time
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from newsletter.model import Article
from newsletter.sources.dedup import (
    _near_duplicates,
    article_text,
    dedupe,
    signatures,
    text_key,
)
from newsletter.sources.feeds import ParseJob
from newsletter.sources.ingest import _Parser

NOW = datetime(2025, 11, 25, 7, tzinfo=UTC)
WORDS = [f"w{i}" for i in range(3000)] + ["Kyiv", "talks", "plan", "Geneva", "envoy"]


def feed(n: int, rng: random.Random) -> bytes:
    items = "".join(
        f"<item><title>Story {n}.{e}</title><link>http://o{n}.example/{e}</link>"
        f"<pubDate>Mon, 24 Nov 2025 10:00:00 GMT</pubDate><description>&lt;p&gt;"
        f"{' '.join(rng.choices(WORDS, k=40))}.&lt;/p&gt;&lt;p&gt;"
        f"{' '.join(rng.choices(WORDS, k=30))}.&lt;/p&gt;</description></item>"
        for e in range(6)
    )
    return f'<rss version="2.0"><channel><title>O{n}</title>{items}</channel></rss>'.encode()


def jobs(count: int) -> list[ParseJob]:
    rng = random.Random(5)
    return [
        ParseJob(
            f"http://o{n}.example/feed", f"O{n}", feed(n, rng), "http://o.example/", "", NOW, 50
        )
        for n in range(count)
    ]


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: there is no parallel path")
def test_parsing_in_workers_gives_what_parsing_here_gives() -> None:
    work = jobs(20)
    signed: dict[str, bytes | None] = {}
    with _Parser(len(work), signed) as parallel:
        for job in work:
            parallel.submit(job)
        deadline = time.monotonic() + 30
        while len(parallel._parsed) < 5 and time.monotonic() < deadline:
            time.sleep(0.02)  # let the worker answer some; this process takes the rest
        assert len(parallel._parsed) >= 5  # the worker did parse
        in_workers = parallel.results()
    with _Parser(1) as serial:  # one feed's worth: parsed in this process
        for job in work:
            serial.submit(job)
        here = serial.results()
    assert in_workers == here and len(here) == 20
    articles = [a for key in sorted(here) for a in here[key].articles]
    texts = [article_text(a) for a in articles]
    assert len(articles) == 120
    assert signed == {text_key(t): s for t, s in zip(texts, signatures(texts), strict=True)}
    # Stories found with the workers' signatures are those found without them.
    copies = [replace(a, id=a.id + "-copy", url=None, outlet="Copycat") for a in articles[::9]]
    assert dedupe(articles + copies, known=signed) == dedupe(articles + copies)
    assert sum(len(s.ids) > 1 for s in dedupe(articles + copies)) == len(copies)


def test_numpy_minhash_clusters_exactly_as_datasketch() -> None:
    datasketch = pytest.importorskip("datasketch", reason="datasketch is in the dev extra")
    from zlib import crc32

    rng = random.Random(11)
    texts = [" ".join(rng.choices(WORDS[:400], k=rng.randint(5, 60))) for _ in range(700)]
    for n in range(0, 700, 7):  # near copies with more or fewer words changed
        words = texts[n].split()
        for k in range(rng.randint(0, len(words) // 3)):
            words[rng.randrange(len(words))] = f"x{k}"
        texts.append(" ".join(words))
    articles = [Article(f"a{i}", "", t, None, "o", NOW, "feed") for i, t in enumerate(texts)]

    lsh = datasketch.MinHashLSH(threshold=0.5, num_perm=64)
    ours = signatures([article_text(a) for a in articles])
    theirs = {}
    for i, a in enumerate(articles):
        shingles = {g.encode() for g in _grams(article_text(a))}
        if len(shingles) >= 8:
            m = datasketch.MinHash(num_perm=64, hashfunc=crc32)
            m.update_batch(list(shingles))
            theirs[i] = m
            lsh.insert(i, m)
            assert ours[i] == m.hashvalues.astype("uint32").tobytes()
        else:
            assert ours[i] is None
    parent = list(range(len(articles)))

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for i, m in theirs.items():
        for j in lsh.query(m):
            a, b = root(i), root(j)
            parent[max(a, b)] = min(a, b)
    expected: dict[int, list[int]] = {}
    for i in range(len(articles)):
        expected.setdefault(root(i), []).append(i)
    clusters = _near_duplicates(articles, 0.5, {})
    assert clusters == list(expected.values())
    assert any(len(c) > 1 for c in clusters) and len(clusters) > 500


def _grams(text: str) -> list[str]:
    import re

    words = re.findall(r"\w+", text.lower())
    return [" ".join(words[i : i + 3]) for i in range(len(words) - 2)]
