"""Sectioning: which section (if any) each relevant sentence belongs to.

A sentence's fit to a section is the weight of the section's words it contains: keywords
weigh most, words of the title and description less. Two things come from the day's own
articles rather than the config:

- a keyword that nearly every relevant sentence contains (the country the newsletter is
  about) says little about *which* section a sentence belongs to, so its weight shrinks with
  its share of today's sentences (an inverse document frequency, computed per run);
- cues are learned: a word that is not configured anywhere but co-occurs, in today's
  confidently placed sentences, almost only with one section's sentences ("Peskov" beside
  "Kremlin" and "Moscow") gets weight for that section, so editors need not list every name.

A sentence goes to the section it fits best, or nowhere when no section reaches MIN_SCORE
or two sections tie.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from newsletter.config import SectionSettings
from newsletter.digest.lexicon import Terms, keyword_terms, spaced, stems

KEYWORD_WEIGHT = 3.0
PHRASE_WEIGHT = 4.0  # a multi-word keyword ("security guarantees") is more specific
TOPIC_WEIGHT = 1.0
MIN_SCORE = 3.0
STRONG_TERM = 1.2  # a keyword or learned cue, even when discounted; not a description word
SUBJECT_BONUS = 1.5
MIN_IDF_FACTOR = 0.4
IDF_MIN_SENTENCES = 6
CONFIDENT_RATIO = 2.0  # best score at least twice the runner-up's
CUE_MIN_COUNT = 2
CUE_MIN_SHARE = 0.75
CUE_MAX_DF = 0.25  # a word in over a quarter of today's sentences is no cue


@dataclass(frozen=True)
class Tokens:
    """A sentence as the scorers see it: its stems in order, and as a set."""

    words: tuple[str, ...]
    distinct: frozenset[str]

    @classmethod
    def of(cls, text: str, language: str) -> Tokens:
        words = tuple(stems(text, language))
        return cls(words, frozenset(words))


def section_terms(section: SectionSettings, language: str) -> Terms:
    """The configured vocabulary of one section (a section without keywords is described
    by its title and description alone, which then weigh as keywords)."""
    weight = TOPIC_WEIGHT if section.keywords else KEYWORD_WEIGHT
    words = {w: weight for w in stems(f"{section.title} {section.description}", language)}
    configured = keyword_terms(section.keywords, KEYWORD_WEIGHT, language)
    words.update(configured.words)
    phrases = dict.fromkeys(configured.phrases, PHRASE_WEIGHT)
    return Terms(words, phrases)


Strong = dict[str, tuple[int, ...]]


def strong_terms(profiles: Sequence[Terms]) -> Strong:
    """Each strong term (weight at least STRONG_TERM in some section) -> the sections where
    it weighs most; ``score`` looks a sentence's words up here instead of in every profile."""
    strong: Strong = {}
    for word in sorted({w for p in profiles for w in p.words}):
        weights = [p.words.get(word, 0.0) for p in profiles]
        strongest = max(weights)
        if strongest >= STRONG_TERM:
            strong[word] = tuple(i for i, w in enumerate(weights) if w == strongest)
    return strong


def score(
    tokens: Tokens, profiles: Sequence[Terms], strong: Strong | None = None
) -> tuple[float, ...]:
    """Each section's fit; the section of the sentence's first strong term (usually its
    subject: "Russian missiles hit Ukraine" is about Russia) gets SUBJECT_BONUS. Pass
    ``strong_terms(profiles)`` when scoring many sentences against the same profiles."""
    if strong is None:
        strong = strong_terms(profiles)
    joined = spaced(tokens.words)
    scores = [p.score(tokens.words, tokens.distinct, joined) for p in profiles]
    if not strong.keys().isdisjoint(tokens.distinct):
        first = next(word for word in tokens.words if word in strong)
        for i in strong[first]:
            scores[i] += SUBJECT_BONUS
    return tuple(scores)


