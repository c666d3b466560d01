"""Selection: from placed candidate passages to the lead and each section's items.

Each candidate is scored by how well it fits its section, how *salient* it is (how many
outlets report the same fact, how central it is to its section's candidates, how early it
comes in its article) and then chosen greedily with maximal marginal relevance: a candidate
close to one already chosen loses score, and one that says the same thing (a near-duplicate:
most of the shorter passage's idf-weighted stems are in the other) is not chosen at all;
its sources are added to the item that says it first, but only those with a sentence that
holds at least half of the content words and every figure of each of the item's sentences
(``citations.carries``): an item cites exactly the articles that say it, decided sentence by
sentence, never from the story cluster alone. So a
fact reported by three outlets appears once and cites all three.

Ties are broken by stable keys (candidate order, which follows the articles' date and id,
and the stems themselves) and sums are exact (``math.fsum``), so the issue does not depend
on PYTHONHASHSEED or on the order the articles came in.

Costs stay roughly linear: near-duplicates are found through an inverted index of stems,
and MMR only runs over a small pool of each section's best candidates.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from newsletter.digest.citations import carries
from newsletter.digest.sectioning import Tokens
from newsletter.model import Item, Sentence, Source

DUPLICATE_SIMILARITY = 0.45  # weighted containment at which two passages say the same thing
OVERLAP_SKIP = 0.35  # a passage this close to a chosen one adds too little to be shown
MMR_PENALTY = 1.5
POOL_SIZE = 40
FIT_CAP = 12.0
SUPPORT_WEIGHT = 0.5
CENTRALITY_WEIGHT = 1.0
POSITION_WEIGHT = 0.3
LEDE_BONUS = 0.5
MIN_LEAD = 2
LEAD_WINDOW = 3  # lead sentences come from the first sentences of an article
RARE_STEMS = 8  # a passage is indexed under, and looked up by, its rarest stems
MAX_LEADER_CHECKS = 30
LEAD_MAX_WORDS = 32  # a lead sentence is short: one per top story

Vector = dict[str, float]


@dataclass(frozen=True)
class Candidate:
    """A passage that may become an item: one sentence, or a sentence that leans on the one
    before it together with that one."""

    text: str
    sentences: tuple[Sentence, ...]
    tokens: Tokens
    section: int
    fit: float
    # Where the configured words alone would place it, when that is elsewhere: a section
    # left without any passage takes these (``pick_section``).
    home: int | None = None

    @property
    def position(self) -> int:
        return self.sentences[0].position

    @property
    def sources(self) -> tuple[Source, ...]:
        """The passage's article and the near-identical copies dedup merged into it (their
        texts are checked against each item later: ``citations.checked``)."""
        return self.sentences[0].article.sources

    @property
    def words(self) -> int:
        return len(self.text.split())


@dataclass
class _Pool:
    candidates: Sequence[Candidate]
    weights: list[Vector]
    clusters: dict[int, list[int]]  # leader -> every passage saying the same (leader first)
    scores: list[float]
    used: set[int]
    chosen: list[int]
    echoes: dict[int, list[int]]  # chosen leader -> skipped leaders that largely repeat it
    article_stems: dict[str, frozenset[str]]  # article id -> the stems of its own text
    totals: list[float] = field(default_factory=list)  # each passage's summed weights


def prepare(candidates: Sequence[Candidate], sections: int) -> _Pool:
    """Score the passages and group those that say the same thing under the best of them."""
    weights = _weights(candidates)
    vectors = [_normalize(w) for w in weights]
    centroids = [
        _centroid([v for c, v in zip(candidates, vectors, strict=True) if c.section == s])
        for s in range(sections)
    ]
    scores = [
        min(c.fit, FIT_CAP) / FIT_CAP
        + CENTRALITY_WEIGHT * _dot(v, centroids[c.section])
        + POSITION_WEIGHT / (1 + c.position)
        for c, v in zip(candidates, vectors, strict=True)
    ]
    totals = [math.fsum(w.values()) for w in weights]
    clusters = _clusters(weights, scores, totals)
    for leader, members in clusters.items():
        outlets = {src.outlet or src.title for j in members for src in candidates[j].sources}
        scores[leader] += SUPPORT_WEIGHT * math.log2(max(1, len(outlets)))
    return _Pool(candidates, weights, clusters, scores, set(), [], {}, {}, totals)


def pick_lead(pool: _Pool, max_sentences: int, max_words: int) -> list[int]:
    """The day in a few sentences, each from a different section and shown in section order:
    first the most salient openings of articles; if that gives fewer than two, other
    passages, but never a section's best one (the sections keep their lead items)."""
    ranked = sorted(
        pool.clusters,
        key=lambda i: -(pool.scores[i] + (LEDE_BONUS if pool.candidates[i].position == 0 else 0)),
    )
    per_section = Counter(pool.candidates[i].section for i in ranked)
    tops = {
        max((i for i in ranked if pool.candidates[i].section == s), key=lambda i: pool.scores[i])
        for s in sorted(per_section)
    }
    # One short sentence per story; a section keeps at least one item for itself.
    ranked = [
        i
        for i in ranked
        if len(pool.candidates[i].sentences) == 1
        and pool.candidates[i].words <= LEAD_MAX_WORDS
        and per_section[pool.candidates[i].section] >= 2
    ]
    openings = [i for i in ranked if pool.candidates[i].position < LEAD_WINDOW]
    opening = set(openings)
    covered: set[int] = set()
    items: list[tuple[int, int]] = []
    words = 0
    for i in [*openings, *(i for i in ranked if i not in tops)]:
        candidate = pool.candidates[i]
        if len(items) >= max_sentences or (i not in opening and len(items) >= MIN_LEAD):
            break
        if i in pool.used or candidate.section in covered or words + candidate.words > max_words:
            continue
        if _redundancy(pool, i) >= OVERLAP_SKIP:
            _echo(pool, i)
            continue
        covered.add(candidate.section)
        _take(pool, i)
        items.append((candidate.section, i))
        words += candidate.words
    return [i for _, i in sorted(items)]  # in section order


