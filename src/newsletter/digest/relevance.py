"""Relevance: which of the day's articles are about the newsletter's subject at all.

An article is kept when (a) it is written in the newsletter's language (for English, a cheap
share-of-function-words test: a German post is not for an English issue), (b) a large enough
share of its sentences (title included) mentions the topic (``[summary] topic_keywords``, by
default every section keyword, or the sections' own title and description words when no
section has keywords) and (c) it is about a section: its words touch two sections, or its
headline (title and first sentence) uses two or more of one section's own words (keywords
that are not topic keywords: "OPEC", "barrel"; one used in both the title and the first
sentence counts twice), so an article about one section only is
considered for that section, while a story that merely happens in the topic's country (a
Moscow court case) is not. Off-topic articles are dropped before any costly sentence work:
first a regex over the raw text, then a cheap sentence split; only survivors are split
properly and stemmed. Sentences of a kept article still have to earn their place one by one
(see ``sectioning``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from newsletter.config import SectionSettings
from newsletter.digest.lexicon import (
    STOPWORDS,
    Prefilter,
    Terms,
    keyword_terms,
    prefilter,
    stems,
    text_stems,
    text_words,
)
from newsletter.model import Article

# English function words: an English text has plenty of them, another language few.
_FUNCTION_WORDS = frozenset(
    [
        "the",
        "a",
        "an",
        "of",
        "to",
        "in",
        "and",
        "is",
        "are",
        "was",
        "were",
        "for",
        "on",
        "with",
        "that",
        "this",
        "it",
        "by",
        "as",
        "at",
        "from",
        "be",
        "has",
        "have",
        "will",
        "not",
        "or",
        "but",
    ]
)
MIN_FUNCTION_SHARE = 0.12
MIN_HEADLINE_TERMS = 2
_LOWER_WORD = re.compile(r"[a-z\u00c0-\u024f]+")
_ROUGH_SPLIT = re.compile(r"(?<=[.!?\u201d\"])\s+(?=[A-Z\u201c\"])|\n+")
# The same sentence ends, found faster: a pattern that starts with a character set lets the
# regex engine skip ahead, where the look-behind above is tried at every character.
_SENTENCE_END = re.compile(r"[.!?\u201d\"]\s+(?=[A-Z\u201c\"])")


@dataclass(frozen=True)
class Gate:
    """Decides, per article, whether it is on topic; built once per run from the config."""

    topic: Terms
    sections: tuple[Terms, ...]
    own: tuple[Terms, ...]  # each section's keywords that are not topic keywords
    quick: Prefilter
    min_relevance: float
    language: str
    # keep()'s answers by (title, text), the only parts of an article it reads: a run asks
    # while the parse workers finish (ExtractiveSummarizer.prime), then again when it
    # summarizes, about articles rebuilt in between.
    answers: dict[tuple[str, str], bool] = field(default_factory=dict, compare=False)

    def relevance(self, article: Article, at_least: float = 0.0) -> float:
        """Half for the headline (title and first sentence, where news states its subject):
        full when it names the topic, half when it uses two or more section keywords
        ("the US plan"); half for the share of its sentences (title included) naming the
        topic.

        With ``at_least``, an article that cannot reach it gets an upper bound below it
        instead, found without stemming: a sentence names the topic only if the prefilter
        finds a topic word in it, and a headline without one earns at most half. Most of a
        big day's articles that mention the topic in passing stop there."""
        cores = self.quick.cores_in(f"{article.title}\n{article.text}")
        if not cores:
            return 0.0
        chunks = [article.title, *rough_sentences(article.text)]
        # A topic word never spans two of these pieces, so the text names it if one does.
        named = [self.quick.search(c, cores) for c in chunks]
        if not any(named):
            return 0.0
        bound = 0.5 * (1.0 if any(named[:2]) else 0.5) + 0.5 * sum(named) / len(chunks)
        if bound < at_least:
            return bound
        hits = [found and self._names_topic(c) for c, found in zip(chunks, named, strict=True)]
        if any(hits[:2]):
            headline = 1.0
        else:
            words = stems(" ".join(chunks[:2]), self.language)
            headline = 0.5 if len(set(words) & self._section_words) >= 2 else 0.0
        return 0.5 * headline + 0.5 * sum(hits) / len(chunks)

    @property
    def _section_words(self) -> frozenset[str]:
        return frozenset(w for s in self.sections for w in s.words)

    def keep(self, article: Article) -> bool:
        """In the newsletter's language, relevant enough, and about at least one section."""
        key = (article.title, article.text)
        answer = self.answers.get(key)
        if answer is None:
            answer = self.answers[key] = self._keep(article)
        return answer

    def _keep(self, article: Article) -> bool:
        relevance = self.relevance(article, at_least=self.min_relevance)
        if relevance < self.min_relevance or not self._in_language(article):
            return False
        whole = f"{article.title}\n{article.text}"
        words = text_words(whole, self.language)
        distinct = text_stems(whole, self.language)
        touched = sum(1 for s in self.sections if s.hits(words, distinct))
        if touched >= 2 or (touched == 1 and len(self.sections) == 1):
            return True
        chunks = [article.title, *_ROUGH_SPLIT.split(article.text[:2000], maxsplit=1)[:1]]
        # Hyphenated compounds count by their parts ("barrel-per-day" uses "barrel"); a word
        # in the title counts twice (the title states what the article is about: "Director
        # of CDC resigns ..."), and once more in the first sentence.
        parts = [stems(c.replace("-", " "), self.language) for c in chunks]
        return any(
            sum(_terms_used(s, words) for words in [parts[0], *parts]) >= MIN_HEADLINE_TERMS
            or _terms_used(s, [w for words in parts for w in words]) >= MIN_HEADLINE_TERMS
            for s in self.own
        )

    def _in_language(self, article: Article) -> bool:
        if not self.language.startswith("en"):
            return True
        words = _LOWER_WORD.findall(article.text[:4000].lower())
        if len(words) < 20:
            return True  # too short to tell
        return sum(1 for w in words if w in _FUNCTION_WORDS) >= MIN_FUNCTION_SHARE * len(words)

    def _names_topic(self, chunk: str) -> bool:
        words = stems(chunk, self.language)
        return self.topic.hits(words, frozenset(words))


