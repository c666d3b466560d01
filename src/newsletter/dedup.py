"""Deduplication: one story, one item, every outlet cited.

Two passes. The same article under several addresses (same id, or the same canonical link
under a changed guid) is one article. Then the same story from several outlets (near-duplicate
text) is found with MinHash + LSH (datasketch), which looks up likely matches by band hashes
instead of comparing every pair: 50,000 articles cost 50,000 insertions and queries, not 1.25e9
comparisons. Each cluster becomes one representative ``Article`` whose ``also`` cites the rest.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any
from zlib import crc32

from newsletter.articles import Article, Source

THRESHOLD = 0.5  # estimated Jaccard similarity of word 3-shingles
NUM_PERM = 64
SHINGLE = 3
MIN_SHINGLES = 8  # shorter texts are too noisy to call near-duplicates
_WORD = re.compile(r"\w+")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Story:
    """One item's worth: the representative article (``also`` filled) and every id merged."""

    article: Article
    ids: tuple[str, ...]


def dedupe(articles: Sequence[Article], threshold: float = THRESHOLD) -> list[Story]:
    """Merge same-article duplicates, then cluster near-duplicate stories, keeping order."""
    start = time.perf_counter()
    groups = _same_article(articles)
    clusters = _near_duplicates([g[0] for g in groups], threshold)
    stories = [_story([a for i in members for a in groups[i]]) for members in clusters]
    log.debug("phase %s %.4f", "dedup", time.perf_counter() - start)
    return stories


def _same_article(articles: Sequence[Article]) -> list[list[Article]]:
    """Groups of one article under several ids or URLs; first-seen order."""
    groups: list[list[Article]] = []
    index: dict[str, int] = {}
    for article in articles:
        keys = [f"id:{article.id}"] + ([f"url:{article.url}"] if article.url else [])
        found = next((index[k] for k in keys if k in index), None)
        if found is None:
            found = len(groups)
            groups.append([])
        groups[found].append(article)
        for key in keys:
            index.setdefault(key, found)
    return groups


def shingles(text: str) -> set[bytes]:
    words = _WORD.findall(text.lower())
    return {" ".join(words[i : i + SHINGLE]).encode() for i in range(len(words) - SHINGLE + 1)}


def _near_duplicates(articles: Sequence[Article], threshold: float) -> list[list[int]]:
    """Clusters (lists of indexes into ``articles``), in order of each cluster's first member."""
    if len(articles) < 2:
        return [[i] for i in range(len(articles))]
    parent = list(range(len(articles)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    # datasketch pulls in numpy and scipy (~80 MB): only when there is something to compare.
    from datasketch import LeanMinHash, MinHash, MinHashLSH

    kept: list[int] = []  # indexes of articles with enough text to compare

    def shingled() -> Iterator[list[bytes]]:  # lazily: 10,000 shingle sets would be ~100 MB
        for i, a in enumerate(articles):
            words = shingles(f"{a.title}\n{a.text}")
            if len(words) >= MIN_SHINGLES:
                kept.append(i)
                yield list(words)

    lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
    hashes: list[Any] = []
    # crc32 (C) instead of the default sha1 wrapper: hashes are only compared within one run.
    with lsh.insertion_session() as session:
        for n, minhash in enumerate(
            MinHash.generator(shingled(), num_perm=NUM_PERM, hashfunc=crc32)
        ):
            lean = LeanMinHash(minhash)
            session.insert(kept[n], lean)
            hashes.append(lean)
    for i, lean in zip(kept, hashes, strict=True):
        for other in lsh.query(lean):
            a, b = root(i), root(other)
            if a != b:
                parent[max(a, b)] = min(a, b)
    clusters: dict[int, list[int]] = {}
    for i in range(len(articles)):
        clusters.setdefault(root(i), []).append(i)
    return list(clusters.values())


def _story(members: list[Article]) -> Story:
    """The fullest text speaks for the story; every other outlet is cited beside it."""
    lead = max(members, key=lambda a: (a.origin == "seed", len(a.text)))
    also: list[Source] = []
    cited = {(lead.outlet, lead.url)}
    for article in members:
        if article is lead or (article.outlet, article.url) in cited:
            continue
        cited.add((article.outlet, article.url))
        also.append(article.source)
    ids = tuple(dict.fromkeys(a.id for a in members))
    return Story(replace(lead, also=tuple(also)) if also else lead, ids)