def pick_section(pool: _Pool, section: int, max_items: int, max_words: int) -> list[int]:
    """Fill one section's budget by maximal marginal relevance. A section no passage was
    placed in takes those its configured words alone place there: on a day one section
    dominates, the cues learned for it (common words among them) can carry off every
    passage of a small section ("a docu-series about the US opioid crisis" under health)."""
    placed = any(pool.candidates[i].section == section for i in pool.clusters)
    mine = sorted(
        (
            i
            for i in pool.clusters
            if (pool.candidates[i].section if placed else pool.candidates[i].home) == section
            and i not in pool.used
        ),
        key=lambda i: -pool.scores[i],
    )[:POOL_SIZE]
    items: list[int] = []
    words = 0
    while mine and len(items) < max_items:
        best = max(mine, key=lambda i: pool.scores[i] - MMR_PENALTY * _redundancy(pool, i))
        mine.remove(best)
        if best in pool.used:
            continue
        if _redundancy(pool, best) >= OVERLAP_SKIP:
            _echo(pool, best)
            continue
        n = pool.candidates[best].words
        if words + n > max_words:
            continue
        _take(pool, best)
        items.append(best)
        words += n
    return items


def reading_order(pool: _Pool, picked: Sequence[int]) -> list[int]:
    """A section's items, best first, except that items from one article keep the article's
    order: "QatarEnergy signed a deal ..." comes before "The deal is the longest ...",
    whichever scored higher. Each article's items fill the places its items were given."""
    by_article: dict[str, list[int]] = defaultdict(list)
    for i in picked:
        by_article[pool.candidates[i].sentences[0].article.id].append(i)
    queues = {
        key: sorted(members, key=lambda i: pool.candidates[i].position)
        for key, members in by_article.items()
    }
    return [queues[pool.candidates[i].sentences[0].article.id].pop(0) for i in picked]


def _take(pool: _Pool, i: int) -> None:
    pool.used.add(i)
    pool.chosen.append(i)
    pool.echoes[i] = []


def _echo(pool: _Pool, i: int) -> None:
    """Leader ``i`` repeats a chosen passage too much to be shown: its outlets are cited by
    the chosen passage it repeats most."""
    pool.used.add(i)
    closest = max(pool.chosen, key=lambda j: _overlap_of(pool.weights, pool.totals, i, j))
    pool.echoes[closest].append(i)