def rough_sentences(text: str) -> list[str]:
    """The text cut at line breaks and after sentence-ending punctuation followed by space
    and a capital (the non-blank pieces of ``_ROUGH_SPLIT.split(text)``, up to surrounding
    white space, about seven times faster): the cheap split the gate counts sentences by."""
    pieces = []
    for line in text.split("\n"):
        start = 0
        for end in _SENTENCE_END.finditer(line):
            pieces.append(line[start : end.start() + 1])
            start = end.end()
        pieces.append(line[start:])
    return [p for p in pieces if p.strip()]


def build_gate(
    sections: Sequence[SectionSettings],
    topic_keywords: Sequence[str],
    min_relevance: float,
    language: str,
) -> Gate:
    every = [k for s in sections for k in s.keywords]
    # Without any keyword, the sections' own titles and descriptions say what they are about.
    described = [[*s.keywords] or _words(f"{s.title} {s.description}") for s in sections]
    topic = list(topic_keywords) or every or [w for words in described for w in words]
    return Gate(
        topic=keyword_terms(topic, 1.0, language),
        sections=tuple(
            keyword_terms([*words, *_topic_words_of(s, topic)], 1.0, language)
            for s, words in zip(sections, described, strict=True)
        ),
        own=tuple(
            keyword_terms([w for w in words if w not in topic_keywords], 1.0, language)
            for words in described
        ),
        quick=prefilter(topic, language),
        min_relevance=min_relevance,
        language=language,
    )


def _terms_used(terms: Terms, words: Sequence[str]) -> int:
    """How many distinct words and phrases of ``terms`` the text uses."""
    joined = " " + " ".join(words) + " "
    used = len(frozenset(words) & terms.words.keys())
    return used + sum(1 for p in terms.phrases if " " + " ".join(p) + " " in joined)


def _words(text: str) -> list[str]:
    return [w for w in re.findall(r"[^\W\d_][\w'\u2019-]*", text) if w.lower() not in STOPWORDS]


def _topic_words_of(section: SectionSettings, topic: Sequence[str]) -> list[str]:
    """Topic keywords that a section's own title or description names (e.g. "Russia's
    demands" owns "Russia"), so that they count for that section too."""
    own = set(stems(f"{section.title} {section.description}"))
    return [k for k in topic if set(stems(k)) & own]
