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
from dataclasses import dataclass

from newsletter.config import SectionSettings
from newsletter.digest.lexicon import STOPWORDS, Terms, keyword_terms, prefilter, stems
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


@dataclass(frozen=True)
class Gate:
    """Decides, per article, whether it is on topic; built once per run from the config."""

    topic: Terms
    sections: tuple[Terms, ...]
    own: tuple[Terms, ...]  # each section's keywords that are not topic keywords
    quick: re.Pattern[str]
    min_relevance: float
    language: str

    def relevance(self, article: Article) -> float:
        """Half for the headline (title and first sentence, where news states its subject):
        full when it names the topic, half when it uses two or more section keywords
        ("the US plan"); half for the share of its sentences (title included) naming the
        topic."""
        if not self.quick.search(article.title) and not self.quick.search(article.text):
            return 0.0
        chunks = [article.title, *(c for c in _ROUGH_SPLIT.split(article.text) if c.strip())]
        hits = [bool(self.quick.search(c)) and self._names_topic(c) for c in chunks]
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
        if self.relevance(article) < self.min_relevance or not self._in_language(article):
            return False
        words = stems(f"{article.title}\n{article.text}", self.language)
        distinct = frozenset(words)
        touched = sum(1 for s in self.sections if s.hits(words, distinct))
        if touched >= 2 or (touched == 1 and len(self.sections) == 1):
            return True
        chunks = [article.title, *_ROUGH_SPLIT.split(article.text[:2000], maxsplit=1)[:1]]
        # Hyphenated compounds count by their parts ("barrel-per-day" uses "barrel"); a word
        # used in both the title and the first sentence counts twice ("Substation fire ..."
        # over "A fire at an electricity substation ...").
        parts = [stems(c.replace("-", " "), self.language) for c in chunks]
        return any(
            sum(_terms_used(s, words) for words in parts) >= MIN_HEADLINE_TERMS
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
