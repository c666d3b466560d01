"""Deduplication: one story, one item, every outlet cited.

Two passes. The same article under several addresses (same id, or the same canonical link
under a changed guid) is one article. Then the same story from several outlets (near-duplicate
text) is found with MinHash + LSH banding, which looks up likely matches by band values
instead of comparing every pair: 50,000 articles cost 50,000 signatures and a sort per band,
not 1.25e9 comparisons. Each cluster becomes one representative ``Article`` whose ``also``
cites the rest.

The signatures and bands are exactly datasketch's (``MinHash(num_perm=64, hashfunc=crc32)``,
``MinHashLSH(threshold=0.5)``, which this module used before; a test holds them equal),
computed with numpy over many articles at once, and mostly in the parse workers while the
fetch is still going on (``parsework``): what is left here is grouping equal band values, with
a dict per band (no numpy: a process given every signature never imports it)."""

from __future__ import annotations

import hashlib
import logging
import re
from array import array
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cache
from typing import Any
from zlib import crc32

from newsletter.model import Article, Source

THRESHOLD = 0.5  # estimated Jaccard similarity of word 3-shingles
NUM_PERM = 64
CHUNK = 65_536  # shingle hashes permuted at once: 16 MB of uint32 at NUM_PERM 64
MIN_SHINGLES = 8  # shorter texts are too noisy to call near-duplicates
_WORD = re.compile(r"\w+")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Story:
    """One item's worth: the representative article (``also`` filled) and every id merged."""

    article: Article
    ids: tuple[str, ...]
    merged: tuple[Article, ...] = ()  # the other members, whose sources ``also`` cites


def dedupe(
    articles: Sequence[Article], threshold: float = THRESHOLD, known: Signatures | None = None
) -> list[Story]:
    """Merge same-article duplicates, then cluster near-duplicate stories, keeping order.
    ``known`` holds signatures computed earlier (by the parse workers); the rest are
    computed here."""
    groups = _same_article(articles)
    clusters = _near_duplicates([g[0] for g in groups], threshold, known or {})
    return [_story([a for i in members for a in groups[i]]) for members in clusters]


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


def _shingle_hashes(text: str) -> list[int] | None:
    """crc32 of each distinct word 3-shingle, or None when the text has too few to compare."""
    words = _WORD.findall(text.lower())
    grams = {f"{a} {b} {c}" for a, b, c in zip(words, words[1:], words[2:], strict=False)}
    if len(grams) < MIN_SHINGLES:
        return None
    return [crc32(g.encode()) for g in grams]


def article_text(article: Article) -> str:
    """What near-duplicate detection compares."""
    return f"{article.title}\n{article.text}"


def text_key(text: str) -> str:
    """What ``Signatures`` are keyed by: a 128-bit digest of the compared text, not the text
    itself (a second copy of every article's text would cost the main process megabytes)."""
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


@cache
def _permutations() -> tuple[Any, Any]:
    """datasketch's affine32 MinHash permutations for seed 1 (its default), so signatures
    and clusters are exactly those of ``datasketch.MinHash(num_perm=64, hashfunc=crc32)``."""
    import numpy as np

    gen = np.random.RandomState(1)
    a = gen.randint(0, 1 << 31, NUM_PERM, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, NUM_PERM, dtype=np.uint32)
    return a, b


def signatures(texts: Sequence[str]) -> list[bytes | None]:
    """Each text's MinHash signature (NUM_PERM 32-bit values as bytes), None for a text too
    short to compare. Vectorized over many texts at once, in chunks of about CHUNK hashes;
    only one chunk's shingle hashes are held at a time (4 bytes each, in an ``array``), so
    memory does not grow with the number of texts."""
    result: list[bytes | None] = [None] * len(texts)
    group: list[int] = []
    lengths: list[int] = []
    hashes = array("I")
    for i, text in enumerate(texts):
        hashed = _shingle_hashes(text)
        if hashed is None:
            continue
        if hashes and len(hashes) + len(hashed) > CHUNK:
            _sign(group, lengths, hashes, result)
            group, lengths, hashes = [], [], array("I")
        group.append(i)
        lengths.append(len(hashed))
        hashes.extend(hashed)
    if group:
        _sign(group, lengths, hashes, result)
    return result


