"""Words: content-word stems (snowball), stop words, keyword matchers.

Stemming is the hot path of summarizing thousands of articles, so each distinct word is
stemmed once per process per language (``_stem_word`` is cached), by PyStemmer's C code
(snowballstemmer picks it up when installed; the same stems as its pure Python).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache

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


def text_stems(text: str, language: str = "en") -> frozenset[str]:
    """The distinct stems of a whole text (an article's, looked at again by every check of
    a citation to it)."""
    return _text_stems(text, language)  # one cache key whether the language is given or not


def text_words(text: str, language: str = "en") -> tuple[str, ...]:
    """``stems`` of a whole article's text, cached: the relevance gate stems each article
    it keeps, and the citation checks look at the same texts again."""
    return _text_words(text, language)


@lru_cache(maxsize=4096)
def _text_words(text: str, language: str) -> tuple[str, ...]:
    return tuple(stems(text, language))


@lru_cache(maxsize=4096)
def _text_stems(text: str, language: str) -> frozenset[str]:
    return frozenset(_text_words(text, language))


@dataclass(frozen=True)
class Terms:
    """A weighted vocabulary: single stems and multi-word phrases (as stem tuples)."""

    words: dict[str, float]
    phrases: dict[tuple[str, ...], float]

    def score(
        self, words: Sequence[str], distinct: frozenset[str], joined: str | None = None
    ) -> float:
        """The weight of the words and phrases used; ``joined`` is ``spaced(words)``, for a
        caller scoring the same words against several vocabularies."""
        # fsum is exact, so the order of the set intersection does not change the total.
        total = math.fsum(self.words[w] for w in distinct & self.words.keys())
        if self.phrases:
            if joined is None:
                joined = spaced(words)
            for phrase, weight in self._spaced_phrases:
                if phrase in joined:
                    total += weight
        return total

    def hits(self, words: Sequence[str], distinct: frozenset[str]) -> bool:
        if not distinct.isdisjoint(self.words):
            return True
        if not self.phrases:
            return False
        joined = spaced(words)
        return any(phrase in joined for phrase, _ in self._spaced_phrases)

    @cached_property
    def _spaced_phrases(self) -> tuple[tuple[str, float], ...]:
        """Each phrase as the text ``spaced`` makes of it, and its weight (joined once, not
        once per sentence scored)."""
        return tuple((spaced(phrase), weight) for phrase, weight in self.phrases.items())


def spaced(words: Sequence[str]) -> str:
    """Stems joined by spaces, with a space at each end: a phrase is used when its own
    ``spaced`` text is a substring of the sentence's."""
    return " " + " ".join(words) + " "


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


@dataclass(frozen=True)
class Prefilter:
    """A cheap test that any text mentioning one of some keywords passes (a superset test
    run on raw text before any sentence splitting): each keyword's first word, or its stem,
    as a word prefix.

    The exact test is a regex (``pattern``); since a case-insensitive regex with many
    alternatives costs some 60 us per article, the folded text (``fold``) is first searched
    for the prefixes as plain substrings (``cores``, which no word-boundary rule limits, so a
    text without any of them cannot match) and only the rest goes to the regex."""

    pattern: re.Pattern[str]
    cores: tuple[str, ...]

    def search(self, text: str, cores: Sequence[str] | None = None) -> bool:
        """Does ``text`` mention a keyword? ``cores``: those ``cores_in`` found in a text
        that holds this one (case folding works character by character, so a piece of a
        text holds no core that the whole text lacks)."""
        folded = fold(text)
        for core in self.cores if cores is None else cores:
            if core in folded:
                return bool(self.pattern.search(text))
        return False

    def cores_in(self, text: str) -> list[str]:
        """The cores found in ``text``: none, and ``search`` is certainly False."""
        folded = fold(text)
        return [core for core in self.cores if core in folded]


def prefilter(keywords: Sequence[str], language: str) -> Prefilter:
    """The prefilter for ``keywords`` (see ``Prefilter``)."""
    heads: set[str] = set()
    for keyword in keywords:
        first = keyword.split()[0].lower() if keyword.split() else ""
        if first in ("u.s.", "us", "usa"):
            heads.update(("u.s", "us", "usa", "united states"))
            continue
        if first:
            heads.add(first.rstrip("."))
        heads.update(stems(keyword, language)[:1])
    if not heads:
        return Prefilter(re.compile(r"(?!x)x"), ())
    ordered = sorted(heads, key=len, reverse=True)
    pattern = re.compile(r"\b(?:" + "|".join(re.escape(h) for h in ordered) + ")", re.I)
    return Prefilter(pattern, _shortest_prefixes(heads))


def fold(text: str) -> str:
    """``text`` with every character mapped to what any character it matches under
    IGNORECASE maps to: case folding, except for the i's ("\u0130" folds to "i" and a
    combining dot, "\u0131" to itself, yet the regex engine matches both with "i"). Checked
    over every code point: characters the engine treats as equal fold alike."""
    return text.casefold().replace("\u0307", "").replace("\u0131", "i")


def _shortest_prefixes(heads: set[str]) -> tuple[str, ...]:
    """The heads that no other head is a prefix of, folded ("ukrain" covers "ukraine";
    a text the case-insensitive regex matches holds one of these once folded)."""
    low = sorted({fold(h) for h in heads if h})
    kept: list[str] = []
    for head in low:  # sorted: a prefix comes before every word that extends it
        if not kept or not head.startswith(kept[-1]):
            kept.append(head)
    return tuple(kept)
