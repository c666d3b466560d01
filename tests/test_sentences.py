"""Sentence splitting: the fast path gives sentencex's answer, sentencex handles the hard
cases, and the splitter stays linear on pathological input."""

from __future__ import annotations

import time

import pytest
from sentencex import segment

from newsletter.digest.sentences import split_sentences


def sentencex_only(text: str) -> list[str]:
    return [s.strip() for s in segment("en", " ".join(text.split())) if s.strip()]


@pytest.mark.parametrize(
    "text",
    [
        "The plan is new. Kyiv had no role! Would Moscow agree? Nobody knows.",
        "A U.S. delegation arrived. The U.S.-drafted plan has 28 points.",
        "Dr. Smith met Gen. Jones at 9 a.m. on Nov. 20. They spoke for an hour.",
        "Prices rose 2.5% on Thursday. Traders said supply was tight.",
        "He went to the U.S. The talks began the next day.",
        '"We will not accept this," he said. The meeting ended.',
        "Wait... what happened next? Nobody could say.",
    ],
)
def test_split_sentences_matches_sentencex(text: str) -> None:
    assert split_sentences(text) == sentencex_only(text)


def test_abbreviations_do_not_end_sentences() -> None:
    assert split_sentences(
        "Dr. Smith met the U.S. envoy on Nov. 20 in Washington. Talks ended."
    ) == [
        "Dr. Smith met the U.S. envoy on Nov. 20 in Washington.",
        "Talks ended.",
    ]


def test_paragraphs_never_join() -> None:
    assert split_sentences("First line without a stop\nSecond line. Third one.") == [
        "First line without a stop",
        "Second line.",
        "Third one.",
    ]


def test_a_huge_entry_of_initials_splits_in_linear_time() -> None:
    # 750 KB of "U.S. ": pysbd took minutes (quadratic); a linear splitter takes well under
    # a second. The bound is generous so a loaded CI machine does not fail it.
    started = time.perf_counter()
    sentences = split_sentences("U.S. " * 150_000)
    assert time.perf_counter() - started < 10
    assert sum(len(s) for s in sentences) >= 600_000