def items(pool: _Pool, chosen: Sequence[int]) -> tuple[Item, ...]:
    """The chosen passages as items, each citing its own article and every article of its
    cluster and of the passages that echo it whose own text holds the item's content."""
    built = []
    for i in chosen:
        sources: dict[Source, None] = dict.fromkeys(pool.candidates[i].sources)
        each = [s.text for s in pool.candidates[i].sentences]
        for leader in [i, *pool.echoes[i]]:
            for j in pool.clusters[leader]:
                article = pool.candidates[j].sentences[0].article
                # Another outlet is cited only where one of its sentences says the same.
                if article.source not in sources and all(carries(article, s) for s in each):
                    sources.update(dict.fromkeys(article.sources))
        text = pool.candidates[i].text
        built.append(Item(text=text, sources=tuple(sources), score=round(pool.scores[i], 3)))
    return tuple(built)


def _redundancy(pool: _Pool, i: int) -> float:
    return max((_overlap_of(pool.weights, pool.totals, i, j) for j in pool.chosen), default=0.0)


def overlap(a: Vector, b: Vector) -> float:
    """How much of the shorter passage the other one says: the idf weight of their shared
    stems over the smaller passage's total (1.0: one contains the other)."""
    if len(a) > len(b):
        a, b = b, a
    shared = math.fsum(x for w, x in a.items() if w in b)
    return shared / (min(math.fsum(a.values()), math.fsum(b.values())) or 1.0)


def _overlap_of(weights: Sequence[Vector], totals: Sequence[float], i: int, j: int) -> float:
    """``overlap(weights[i], weights[j])`` with each passage's total summed once, not at
    every comparison (``totals[i]`` is ``math.fsum(weights[i].values())``)."""
    a, b = (
        (weights[i], weights[j]) if len(weights[i]) <= len(weights[j]) else (weights[j], weights[i])
    )
    shared = math.fsum([a[w] for w in a.keys() & b.keys()])  # the same terms, in C
    return shared / (min(totals[i], totals[j]) or 1.0)


def _weights(candidates: Sequence[Candidate]) -> list[Vector]:
    """Each passage's stems weighted by inverse document frequency over today's passages."""
    df: dict[str, int] = defaultdict(int)
    for c in candidates:
        for w in c.tokens.distinct:
            df[w] += 1
    n = len(candidates)
    return [{w: math.log(1 + n / df[w]) for w in sorted(c.tokens.distinct)} for c in candidates]


def _clusters(
    weights: Sequence[Vector], scores: Sequence[float], totals: Sequence[float]
) -> dict[int, list[int]]:
    """Leader clustering: passages, best first, join the first leader they overlap enough,
    or lead a cluster of their own. Leaders are looked up through an inverted index of
    each passage's rarest stems, so the work stays near linear in the number of passages."""
    index: dict[str, list[int]] = defaultdict(list)
    clusters: dict[int, list[int]] = {}
    for i in sorted(range(len(weights)), key=lambda i: -scores[i]):
        keys = sorted(weights[i], key=lambda w: (-weights[i][w], w))[:RARE_STEMS]
        hits = Counter(leader for key in keys for leader in index.get(key, ()))
        home, best = None, DUPLICATE_SIMILARITY
        for leader, _ in hits.most_common(MAX_LEADER_CHECKS):
            similarity = _overlap_of(weights, totals, i, leader)
            if similarity >= best:
                home, best = leader, similarity
        if home is None:
            clusters[i] = [i]
            for key in keys:
                index[key].append(i)
        else:
            clusters[home].append(i)
    return clusters


def _centroid(vectors: Sequence[Vector]) -> Vector:
    total: dict[str, float] = defaultdict(float)
    for v in vectors:
        for w, x in v.items():
            total[w] += x
    return _normalize(total)


def _normalize(v: dict[str, float]) -> Vector:
    norm = math.sqrt(math.fsum(x * x for x in v.values())) or 1.0
    return {w: x / norm for w, x in v.items()}


def _dot(a: Vector, b: Vector) -> float:
    if len(a) > len(b):
        a, b = b, a
    return math.fsum(x * b.get(w, 0.0) for w, x in a.items())
