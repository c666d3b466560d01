"""Templates an editor can change safely: overrides, branding, and errors that name the
template file and line; `newsletter check`; email quality (lang, preheader, size, text)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from conftest import REPO, run_cli
from emailkit import TODAY, config_of, inspect, new_project, rendered, set_in_config
from newsletter.email.emailcheck import contrast
from newsletter.email.render import MAX_HTML_BYTES, load_templates, render_issue
from newsletter.errors import TemplateError
from newsletter.model import Item, Section, Source
from newsletter.preview import sample_issue


@pytest.fixture
def proj(tmp_path: Path) -> Path:
    return new_project(tmp_path / "project")


def edit(project: Path, name: str, old: str, new: str) -> None:
    path = project / "templates" / name
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def line_of(project: Path, name: str, needle: str) -> int:
    lines = (project / "templates" / name).read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, 1) if needle in line)


def template_error(project: Path) -> str:
    with pytest.raises(TemplateError) as caught:
        rendered(project)
    message = str(caught.value)
    assert "\n" not in message, message
    return message


# --- Overrides and branding -------------------------------------------------------------


def test_an_editor_overrides_one_partial_alone(proj: Path) -> None:
    templates = proj / "templates"
    for path in sorted(templates.rglob("*.j2"), reverse=True):
        path.unlink()
    (templates / "partials").mkdir(exist_ok=True)
    (templates / "partials" / "footer.mjml.j2").write_text(
        "<mj-section><mj-column><mj-text>Sent by the Kyiv desk. "
        '<a href="{{ unsubscribe_url }}">Stop these emails</a>'
        "</mj-text></mj-column></mj-section>\n",
        encoding="utf-8",
    )
    html = rendered(proj).html
    assert "Sent by the Kyiv desk." in html
    assert "Stop these emails" in html
    assert "because subscribers@example.org subscribed" not in html  # the default footer's
    assert "The US plan" in html  # everything else still comes from the defaults


def test_every_brand_value_reaches_the_email(proj: Path) -> None:
    brand = {
        "accent_color": "#0b5a3a",
        "text_color": "#101010",
        "muted_color": "#4a4a4a",
        "background_color": "#eeeeee",
        "card_color": "#fefefe",
        "divider_color": "#c0c0c1",
        "dark_background_color": "#050505",
        "dark_card_color": "#121314",
        "dark_text_color": "#fafafa",
        "dark_muted_color": "#b0b0b0",
        "dark_accent_color": "#8fd0ff",
        "dark_divider_color": "#404142",
        "font_family": "Georgia, serif",
        "logo_url": "https://example.org/logo.png",
        "tagline": "Ten calm minutes a day.",
        "postal_address": "Example Media, 5 Test Lane, Lviv",
        "unsubscribe_url": "https://example.org/u/abc",
    }
    for key, value in brand.items():
        set_in_config(proj, "brand", key, value)
    html = rendered(proj).html.lower()
    for key, value in brand.items():
        assert value.lower() in html, key
    logo = [e for e in inspect(html).elements if e.tag == "img"]
    assert [e.attrs["alt"] for e in logo] == ["peace plan briefing"]


def test_templates_hard_code_no_colour() -> None:
    for path in (REPO / "templates").rglob("*.j2"):
        colours = re.findall(r"#[0-9a-fA-F]{3,8}\b", path.read_text(encoding="utf-8"))
        assert not colours, f"{path.name} hard-codes {colours}; use a [brand] key"


def test_lang_title_and_preheader_come_from_the_issue(proj: Path) -> None:
    set_in_config(proj, "newsletter", "language", "uk")
    result = rendered(proj)
    page = inspect(result.html)
    assert page.elements[0].tag == "html" and page.elements[0].attrs["lang"] == "uk"
    title = "".join(page.texts[: page.texts.index(result.issue.subject) + 1])
    assert result.issue.subject in title
    # The seed-only day is small, so there is no lead: the preview opens with the first item.
    first = result.issue.all_items()[0].text
    assert result.preheader.startswith(first[:40])
    assert "Inside: The US plan; Ukraine's response; Russia's demands." in result.preheader
    assert result.preheader.replace("'", "&#39;") in result.html


# --- Errors an editor understands -------------------------------------------------------


def test_a_jinja_syntax_error_names_file_and_line(proj: Path) -> None:
    edit(proj, "partials/item.mjml.j2", "{{ item.text }}", "{{ item.text }")
    line = line_of(proj, "partials/item.mjml.j2", "{{ item.text }")
    message = template_error(proj)
    assert f"partials/item.mjml.j2:{line}: template syntax error: unexpected '}}'" in message


def test_an_undefined_variable_names_file_and_line(proj: Path) -> None:
    edit(proj, "partials/header.mjml.j2", "{{ issue.number }}", "{{ issue.numbr }}")
    line = line_of(proj, "partials/header.mjml.j2", "issue.numbr")
    message = template_error(proj)
    assert f"partials/header.mjml.j2:{line}: undefined variable:" in message
    assert "numbr" in message


def test_the_sandbox_keeps_templates_away_from_python_internals(proj: Path) -> None:
    edit(proj, "partials/item.mjml.j2", "{{ item.text }}", "{{ item.text.__class__.__mro__ }}")
    message = template_error(proj)
    line = line_of(proj, "partials/item.mjml.j2", "__mro__")
    assert f"partials/item.mjml.j2:{line}: access to attribute '__class__'" in message
    assert message.endswith("is unsafe.")


def test_an_unclosed_tag_names_where_it_was_opened(proj: Path) -> None:
    edit(proj, "partials/item.mjml.j2", '<p style="margin:0 0 18px 0;">', "<p><b>")
    opened = line_of(proj, "partials/item.mjml.j2", "<p><b>")
    message = template_error(proj)
    assert "not well-formed: mismatched tag" in message
    assert f"<b> opened at {_shown(proj, 'partials/item.mjml.j2')}:{opened}" in message


def _shown(project: Path, name: str) -> str:
    path = project / "templates" / name
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("<mj-divider />", "<mj-dividr />", "unknown MJML tag <mj-dividr>"),
        ("<mj-divider />", "<mj-carousel></mj-carousel>", "avoid <mj-carousel>"),
        ('class="section-title"', "class=section-title", "quote every attribute value"),
        (
            "<mj-column>",
            "<mj-text>loose</mj-text><mj-column>",
            "<mj-text> cannot stand in <mj-section>; put it in <mj-column> or <mj-hero>",
        ),
    ],
)
def test_mjml_that_would_not_render_names_file_and_line(
    proj: Path, old: str, new: str, expected: str
) -> None:
    edit(proj, "partials/section.mjml.j2", old, new)
    line = line_of(proj, "partials/section.mjml.j2", new)
    message = template_error(proj)
    assert message.startswith(f"{_shown(proj, 'partials/section.mjml.j2')}:{line}: "), message
    assert expected in message


def test_mjml_that_mjml_python_refuses_names_file_and_line(proj: Path) -> None:
    # The section partial: the seed-only test day is small, so it has no lead (issue 12).
    edit(proj, "partials/section.mjml.j2", "<h2", "<![CDATA[x]]><h2")
    line = line_of(proj, "partials/section.mjml.j2", "CDATA")
    message = template_error(proj)
    assert message.startswith(f"{_shown(proj, 'partials/section.mjml.j2')}:{line}: "), message
    assert "the MJML does not compile: unexpected token" in message


def test_html_habits_mjml_python_accepts_are_accepted(proj: Path) -> None:
    edit(
        proj,
        "partials/item.mjml.j2",
        "{{ item.text }}",
        "{{ item.text }}&nbsp;&middot;<br><span hidden>x</span>",
    )
    assert "&middot;" in rendered(proj).mjml


def test_check_passes_a_sound_project(proj: Path) -> None:
    result = run_cli("check", cwd=proj)
    assert result.returncode == 0, result.stderr
    assert "config and templates OK" in result.stdout
    assert not (proj / "outbox").exists() or not any((proj / "outbox").iterdir())


def test_check_prints_every_problem_and_fails(proj: Path) -> None:
    edit(proj, "partials/footer.mjml.j2", "{{ unsubscribe_url }}", "{{ unsubscribe_url }")
    set_in_config(proj, "brand", "muted_color", "#aaaaaa")
    set_in_config(proj, "brand", "dark_accent_color", "#30363d")
    result = run_cli("check", cwd=proj)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert any(
        "partials/footer.mjml.j2:" in line and "template syntax error" in line for line in lines
    ), lines
    assert any("muted_color #aaaaaa on card_color #ffffff" in line for line in lines), lines
    assert any("dark_accent_color #30363d" in line and "AA" in line for line in lines), lines


def test_check_warns_about_a_bad_seed_and_an_image_without_alt(proj: Path) -> None:
    (proj / "seeds" / "empty.md").write_text('+++\ntitle = "x"\n+++\n', encoding="utf-8")
    edit(
        proj,
        "partials/footer.mjml.j2",
        "<mj-divider />",
        '<mj-image src="https://example.org/banner.png" /><mj-divider />',
    )
    result = run_cli("check", cwd=proj)
    assert result.returncode == 1
    assert "warning: " in result.stderr and "empty.md: skipped: empty seed" in result.stderr
    assert "image https://example.org/banner.png has no alt text" in result.stderr


def test_default_brand_colours_pass_wcag_aa_in_light_and_dark_mode(proj: Path) -> None:
    brand = config_of(proj).brand
    for fg, bg in [
        (brand.text_color, brand.card_color),
        (brand.muted_color, brand.card_color),
        (brand.accent_color, brand.card_color),
        (brand.dark_text_color, brand.dark_card_color),
        (brand.dark_muted_color, brand.dark_card_color),
        (brand.dark_accent_color, brand.dark_card_color),
    ]:
        assert contrast(fg, bg) >= 4.5, (fg, bg)
    assert round(contrast("#777777", "#ffffff"), 2) == 4.48  # WCAG's own borderline example


# --- Size: Gmail clips past 102 KB --------------------------------------------------------


def test_a_large_issue_trims_its_longest_sections_and_says_so(proj: Path) -> None:
    config = config_of(proj)
    base = sample_issue(config, TODAY)
    source = Source("A wire story", "https://wire.example/story", "Example Wire", None)

    def items(prefix: str, count: int, words: int) -> tuple[Item, ...]:
        return tuple(
            Item(f"{prefix} item {n} " + "word " * words + "end.", (source,), float(n))
            for n in range(count)
        )

    sections = (
        Section("us-plan", "The US plan", "", items("Plan", 50, 300)),
        Section("ukraine-response", "Ukraine's response", "", items("Kyiv", 40, 60)),
        Section("russia-demands", "Russia's demands", "", items("Moscow", 4, 10)),
    )
    issue = dataclasses.replace(base, sections=sections)
    result = render_issue(issue, config, load_templates(config.templates_dir))
    assert len(result.html.encode()) <= MAX_HTML_BYTES
    omitted = result.omitted or {}
    assert omitted.get("us-plan", 0) > omitted.get("ukraine-response", 0)
    assert "russia-demands" not in omitted  # short sections keep everything
    assert f"{omitted['us-plan']} more items on this did not fit in this email" in result.html
    assert "Plan item 49 " in result.html  # the best item stays
    assert "Plan item 0 " not in result.html  # the weakest goes first
    assert "Plan item 0 " in result.text  # the plain text keeps the whole issue


# --- Plain text ---------------------------------------------------------------------------


def test_plain_text_reads_at_72_columns_with_numbered_sources(proj: Path) -> None:
    (proj / "seeds" / "wire.md").write_text(
        '+++\ntitle = "Kremlin repeats its terms for ending the war in a long statement"\n'
        'outlet = "Example Wire"\nurl = "https://wire.example/2025/11/21/kremlin-repeats-its-'
        'terms-for-ending-the-war-in-a-long-statement"\n+++\n'
        "The Kremlin said Russia demands that Kyiv withdraw from four provinces before talks.\n",
        encoding="utf-8",
    )
    text = rendered(proj).text
    for line in text.splitlines():
        assert len(line) <= 72 or re.fullmatch(r"\s*(Unsubscribe: )?https?://\S+", line), line
    for title in ("THE US PLAN", "UKRAINE'S RESPONSE", "RUSSIA'S DEMANDS", "SOURCES"):
        assert f"\n{title}\n" in text
    assert re.search(r"^ \* .+", text, re.MULTILINE)
    assert "[2]  Example Wire: Kremlin repeats its terms" in text
    assert "     https://wire.example/2025/11/21/kremlin-repeats" in text
    # The item citing it ends with its number (the wire's fact is also the seed's, so the
    # summarizer merges them into one item citing both).
    assert re.search(r"(\[\d+\])*\[2\](\[\d+\])*$", text, re.MULTILINE)


def test_text_that_looks_like_a_line_mark_is_harmless(proj: Path) -> None:
    (proj / "seeds" / "marks.md").write_text(
        '+++\ntitle = "Marks \ue0009:1\ue001"\noutlet = "Wire \ue00077:1\ue001"\n+++\n'
        "The Kremlin said Russia demands \ue00042:3\ue001 that Kyiv withdraw from four"
        " provinces.\n",
        encoding="utf-8",
    )
    html = rendered(proj).html
    assert "Wire \ue00077:1\ue001" in html  # shown as it came, not taken for a mark
