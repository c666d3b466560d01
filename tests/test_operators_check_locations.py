"""Every problem `newsletter check` reports names the template file and line that causes
it, or the config key, or says that today's content (not a template) causes it: each kind of
finding from a project with a deliberately bad template or config."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner, Result

from conftest import FOUNDING_SEED, REPO, example_config_text
from newsletter.cli import main

FOOTER = REPO / "templates" / "partials" / "footer.mjml.j2"


def _project(root: Path, brand: str = "", footer_extra: str = "") -> tuple[Path, Path, int]:
    """A project whose footer partial ends with ``footer_extra``; its path and first line."""
    root.mkdir()
    text = example_config_text().replace("[brand]\n", "[brand]\n" + brand, 1)
    (root / "newsletter.toml").write_text(text, encoding="utf-8")
    (root / "seeds").mkdir()
    shutil.copy(FOUNDING_SEED, root / "seeds" / FOUNDING_SEED.name)
    footer = root / "templates" / "partials" / "footer.mjml.j2"
    footer.parent.mkdir(parents=True)
    original = FOOTER.read_text(encoding="utf-8")
    footer.write_text(original + footer_extra, encoding="utf-8")
    return root / "newsletter.toml", footer, original.count("\n") + 1


def _check(config: Path, *extra: str) -> Result:
    return CliRunner().invoke(main, ["check", "--config", str(config), *extra])


def _errors(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error: ")]


UNSAFE = """<mj-section><mj-column>
<mj-text><a href="https://example.org/more">More</a></mj-text>
<mj-raw><script>alert(1)</script></mj-raw>
<mj-text><p onclick="steal()">Click</p></mj-text>
</mj-column></mj-section>
"""


def test_unsafe_html_and_contrast_name_their_line_or_key(tmp_path: Path) -> None:
    config, footer, first = _project(
        tmp_path / "p", brand='muted_color = "#bbbbbb"\n', footer_extra=UNSAFE
    )
    result = _check(config)
    assert result.exit_code == 1
    errors = _errors(result)
    assert any(e.startswith("error: [brand] muted_color #bbbbbb on card_color") for e in errors)
    link, script, click = (
        f"error: {footer}:{first + n}: the email would carry " for n in (1, 2, 3)
    )
    assert any(e.startswith(link + 'a link to https://example.org/more without rel="noopener"')
               for e in errors), errors  # fmt: skip
    assert any(e.startswith(script + "a <script> element") for e in errors), errors
    assert any(e.startswith(click + "a onclick= attribute on <p>") for e in errors), errors
    # check --json carries the same lines, locations included.
    document = json.loads(_check(config, "--json").stdout)
    assert [f"error: {p}" for p in document["problems"]] == errors


IMAGES_AND_SIZES = """<mj-section><mj-column>
<mj-image src="https://example.org/chart.png" />
<mj-button href="https://example.org/donate" rel="noopener">Donate</mj-button>
</mj-column></mj-section>
"""
HEADER = REPO / "templates" / "partials" / "header.mjml.j2"


def test_missing_alt_mjml_default_size_and_a_config_url_name_their_line_or_key(
    tmp_path: Path,
) -> None:
    config, footer, first = _project(
        tmp_path / "p",
        brand='logo_url = "https://example.org/logo.png"\n',
        footer_extra=IMAGES_AND_SIZES,
    )
    header = footer.parent / "header.mjml.j2"  # the logo without its alt text
    lines = HEADER.read_text(encoding="utf-8").splitlines()
    (logo,) = [n for n, line in enumerate(lines, 1) if "<mj-image" in line]
    lines[logo - 1] = lines[logo - 1].replace('alt="{{ issue.newsletter }}" ', "")
    header.write_text("\n".join(lines) + "\n", encoding="utf-8")

    errors = _errors(_check(config))
    assert (
        f"error: {footer}:{first + 1}: image https://example.org/chart.png has no alt text; "
        'add alt="..." saying what it shows'
    ) in errors, errors
    assert (
        f"error: {header}:{logo}: image https://example.org/logo.png has no alt text; "
        'add alt="..." saying what it shows (the value of [brand] logo_url)'
    ) in errors, errors
    assert (
        f"error: {footer}:{first + 2}: text set in 13px is below the 14px minimum, MJML's "
        'default for an element without a font-size; give it font-size="14px" or more, or '
        "set one in <mj-attributes>"
    ) in errors, errors


BLOAT = (
    "<mj-section><mj-column><mj-text>\n"
    + "{% for n in range(2500) %}<p>Filler paragraph {{ n }} of the footer.</p>{% endfor %}\n"
    + "</mj-text></mj-column></mj-section>\n"
)


def test_an_email_over_gmails_clip_names_the_templates_and_their_heaviest_lines(
    tmp_path: Path,
) -> None:
    config, footer, first = _project(tmp_path / "p", footer_extra=BLOAT)
    errors = _errors(_check(config))
    (size,) = [e for e in errors if "Gmail clips" in e]
    assert size.startswith("error: issue.mjml.j2 and its partials: the HTML is "), size
    assert "for a sample issue of two items a section, so the templates alone" in size
    assert f"the lines writing the most MJML: {footer}:{first + 1} (" in size
