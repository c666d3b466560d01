"""Words: content-word stems (snowball), stop words, keyword matchers.

Stemming is the hot path of summarizing thousands of articles, so each distinct word is
stemmed once per process per language (``_stem_word`` is cached).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import snowballstemmer

_STOPWORD_TEXT = """
a about above after again against all am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further
had has have having he her here hers herself him himself his how i if in into is it its itself
just me more most my myself no nor not now of off on once only or other our ours ourselves out
over own same she should so some such than that the their theirs them themselves then there
these they this those through to too under until up very was we were what when where which
while who whom why will with would you your yours yourself yourselves s t said says also
say told tell would could may might must shall one two new us per via yet still however
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_US = re.compile(r"\bU\.\s?S\.(?:\s?A\.)?|\bUS\b|\bUSA\b")
_WORD = re.compile(r"[^\W\d_][\w'\u2019-]*", re.UNICODE)
_LANGUAGES = {"en": "english", "de": "german", "fr": "french", "es": "spanish", "uk": "russian"}


@lru_cache(maxsize=4)
def _stemmer(language: str) -> snowballstemmer.Stemmer:
    try:
        return snowballstemmer.stemmer(_LANGUAGES.get(language.split("-")[0], "english"))
    except KeyError:
        return snowballstemmer.stemmer("english")


@lru_cache(maxsize=200_000)
def _stem_word(word: str, language: str) -> str | None:
    """The stem of one lower-cased word, or None for a stop word."""
    word = word.replace("\u2019", "'").removesuffix("'s").strip("'-")
    if not word or word in STOPWORDS:
        return None
    return str(_stemmer(language).stemWord(word))


# Each word as written -> its stem (None: a stop word), per language: a dict lookup is
# several times cheaper than a call through lru_cache on the hot path. Cleared when full.
_SEEN: dict[str, dict[str, str | None]] = {}
_SEEN_MAX = 400_000


def stems(text: str, language: str = "en") -> list[str]:
    """Content-word stems of ``text``, in order; "U.S."/"US" become the token ``usa``."""
    if "US" in text or "U." in text:
        text = _US.sub(" USA ", text)
    words = _WORD.findall(text)
    seen = _SEEN.get(language)
    if seen is None or len(seen) > _SEEN_MAX:
        seen = _SEEN[language] = {}
    for word in words:
        if word not in seen:
            seen[word] = _stem_word(word.lower(), language)
    return [stem for stem in map(seen.__getitem__, words) if stem]


@lru_cache(maxsize=4096)
def text_stems(text: str, language: str = "en") -> frozenset[str]:
    """The distinct stems of a whole text (an article's, looked at again by every check of
    a citation to it)."""
    return frozenset(stems(text, language))


@dataclass(frozen=True)
class Terms:
    """A weighted vocabulary: single stems and multi-word phrases (as stem tuples)."""

    words: dict[str, float]
    phrases: dict[tuple[str, ...], float]

    def score(self, words: Sequence[str], distinct: frozenset[str]) -> float:
        # fsum is exact, so the order of the set intersection does not change the total.
        total = math.fsum(self.words[w] for w in distinct & self.words.keys())
        if self.phrases:
            joined = " " + " ".join(words) + " "
            for phrase, weight in self.phrases.items():
                if " " + " ".join(phrase) + " " in joined:
                    total += weight
        return total

    def hits(self, words: Sequence[str], distinct: frozenset[str]) -> bool:
        if not distinct.isdisjoint(self.words):
            return True
        if not self.phrases:
            return False
        joined = " " + " ".join(words) + " "
        return any(" " + " ".join(phrase) + " " in joined for phrase in self.phrases)


def keyword_terms(keywords: Sequence[str], weight: float, language: str) -> Terms:
    words: dict[str, float] = {}
    phrases: dict[tuple[str, ...], float] = {}
    for keyword in keywords:
        parts = stems(keyword, language)
        if len(parts) == 1:
            words[parts[0]] = weight
        elif parts:
            phrases[tuple(parts)] = weight
    return Terms(words, phrases)


def prefilter(keywords: Sequence[str], language: str) -> re.Pattern[str]:
    """A cheap regex that any text mentioning one of ``keywords`` matches (a superset test
    run on raw text before any sentence splitting): each keyword's first word, or its stem,
    as a word prefix."""
    heads: set[str] = set()
    for keyword in keywords:
        first = keyword.split()[0].lower() if keyword.split() else ""
        if first in ("u.s.", "us", "usa"):
            heads.update(("u.s", "us", "usa", "united states"))
            continue
        if first:
            heads.add(re.escape(first.rstrip(".")))
        for stem in stems(keyword, language)[:1]:
            heads.add(re.escape(stem))
    if not heads:
        return re.compile(r"(?!x)x")
    return re.compile(r"\b(?:" + "|".join(sorted(heads, key=len, reverse=True)) + ")", re.I)
