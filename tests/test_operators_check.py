"""`check` that is right: the shipped templates pass with the [brand] options set (tagline
and postal address are in the example's config already), and a local feed file is read
without an invented content type (no false charset warning)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

from click.testing import CliRunner

from conftest import FOUNDING_SEED, REPO, example_config_text
from newsletter.cli import main

BRAND = """[brand]
logo_url = "https://example.org/logo.png"
unsubscribe_url = "https://example.org/unsubscribe"
font_family = "Georgia, serif"
"""
# Non-ASCII text in a UTF-8 file with its XML declaration, as a local feed file is written.
FEED = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Київ wire</title><link>https://wire.example/</link>
<item><title>Talks in Genève resume \u2013 Zelensky's envoy</title>
<link>https://wire.example/a</link><pubDate>{date}</pubDate>
<description>Negotiators met again on Tuesday in Genève.</description></item>
</channel></rss>
"""


def test_check_passes_on_the_shipped_templates_with_a_logo_and_a_local_feed(
    tmp_path: Path,
) -> None:
    root = tmp_path / "project"
    root.mkdir()
    text = example_config_text().replace("[brand]\n", BRAND, 1)
    text += '\n[[feeds]]\nname = "Kyiv wire"\nurl = "wire.xml"\n'
    (root / "newsletter.toml").write_text(text, encoding="utf-8")
    today = format_datetime(datetime.now(UTC))
    (root / "wire.xml").write_text(FEED.format(date=today), encoding="utf-8")
    (root / "seeds").mkdir()
    shutil.copy(FOUNDING_SEED, root / "seeds" / FOUNDING_SEED.name)  # default templates

    result = CliRunner().invoke(main, ["check", "--config", str(root / "newsletter.toml")])
    assert result.exit_code == 0, result.output
    assert "config and templates OK" in result.stdout
    assert "px minimum" not in result.output
    assert "us-ascii" not in result.output and "declared as" not in result.output
    assert "warning" not in result.stderr, result.stderr

    run = CliRunner().invoke(main, ["run", "--config", str(root / "newsletter.toml")])
    assert run.exit_code == 0, run.output
    assert "warning" not in run.stderr, run.stderr  # the feed was read cleanly, no note


def test_a_too_small_font_is_named_by_template_file_and_line(tmp_path: Path) -> None:
    root = tmp_path / "project"
    root.mkdir()
    (root / "newsletter.toml").write_text(example_config_text(), encoding="utf-8")
    (root / "seeds").mkdir()
    shutil.copy(FOUNDING_SEED, root / "seeds" / FOUNDING_SEED.name)
    footer = root / "templates" / "partials" / "footer.mjml.j2"
    footer.parent.mkdir(parents=True)
    lines = (REPO / "templates" / "partials" / "footer.mjml.j2").read_text().splitlines()
    (number,) = [i + 1 for i, line in enumerate(lines) if 'font-size="14px"' in line]
    lines[number - 1] = lines[number - 1].replace('font-size="14px"', 'font-size="12px"')
    footer.write_text("\n".join(lines) + "\n")

    result = CliRunner().invoke(main, ["check", "--config", str(root / "newsletter.toml")])
    assert result.exit_code == 1
    (problem,) = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert problem == (
        f"error: {footer}:{number}: text set in 12px is below the "
        "14px minimum; set font-size to at least 14px"
    )
