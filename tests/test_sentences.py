"""Sentence splitting: the fast path gives pysbd's answer, and pysbd handles the hard cases."""

from __future__ import annotations

import pytest

from newsletter.digest.sentences import _segmenter, split_sentences


def pysbd_only(text: str) -> list[str]:
    return [s.strip() for s in _segmenter("en").segment(" ".join(text.split())) if s.strip()]


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
def test_split_sentences_matches_pysbd(text: str) -> None:
    assert split_sentences(text) == pysbd_only(text)


def test_paragraphs_never_join() -> None:
    assert split_sentences("First line without a stop\nSecond line. Third one.") == [
        "First line without a stop",
        "Second line.",
        "Third one.",
    ]
