"""`newsletter feeds` shows the entries the last fetch parsed and those left out by
[fetch] max_age_days, in the table and in the JSON shape `status --json` shares."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from click.testing import CliRunner

from conftest import FOUNDING_SEED, example_config_text
from newsletter.cli import main


def _item(n: int, when: datetime) -> str:
    return (
        f"<item><title>Talks resume, day {n}</title><link>https://wire.example/{n}</link>"
        f"<pubDate>{format_datetime(when)}</pubDate><description>Envoys met.</description></item>"
    )


def test_feeds_counts_entries_parsed_and_left_out_by_age(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    items = [_item(1, now), *(_item(n, now - timedelta(days=30 + n)) for n in range(2, 5))]
    (tmp_path / "wire.xml").write_text(
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>W</title>'
        f"<link>https://wire.example/</link>{''.join(items)}</channel></rss>",
        encoding="utf-8",
    )
    text = example_config_text()
    text += '\n[[feeds]]\nname = "Wire"\nurl = "wire.xml"\n\n[fetch]\nmax_age_days = 7\n'
    (tmp_path / "newsletter.toml").write_text(text, encoding="utf-8")
    (tmp_path / "seeds").mkdir()
    shutil.copy(FOUNDING_SEED, tmp_path / "seeds" / FOUNDING_SEED.name)
    config = ["--config", str(tmp_path / "newsletter.toml")]
    assert CliRunner().invoke(main, ["run", *config]).exit_code == 0

    shown = CliRunner().invoke(main, ["feeds", *config])
    assert shown.exit_code == 0, shown.output
    header, row = shown.stdout.splitlines()
    assert header.split()[6:10] == ["parsed", "too", "old", "stored"]
    health, name, _day, _time, status, fails, parsed, too_old, stored = row.split()[:9]
    assert (health, name, status, fails) == ("ok", "Wire", "200", "0")
    assert (parsed, too_old, stored) == ("4", "3", "1")

    (feed,) = json.loads(CliRunner().invoke(main, ["feeds", "--json", *config]).stdout)
    assert (feed["entries_parsed"], feed["entries_too_old"], feed["entries_seen"]) == (4, 3, 1)
