"""OPML: `newsletter feeds import FILE.opml` adds the list's feeds to newsletter.toml (comments
and order kept, duplicates skipped), `newsletter feeds export` writes them back as OPML 2.0."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import listparser
import pytest
from click.testing import CliRunner, Result

from conftest import REPO, without_feeds
from newsletter.cli import main
from newsletter.config import load_config

SUBSCRIPTIONS = Path(__file__).parent / "data" / "subscriptions.opml"

# What a user who imports tests/data/subscriptions.opml expects to subscribe to.
EXPECTED = [
    ("Kyiv Wire & Co", "https://kyiv-wire.example/rss/", ["News", "Europe"]),
    ("Baltic Desk", "https://baltic.example/feed.xml", ["News", "Europe"]),
    ("Global Briefing (Атом)", "https://briefing.example/atom?lang=en", ["News", "World"]),
    ("Diplomacy Weekly", "http://diplomacy.example/index.rss", []),
]


def newsletter(*args: str, code: int = 0) -> Result:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == code, result.output
    return result


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "newsletter.toml"
    shutil.copy(REPO / "newsletter.toml", path)
    return path


def feeds_in(path: Path) -> list[tuple[str, str, list[str]]]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return [(f["name"], f["url"], f.get("category", [])) for f in data.get("feeds", [])]


def subsequence(short: list[str], long: list[str]) -> bool:
    rest = iter(long)
    return all(line in rest for line in short)


def test_import_adds_each_feed_once_keeps_the_file_and_exports_the_same_list(
    config: Path, tmp_path: Path
) -> None:
    before = config.read_text(encoding="utf-8")
    example = feeds_in(config)  # the example's real feeds (never fetched here)
    assert len(example) >= 3

    result = newsletter("feeds", "import", str(SUBSCRIPTIONS), "--config", str(config))

    assert "added 4 feeds" in result.output
    assert "skipped 1 already configured" in result.output  # the same feed, spelled otherwise
    assert "1 without an http(s) URL" in result.output  # the file: URL is not taken
    assert feeds_in(config) == example + EXPECTED
    after = config.read_text(encoding="utf-8")
    assert subsequence(before.splitlines(), after.splitlines()), "comments and order kept"
    lines = after.splitlines()
    heads = [i for i, line in enumerate(lines) if line.startswith("[")]
    assert all(lines[i - 1] == "" or lines[i - 1].startswith("#") for i in heads), after
    load_config(config)  # and the project still loads

    again = newsletter("feeds", "import", str(SUBSCRIPTIONS), "--config", str(config))
    assert "added 0 feeds" in again.output and "skipped 5 already configured" in again.output
    assert config.read_text(encoding="utf-8") == after

    exported = tmp_path / "out.opml"
    newsletter("feeds", "--config", str(config), "export", str(exported))
    parsed = listparser.parse(exported.read_bytes())
    assert not parsed.bozo and parsed.version == "opml2"
    assert [(f.title, f.url, f.categories[0] if f.categories else []) for f in parsed.feeds] == [
        *example,
        *EXPECTED,
    ]

    # The export, imported into another project, gives the same feeds in the same folders.
    other = tmp_path / "other" / "newsletter.toml"
    other.parent.mkdir()
    without_feeds(Path(shutil.copy(REPO / "newsletter.toml", other)))
    newsletter("feeds", "import", str(exported), "--config", str(other))
    assert feeds_in(other) == example + EXPECTED


def test_export_goes_to_stdout_by_default(config: Path) -> None:
    newsletter("feeds", "import", str(SUBSCRIPTIONS), "--config", str(config))
    result = newsletter("feeds", "export", "--config", str(config))
    assert result.output.startswith("<?xml")
    assert len(listparser.parse(result.output.encode()).feeds) == len(feeds_in(config))


def test_a_config_without_feeds_gets_them_and_a_feed_spelled_otherwise_is_skipped(
    config: Path,
) -> None:
    text = (
        without_feeds(config)
        .read_text(encoding="utf-8")
        .replace(
            "[[sections]]",
            '[[feeds]]\nname = "Mine"  # kept\nurl = "https://kyiv-wire.example/rss"\n\n[[sections]]',
            1,
        )
    )
    config.write_text(text, encoding="utf-8")

    newsletter("feeds", "import", str(SUBSCRIPTIONS), "--config", str(config))

    names = [name for name, _url, _category in feeds_in(config)]
    assert names == ["Mine", "Baltic Desk", "Global Briefing (Атом)", "Diplomacy Weekly"]
    assert 'name = "Mine"  # kept' in config.read_text(encoding="utf-8")
    load_config(config)


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b'<?xml version="1.0"?><opml version="2.0"><body><outline text="x">', "line 1"),
        (b"<html><body><a href='https://x.example/rss'>feed</a></body></html>", "<html>"),
        (b"not xml at all", "line 1, column 1"),
    ],
)
def test_a_malformed_opml_is_one_line_naming_the_file_and_changes_nothing(
    config: Path, tmp_path: Path, content: bytes, says: str
) -> None:
    bad = tmp_path / "broken.opml"
    bad.write_bytes(content)
    before = config.read_text(encoding="utf-8")

    result = newsletter("feeds", "import", str(bad), "--config", str(config), code=2)

    assert result.output.count("\n") == 1, result.output
    assert result.output.startswith(f"error: {bad}: not an OPML file") and says in result.output
    assert config.read_text(encoding="utf-8") == before
