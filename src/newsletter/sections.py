"""Sections: articles -> sentences -> scored, assigned and selected items per section.

This is the extractive default summarizer. Every sentence of every article is scored against
every section (keywords weigh most, then the words of the title and description); a sentence
goes to the one section it fits best, or nowhere. Each section is then filled, best first,
within its item and word budgets. The same sentence from several articles becomes one item
citing all of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import snowballstemmer

from newsletter.articles import Article, Sentence, Source, sentences_of
from newsletter.config import SectionSettings

MIN_SCORE = 3.0  # at least one keyword, or several title/description words
KEYWORD_WEIGHT = 3.0
PHRASE_BONUS = 1.0
TOPIC_WEIGHT = 1.0
LEAD_SENTENCES = 3
LEAD_MAX_WORDS = 70

_STOPWORD_TEXT = """
a about above after again against all am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further
had has have having he her here hers herself him himself his how i if in into is it its itself
just me more most my myself no nor not now of off on once only or other our ours ourselves out
over own same she should so some such than that the their theirs them themselves then there
these they this those through to too under until up very was we were what when where which
while who whom why will with would you your yours yourself yourselves s t said says also
"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
# A sentence that leans on the one before it ("He said ...", "The official added ...").
_DANGLING = re.compile(
    r"^(?:(?:he|she|they|his|her|their)\b|(?:the|this|that) (?:official|spokesman|spokeswoman|"
    r"minister|statement|source)s?\b[^.]*\b(?:said|added|says|told|noted|stressed)\b)",
    re.IGNORECASE,
)
_US = re.compile(r"\bU\.\s?S\.(?:\s?A\.)?|\bUS\b|\bUSA\b")
_WORD = re.compile(r"[^\W\d_][\w'\u2019-]*", re.UNICODE)


@dataclass(frozen=True)
class Item:
    text: str
    sources: tuple[Source, ...]
    score: float


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    description: str
    items: tuple[Item, ...]


@dataclass(frozen=True)
class Digest:
    """What a summarizer returns: a short lead and one Section per configured section."""

    lead: tuple[Item, ...]
    sections: tuple[Section, ...]


@dataclass(frozen=True)
class _Profile:
    id: str
    terms: dict[str, float]
    phrases: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class _Candidate:
    sentence: Sentence
    scores: tuple[float, ...]

    @property
    def best(self) -> float:
        return max(self.scores)


@lru_cache(maxsize=4)
def _stemmer(language: str) -> snowballstemmer.Stemmer:
    names = {"en": "english", "de": "german", "fr": "french", "es": "spanish", "uk": "russian"}
    try:
        return snowballstemmer.stemmer(names.get(language.split("-")[0], "english"))
    except KeyError:
        return snowballstemmer.stemmer("english")


def stems(text: str, language: str = "en") -> list[str]:
    """Content-word stems of ``text``, in order; "U.S."/"US" become the token ``usa``."""
    text = _US.sub(" USA ", text)
    words = [w.lower().replace("\u2019", "'").removesuffix("'s") for w in _WORD.findall(text)]
    kept = [w for w in words if w not in _STOPWORDS]
    return [str(s) for s in _stemmer(language).stemWords(kept)]


def _profile(section: SectionSettings, language: str) -> _Profile:
    terms: dict[str, float] = {}
    for word in stems(f"{section.title} {section.description}", language):
        terms[word] = max(terms.get(word, 0.0), TOPIC_WEIGHT)
    phrases = []
    for keyword in section.keywords:
        parts = stems(keyword, language)
        if len(parts) == 1:
            terms[parts[0]] = KEYWORD_WEIGHT
        elif parts:
            phrases.append(tuple(parts))
    return _Profile(id=section.id, terms=terms, phrases=tuple(phrases))


def _score(words: Sequence[str], profile: _Profile) -> float:
    score = sum(profile.terms.get(w, 0.0) for w in set(words))
    joined = " " + " ".join(words) + " "
    for phrase in profile.phrases:
        if " " + " ".join(phrase) + " " in joined:
            score += KEYWORD_WEIGHT + PHRASE_BONUS
    return score


def _readable(sentence: Sentence) -> bool:
    """Complete sentences only: no fragments, no "He said ..." without its antecedent."""
    words = sentence.text.split()
    if len(words) < 6 or sentence.text[-1:] not in ".!?\"'\u201d\u2019)":
        return False
    return not (sentence.position > 0 and _DANGLING.match(sentence.text))


def summarize(
    articles: Sequence[Article], sections: Sequence[SectionSettings], language: str = "en"
) -> Digest:
    """The extractive default: a lead and one Section per configured section."""
    profiles = [_profile(s, language) for s in sections]
    candidates = [
        _Candidate(sentence, tuple(_score(stems(sentence.text, language), p) for p in profiles))
        for article in articles
        for sentence in sentences_of(article, language)
        if _readable(sentence)
    ]
    relevant = [c for c in candidates if c.best >= MIN_SCORE and _unambiguous(c.scores)]
    lead = _pick_lead(relevant)
    pool = [c for c in relevant if c not in lead]
    built = []
    for index, section in enumerate(sections):
        mine = [c for c in pool if _assigned(c.scores) == index]
        built.append(
            Section(
                id=section.id,
                title=section.title,
                description=section.description,
                items=_select(mine, index, section.max_items, section.max_words),
            )
        )
    return Digest(lead=_merge(lead, None), sections=tuple(built))


def _unambiguous(scores: tuple[float, ...]) -> bool:
    ranked = sorted(scores, reverse=True)
    return len(ranked) < 2 or ranked[0] > ranked[1]


def _assigned(scores: tuple[float, ...]) -> int:
    return max(range(len(scores)), key=lambda i: scores[i])


def _pick_lead(relevant: Sequence[_Candidate]) -> list[_Candidate]:
    """The opening overview: the first sentences of the day's most relevant articles."""
    openers = [c for c in relevant if c.sentence.position == 0]
    lead: list[_Candidate] = []
    words = 0
    for candidate in sorted(openers, key=lambda c: -sum(c.scores)):
        n = len(candidate.sentence.text.split())
        if len(lead) >= LEAD_SENTENCES or (lead and words + n > LEAD_MAX_WORDS):
            break
        lead.append(candidate)
        words += n
    return lead


def _select(
    mine: Sequence[_Candidate], index: int | None, max_items: int, max_words: int
) -> tuple[Item, ...]:
    merged = _merge(mine, index)
    chosen: list[Item] = []
    words = 0
    for item in sorted(merged, key=lambda i: -i.score):
        n = len(item.text.split())
        if chosen and (len(chosen) >= max_items or words + n > max_words):
            continue
        chosen.append(item)
        words += n
    return tuple(chosen)


def _merge(candidates: Iterable[_Candidate], index: int | None) -> tuple[Item, ...]:
    """One item per distinct sentence text, citing every article that carries it."""
    by_text: dict[str, list[_Candidate]] = {}
    for candidate in candidates:
        key = " ".join(stems(candidate.sentence.text))
        by_text.setdefault(key, []).append(candidate)
    items = []
    for group in by_text.values():
        sources: list[Source] = []
        for candidate in group:
            if candidate.sentence.article.source not in sources:
                sources.append(candidate.sentence.article.source)
        first = group[0]
        score = first.best if index is None else first.scores[index]
        items.append(Item(text=first.sentence.text, sources=tuple(sources), score=score))
    return tuple(items)
