"""Citations that hold: an item cites an article only when that article's own text holds at
least half of the content words of every sentence of the item, and every figure in it
("v201509", "$2.5 million").

A second outlet is cited beside the item's own article only when it carries the same fact:
one of its sentences (or its title) holds at least half of the content words, half of the
names (rounded down) and every figure of each sentence of the item (``carries``). Half of the words
scattered over a long text is not the same fact: "AdWords API v201509 introduces some
changes to reporting columns" is not said by a post on MutateJobService that names v201509
and "columns" in different paragraphs, nor "Version v201601 supports both MutateJobService
and BatchJobService" by "v201509 will be supported concurrently with the v201601 release".

The summarizer already applies the rule to the articles it was given (``selection.items``);
``checked`` applies it again once the texts of the copies merged into them by dedup are at
hand (the pipeline has them), and to any summarizer's output (the LLM backend's too).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

from newsletter.digest.lexicon import stems, text_stems
from newsletter.digest.sentences import split_sentences
from newsletter.model import Article, Digest, Item, Section, Source

SUPPORT_SHARE = 0.5
_FIGURE = re.compile(r"\w*\d[\w.,]*\w|\d")
_NAME = re.compile(r"\b[A-Z][\w'\u2019.-]*")


def figures(text: str) -> frozenset[str]:
    """The tokens with digits ("v201509", "2.5", "1,500"): one wrong figure makes another
    fact, however many words two sentences share."""
    return frozenset(m.group().lower() for m in _FIGURE.finditer(text))


def holds(text_stems: frozenset[str], sentence: str, language: str = "en") -> bool:
    """Does an article whose stems are ``text_stems`` hold ``sentence``?"""
    words = frozenset(stems(sentence, language))
    return len(words & text_stems) >= SUPPORT_SHARE * len(words)


@lru_cache(maxsize=4096)
def sentence_stems(
    title: str, text: str, language: str = "en"
) -> tuple[tuple[frozenset[str], str], ...]:
    """An article's title and each of its sentences: (stems, the lower-cased text)."""
    return tuple(
        (frozenset(stems(s, language)), s.lower())
        for s in [title, *split_sentences(text, language)]
    )


@lru_cache(maxsize=4096)
def _claim(sentence: str, language: str) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """What ``carries`` looks for of one sentence: its content stems, the stems of the names
    past its first word, its figures (an item's sentence is checked against every article of
    its cluster: worked out once)."""
    words = frozenset(stems(sentence, language))
    names = frozenset(stems(" ".join(_NAME.findall(sentence)[1:]), language))
    return words, names, figures(sentence)


def carries(article: Article, sentence: str, language: str = "en") -> bool:
    """Does one sentence (or the title) of ``article`` say ``sentence``: at least half of
    its content words, half of the names in it, rounded down (capitalized words past its
    first: "MutateJobService", "Driscoll"; one name alone may be put another way, "Kyiv"
    for "Ukraine") and every figure in it?"""
    words, names, numbers = _claim(sentence, language)
    return any(
        len(words & own) >= SUPPORT_SHARE * len(words)
        and len(names & own) >= len(names) // 2
        and all(n in low for n in numbers)
        for own, low in sentence_stems(article.title, article.text, language)
    )


def checked(digest: Digest, articles: Iterable[Article], language: str = "en") -> Digest:
    """``digest`` without the citations whose article does not hold the item (a source whose
    text is not among ``articles`` is kept: there is nothing to check it against)."""
    every = [*digest.lead, *(i for s in digest.sections for i in s.items)]
    cited = {(s.title, s.url) for i in every for s in i.sources}
    # Only the cited articles' texts are looked at (a day may have thousands of articles).
    texts = {a.source: a for a in articles if (a.title, a.url) in cited}

    def supports(
        source: Source, sentences: Sequence[tuple[frozenset[str], frozenset[str]]]
    ) -> bool:
        article = texts.get(source)
        if article is None:
            return True
        whole = f"{article.title}\n{article.text}"
        own_stems = text_stems(whole, language)
        own = whole.lower()
        return all(
            len(words & own_stems) >= SUPPORT_SHARE * len(words) and all(f in own for f in numbers)
            for words, numbers in sentences
        )

    def item(i: Item) -> Item:
        sentences = [
            (frozenset(stems(s, language)), figures(s)) for s in split_sentences(i.text, language)
        ]
        kept = tuple(s for s in i.sources if supports(s, sentences))
        return Item(text=i.text, sources=kept or i.sources[:1], score=i.score)

    return Digest(
        lead=tuple(item(i) for i in digest.lead),
        sections=tuple(
            Section(s.id, s.title, s.description, tuple(item(i) for i in s.items))
            for s in digest.sections
        ),
        off_topic=digest.off_topic,
    )
