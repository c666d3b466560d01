"""Seeds: front matter, headline from References, and bad seeds skipped with one warning."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from conftest import FOUNDING_SEED, run_cli
from newsletter.sources.seeds import read_seed, read_seeds


def test_founding_seed_headline_comes_from_references() -> None:
    article = read_seed(FOUNDING_SEED)
    assert article.title == (
        "US pushes Ukraine to accept peace plan that may cost land weapons and troops"
    )
    assert "References" not in article.text
    assert article.text.startswith("According to the reports on Thursday")
    assert article.origin == "seed" and article.url is None


def test_toml_and_yaml_front_matter(tmp_path: Path) -> None:
    toml_seed = tmp_path / "a.md"
    toml_seed.write_text(
        '+++\ntitle = "T"\noutlet = "O"\nurl = "https://o.example/a"\n'
        "published = 2025-11-21T08:00:00+02:00\n+++\nBody text here.\n"
    )
    yaml_seed = tmp_path / "b.txt"
    yaml_seed.write_text("---\ntitle: Y\npublished: 2025-11-22\n---\nOther body.\n")
    a, b = read_seeds(tmp_path, warn=lambda m: None)
    assert (a.title, a.outlet, a.url) == ("T", "O", "https://o.example/a")
    assert a.published == datetime(2025, 11, 21, 6, 0, tzinfo=UTC)
    assert a.text == "Body text here."
    assert b.title == "Y" and b.published == datetime(2025, 11, 22, tzinfo=UTC)


def test_bad_seeds_are_warned_once_each_and_skipped(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_text("   \n")
    (tmp_path / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (tmp_path / "latin1.txt").write_bytes("Kyiv caf\xe9 talks".encode("latin-1"))
    (tmp_path / "huge.md").write_bytes(b"a" * 1_000_001)
    (tmp_path / "badmeta.md").write_text("+++\ntitle = \n+++\nText.\n")
    (tmp_path / "ignored.pdf").write_bytes(b"%PDF")
    (tmp_path / "good.txt").write_text("Moscow demands that Kyiv renounce NATO ambitions.\n")
    warnings: list[str] = []
    articles = read_seeds(tmp_path, warn=warnings.append)
    assert [a.text for a in articles] == ["Moscow demands that Kyiv renounce NATO ambitions."]
    assert len(warnings) == 5
    by_file = {Path(w.split(":")[0]).name: w for w in warnings}
    assert "empty" in by_file["empty.txt"]
    assert "binary" in by_file["binary.txt"]
    assert "not UTF-8" in by_file["latin1.txt"]
    assert "1 MB" in by_file["huge.md"]
    assert "front matter" in by_file["badmeta.md"]


def test_run_goes_on_past_a_bad_seed(project: Path) -> None:
    (project / "seeds" / "broken.txt").write_bytes(b"\xff\xfe\x00bad")
    result = run_cli("run", cwd=project)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("broken.txt") == 1
    assert "warning:" in result.stderr
    (folder,) = [p for p in (project / "outbox").iterdir() if not p.name.startswith(".")]
    assert len(json.loads((folder / "issue.json").read_text())["articles"]) == 1