def _sign(
    group: list[int], lengths: list[int], hashes: array[int], result: list[bytes | None]
) -> None:
    """One chunk: the texts ``group`` (``lengths`` hashes each, one after another in
    ``hashes``) get their signatures in ``result``."""
    import numpy as np

    a, b = _permutations()
    hv = _fmix32(np.frombuffer(hashes, dtype=np.uint32))
    with np.errstate(over="ignore"):
        permuted = hv[:, None] * a  # wraps modulo 2**32, as datasketch's affine32
        permuted += b
    offsets = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    minima = np.minimum.reduceat(permuted, offsets, axis=0)
    for i, row in zip(group, minima, strict=True):
        result[i] = row.tobytes()


def _fmix32(hv: Any) -> Any:
    """MurmurHash3's 32-bit finalizer (datasketch applies it before the permutations)."""
    import numpy as np

    with np.errstate(over="ignore"):
        hv = hv ^ (hv >> np.uint32(16))
        hv = hv * np.uint32(0x85EBCA6B)
        hv = hv ^ (hv >> np.uint32(13))
        hv = hv * np.uint32(0xC2B2AE35)
        return hv ^ (hv >> np.uint32(16))


Signatures = Mapping[str, "bytes | None"]  # text_key(article_text(article)) -> its signature


def _near_duplicates(
    articles: Sequence[Article], threshold: float, known: Signatures
) -> list[list[int]]:
    """Clusters (lists of indexes into ``articles``), in order of each cluster's first member.

    Two articles are linked when their signatures agree on every row of at least one band
    (LSH banding, the bands datasketch's ``MinHashLSH`` picks for ``threshold``), and a
    cluster is a connected group of links: exactly what inserting every signature into a
    ``MinHashLSH`` and querying each one gives, grouped with a dict per band instead."""
    if len(articles) < 2:
        return [[i] for i in range(len(articles))]
    texts = [article_text(a) for a in articles]
    digests = [text_key(t) for t in texts]
    missing = {k: t for k, t in zip(digests, texts, strict=True) if k not in known}
    computed = dict(zip(missing, signatures(list(missing.values())), strict=True))
    del texts, missing
    sigs = [known[k] if k in known else computed[k] for k in digests]
    kept = [i for i, s in enumerate(sigs) if s is not None]
    parent = list(range(len(articles)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    if len(kept) > 1:
        bands, rows = _bands(threshold)
        width = 4 * rows  # bytes of one band of a signature
        for band in range(bands):
            leaders: dict[bytes, int] = {}  # band value -> the first article showing it
            start = band * width
            for i in kept:
                leader = leaders.setdefault(sigs[i][start : start + width], i)  # type: ignore[index]
                if leader != i:
                    x, y = root(i), root(leader)
                    if x != y:
                        parent[max(x, y)] = min(x, y)
    clusters: dict[int, list[int]] = {}
    for i in range(len(articles)):
        clusters.setdefault(root(i), []).append(i)
    return list(clusters.values())


@cache
def _bands(threshold: float) -> tuple[int, int]:
    """(bands, rows per band) minimizing false positives plus false negatives at
    ``threshold``, equally weighted: datasketch's ``_optimal_param``."""
    best, params = float("inf"), (0, 0)
    for b in range(1, NUM_PERM + 1):
        for r in range(1, NUM_PERM // b + 1):
            collides = _collides(b, r)
            fp = _integrate(collides, 0.0, threshold)
            fn = (1.0 - threshold) - _integrate(collides, threshold, 1.0)
            error = 0.5 * fp + 0.5 * fn
            if error < best:
                best, params = error, (b, r)
    return params


def _collides(b: int, r: int) -> Callable[[float], float]:
    """The chance that two sets of Jaccard similarity s share a band."""

    def chance(s: float) -> float:
        return float(1 - (1 - s ** float(r)) ** float(b))

    return chance


def _integrate(f: Callable[[float], float], a: float, b: float) -> float:
    """datasketch's own midpoint rule (p = 0.001), so the chosen bands are the same."""
    p = 0.001
    area, x = 0.0, a
    while x < b:
        area += f(x + 0.5 * p) * p
        x += p
    return area


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
    merged = tuple(a for a in members if a is not lead)
    return Story(replace(lead, also=tuple(also)) if also else lead, ids, merged)