@dataclass(frozen=True)
class Scorer:
    """``score`` against fixed profiles, for scoring a day's sentences: one table maps each
    profile word to its weight in every section, so a sentence's words are looked up once
    rather than once per section, and a phrase is searched for only when the sentence
    holds its first word. The same sums as ``score`` (``math.fsum`` is exact, so the
    zeros of sections without the word change nothing; phrases and the subject bonus are
    added in the same order)."""

    table: dict[str, tuple[float, ...]]
    phrases: tuple[tuple[str, str, int, float], ...]  # first stem, spaced phrase, section, weight
    strong: Strong
    sections: int

    @classmethod
    def of(cls, profiles: Sequence[Terms]) -> Scorer:
        words = {w for p in profiles for w in p.words}
        table = {w: tuple(p.words.get(w, 0.0) for p in profiles) for w in sorted(words)}
        phrases = tuple(
            (phrase[0], spaced(phrase), i, weight)
            for i, p in enumerate(profiles)
            for phrase, weight in p.phrases.items()
            if phrase
        )
        return cls(table, phrases, strong_terms(profiles), len(profiles))

    def __call__(self, tokens: Tokens) -> tuple[float, ...]:
        distinct = tokens.distinct
        matched = [self.table[w] for w in distinct if w in self.table]
        scores = [math.fsum(c) for c in zip(*matched, strict=True)] if matched else []
        scores = scores or [0.0] * self.sections
        joined = None
        for first, phrase, i, weight in self.phrases:
            if first in distinct:
                joined = joined or spaced(tokens.words)
                if phrase in joined:
                    scores[i] += weight
        if not self.strong.keys().isdisjoint(distinct):
            first = next(word for word in tokens.words if word in self.strong)
            for i in self.strong[first]:
                scores[i] += SUBJECT_BONUS
        return tuple(scores)


def assign(scores: Sequence[float]) -> int | None:
    """The index of the best-fitting section, or None (too weak, or a tie)."""
    if not scores:
        return None
    ranked = sorted(range(len(scores)), key=lambda i: -scores[i])
    best = ranked[0]
    if scores[best] < MIN_SCORE:
        return None
    if len(ranked) > 1 and scores[ranked[1]] >= scores[best]:
        return None
    return best


def adapt(profiles: Sequence[Terms], sentences: Sequence[Tokens], learn: bool) -> list[Terms]:
    """Today's profiles: configured words weighted by how discriminating they are today,
    plus learned cues."""
    return adapt_scored(profiles, sentences, learn)[0]


def adapt_scored(
    profiles: Sequence[Terms], sentences: Sequence[Tokens], learn: bool
) -> tuple[list[Terms], list[tuple[float, ...]], list[tuple[float, ...]]]:
    """``adapt``, each sentence's ``score`` against today's profiles, and its score before
    learning (configured words only, discounted). Learning cues
    scores every sentence once already; a sentence without a learned cue scores the same
    after learning (cues are words no profile had: every other weight, and so every
    subject bonus, is unchanged), so only the others are scored again."""
    df = Counter(w for s in sentences for w in s.distinct)
    n = len(sentences)
    adapted = [_discount(p, df, n) for p in profiles]
    before = list(map(Scorer.of(adapted), sentences))
    if not (learn and len(profiles) > 1):
        return adapted, before, before
    learned = _learn_cues(adapted, sentences, df, before)
    cues = frozenset(
        w
        for p, old in zip(learned, adapted, strict=True)
        for w in p.words.keys() - old.words.keys()
    )
    if not cues:
        return learned, before, before
    rescore = Scorer.of(learned)
    scores = [
        fit if tokens.distinct.isdisjoint(cues) else rescore(tokens)
        for tokens, fit in zip(sentences, before, strict=True)
    ]
    return learned, scores, before


def _discount(profile: Terms, df: Counter[str], n: int) -> Terms:
    if n < IDF_MIN_SENTENCES:
        return profile
    words = {
        w: weight * max(MIN_IDF_FACTOR, 1.0 - df[w] / n) for w, weight in profile.words.items()
    }
    return Terms(words, profile.phrases)


def _learn_cues(
    profiles: list[Terms],
    sentences: Sequence[Tokens],
    df: Counter[str],
    scores: Sequence[tuple[float, ...]],
) -> list[Terms]:
    known = {w for p in profiles for w in p.words} | {
        w for p in profiles for ph in p.phrases for w in ph
    }
    per_section: dict[str, Counter[int]] = defaultdict(Counter)
    for tokens, fit in zip(sentences, scores, strict=True):
        section = _confident(fit)
        if section is None:
            continue
        for word in tokens.distinct - known:
            per_section[word][section] += 1
    n = len(sentences)
    learned: list[dict[str, float]] = [{} for _ in profiles]
    for word, counts in per_section.items():
        section, count = counts.most_common(1)[0]
        share = count / sum(counts.values())
        if count >= CUE_MIN_COUNT and share >= CUE_MIN_SHARE and df[word] <= max(5, CUE_MAX_DF * n):
            learned[section][word] = KEYWORD_WEIGHT * share
    return [
        Terms({**extra, **p.words}, p.phrases) for p, extra in zip(profiles, learned, strict=True)
    ]


def _confident(scores: tuple[float, ...]) -> int | None:
    best = assign(scores)
    if best is None:
        return None
    runner_up = max((s for i, s in enumerate(scores) if i != best), default=0.0)
    return best if scores[best] >= CONFIDENT_RATIO * runner_up else None
