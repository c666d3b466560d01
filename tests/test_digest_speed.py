"""The summarizer's fast paths decide exactly as the slow ones they stand in for (issue 12,
Fast): the gate's bound, its prefilter and rough split, the splitter test and the scorer.
Timing itself is measured by benchmarks/summarize_stage.py, not here."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from eval_summaries import load_devset, load_labelled_articles  # noqa: E402

from newsletter.config import load_config  # noqa: E402
from newsletter.digest.lexicon import prefilter  # noqa: E402
from newsletter.digest.relevance import _ROUGH_SPLIT, build_gate, rough_sentences  # noqa: E402
from newsletter.digest.sectioning import (  # noqa: E402
    Scorer,
    Tokens,
    adapt,
    score,
    section_terms,
    strong_terms,
)
from newsletter.digest.sentences import (  # noqa: E402
    _NEEDS_SPLITTER,
    _NEEDS_SPLITTER_FAST,
    sentences_of,
)
from newsletter.model import Article  # noqa: E402

TRICKY = [
    "",
    "\n\n",
    'He left.  \n  "Then" she said. Dr. No met Mr. Smith at 5 p.m. on Nov. 3, 2025.',
    "The U.S.-drafted plan.\nU. S. A. officials... met \u2026 again!Twice?Yes; no:maybe",
    "Prices rose 2.5% to 1,500.\u201d \u201cNext\u201d came. approx. 3 ed. vol. 2 etc.",
    "a.b. c.d.e. X. Y. Z.\t\tNew line.\r\nLast \u2014 one",
    "Kyiv.Moscow. KYIV. ukrainian ... \u00c9lys\u00e9e. \u017fo. Prussia.",
]


@pytest.fixture(scope="module")
def days() -> list[tuple[list[Article], Path]]:
    return [
        (load_devset().articles, REPO / "newsletter.toml"),
        (load_labelled_articles().articles, REPO / "benchmarks/data/energy/newsletter.toml"),
    ]


def test_the_gates_bound_keeps_and_drops_the_same_articles(
    days: list[tuple[list[Article], Path]],
) -> None:
    for articles, path in days:
        config = load_config(path)
        s = config.summary
        for floor in (0.0, 0.2, s.min_relevance, 0.6):
            gate = build_gate(config.sections, s.topic_keywords, floor, "en")
            for article in articles:
                exact = gate.relevance(article)
                bounded = gate.relevance(article, at_least=floor)
                assert (exact >= floor) == (bounded >= floor), (article.id, floor)
                if bounded >= floor:
                    assert bounded == exact


def test_the_prefilter_finds_keywords_in_any_case_and_only_as_word_starts() -> None:
    quick = prefilter(["Ukraine", "U.S.", "Kyiv"], "en")
    assert quick.search("UKRAINIAN grain") and quick.search("ukraine's ports")
    assert quick.search("The u.s. plan") and quick.search("the United States said")
    assert quick.search("in KYIV today")
    assert not quick.search("A Prussian museum") and not quick.search("bus stop")
    # Whatever the regex matches, the substring test lets through: the Kelvin sign, the long
    # s, a dotted capital I and a dotless i all match plain letters under IGNORECASE.
    pattern = quick.pattern
    odd = ["\u212aYIV", "U\u017fA", "KY\u0130V", "Ky\u0131v", "\u00fcKRAINE"]
    assert all(pattern.search(text) for text in odd[:4])
    for text in [*TRICKY, *odd]:
        assert quick.search(text) == bool(pattern.search(text)), text


def test_rough_sentences_are_the_rough_splits_pieces() -> None:
    for text in TRICKY:
        old = [c.strip() for c in _ROUGH_SPLIT.split(text) if c.strip()]
        assert [c.strip() for c in rough_sentences(text)] == old, text


def test_the_fast_splitter_test_agrees_with_the_full_one(
    days: list[tuple[list[Article], Path]],
) -> None:
    lines = [*TRICKY, *(p for articles, _ in days for a in articles for p in a.text.split("\n"))]
    pieces = [piece for line in lines for piece in re.split(r"(?<=[ \n])", line)] + lines
    for text in pieces:
        assert bool(_NEEDS_SPLITTER_FAST.search(text)) == bool(_NEEDS_SPLITTER.search(text)), text


def test_the_scorer_gives_scores_equal_to_score(
    days: list[tuple[list[Article], Path]],
) -> None:
    for articles, path in days:
        config = load_config(path)
        tokens = [Tokens.of(s.text, "en") for a in articles for s in sentences_of(a)]
        profiles = adapt([section_terms(s, "en") for s in config.sections], tokens, True)
        scorer, strong = Scorer.of(profiles), strong_terms(profiles)
        assert [scorer(t) for t in tokens] == [score(t, profiles, strong) for t in tokens]
