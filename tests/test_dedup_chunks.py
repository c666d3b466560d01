"""Signatures computed chunk by chunk (only one chunk's shingle hashes held at a time) are
the signatures of each text alone, whatever the chunk boundaries."""

from __future__ import annotations

import random

import pytest

from newsletter.sources import dedup


def test_signatures_are_the_same_across_chunk_boundaries(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(5)
    words = [f"w{i}" for i in range(300)]
    texts = [" ".join(rng.choices(words, k=rng.randint(3, 60))) for _ in range(120)]
    alone = [dedup.signatures([t])[0] for t in texts]
    assert sum(s is None for s in alone) > 0 and sum(s is not None for s in alone) > 100
    monkeypatch.setattr(dedup, "CHUNK", 97)  # a few texts per chunk, boundaries everywhere
    assert dedup.signatures(texts) == alone
    monkeypatch.setattr(dedup, "CHUNK", 1)  # one text per chunk, each over the limit alone
    assert dedup.signatures(texts) == alone
