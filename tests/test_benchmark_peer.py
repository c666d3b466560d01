"""benchmarks/run.py --peer reader: the side-by-side table and the verdicts read the peer's
figures (the peer itself needs reader installed from the package index, so it is not run
here; its figures come in as the script records them)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_run", REPO / "benchmarks" / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_run"] = module
    spec.loader.exec_module(module)
    return module


def _figures(ours: float, imports: float, reader: float) -> dict[str, Any]:
    first = {"total": ours, "imports": imports, "fetch": 1.4, "parse": 1.5, "rss total": 140.0}
    first |= {"rss main": 100.0, "status": "written", "articles": 8759, "items": 18}
    again = {"total": 1.4, "rss main": 90.0, "rss total": 90.0, "status": "nothing-new"}
    again |= {"articles": 0, "items": 0}
    return {
        "feeds": 200,
        "entries": 50,
        "latency": 0.1,
        "concurrency": 16,
        "bytes": 7_000_000,
        "runs": [{"first": first, "again": again}],
        "peer": [{"first": reader, "again": 1.6, "rss": 46.0, "version": "3.26"}],
        "parse floor": [1.4],
        "fetch floor": 1.3,
    }


def test_our_whole_run_counts_its_imports_against_the_peers_ingestion() -> None:
    run = _script()
    # 3.0 s of run + 0.5 s of imports is slower than reader's 3.4 s, though 3.0 alone is not
    rows = {row[0]: row for row in run.verdicts(_figures(3.0, 0.5, 3.4), None)}
    assert rows["whole run / reader's ingestion (same run)"][3] == "FAIL"
    assert rows["whole run / reader's ingestion (same run)"][1] == "1.03x"
    rows = {row[0]: row for row in run.verdicts(_figures(2.5, 0.4, 3.4), None)}
    assert rows["whole run / reader's ingestion (same run)"][3] == "PASS"
    assert rows["whole run / larger floor"][1] == "2.07x"  # 2.9 s against 1.4 s
    assert rows["whole run / larger floor"][3] == "FAIL"
    assert rows["peak RSS, main + parse workers"][3] == "PASS"


def test_the_table_puts_both_runs_and_the_floors_side_by_side() -> None:
    run = _script()
    table = "\n".join(run.side_by_side(_figures(2.5, 0.4, 3.4)))
    assert "| `newsletter run` (fetch to written issue; imports included) | 2.90 | 1.40 |" in table
    assert "| reader 3.26 `update_feeds(workers=16)`" in table
    assert "| 3.40 | 1.60 | 46.00 |" in table
    assert "1.40 / 1.30" in table
