"""The digest on the labelled dev set keeps meeting the issue's targets (a regression guard;
the full table with baselines is benchmarks/eval_summaries.py, see docs/benchmarks.md)."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from eval_summaries import load_devset, metrics, ours  # noqa: E402

from newsletter.config import load_config  # noqa: E402


def test_dev_set_targets_hold() -> None:
    dev = load_devset()
    row = metrics(ours(dev, load_config(REPO / "newsletter.toml")), dev)
    assert float(row["section accuracy"]) >= 0.9, row
    assert row["off-topic items"] == "0", row
    assert row["redundant pairs"] == "0", row
    # TextRank, the best baseline, reaches 0.69 at the same budget; the target is +0.15.
    assert float(row["key-fact recall"]) >= 0.84, row
