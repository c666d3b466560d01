"""The founding issue in a real headless Chromium at phone and desktop widths, light and
dark; and the preview page following a template edit. Screenshots go to test-artifacts/."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from browser import Browser, chromium_path
from emailkit import ARTIFACTS, TODAY, build_issue, config_of, new_project
from newsletter.web.preview import PreviewState, make_server

SECTION_TITLES = ["The US plan", "Ukraine's response", "Russia's demands"]

# Every section title: rendered, inside the viewport horizontally, not clipped or hidden.
TITLES_JS = """
Array.from(document.querySelectorAll('h2')).map(h => {
  const r = h.getBoundingClientRect(), s = getComputedStyle(h);
  return {text: h.textContent.trim(), visible: r.width > 0 && r.height > 0 && r.left >= 0 &&
    r.right <= window.innerWidth && s.visibility !== 'hidden' && s.display !== 'none' &&
    parseFloat(s.opacity) > 0, color: s.color};
})
"""
FITS_JS = "document.documentElement.scrollWidth <= window.innerWidth"


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    chromium_path()  # skips with a reason when Chromium is absent
    chromium = Browser(tmp_path_factory.mktemp("chromium-profile"))
    yield chromium
    chromium.close()


@pytest.fixture(scope="module")
def issue_html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = new_project(tmp_path_factory.mktemp("founding") / "project")
    return build_issue(project) / "issue.html"


@pytest.mark.parametrize("width", [320, 375, 600])
def test_issue_fits_the_screen_with_every_section_title_visible(
    browser: Browser, issue_html: Path, width: int
) -> None:
    page = browser.page()
    page.open(issue_html.as_uri(), width)
    assert page.evaluate(FITS_JS), (
        f"horizontal scrolling at {width}px: "
        f"{page.evaluate('document.documentElement.scrollWidth')}px wide"
    )
    titles = page.evaluate(TITLES_JS)
    assert [t["text"] for t in titles] == SECTION_TITLES
    assert all(t["visible"] for t in titles), titles
    font = page.evaluate(
        "Math.min(...Array.from(document.querySelectorAll('p')).filter(p => p.textContent.trim())"
        ".map(p => parseFloat(getComputedStyle(p).fontSize)))"
    )
    assert font >= 14
    page.screenshot(ARTIFACTS / f"issue-{width}.png", width)


def test_dark_mode_uses_the_brand_dark_colours(browser: Browser, issue_html: Path) -> None:
    page = browser.page()
    page.send(
        "Emulation.setEmulatedMedia",
        {"features": [{"name": "prefers-color-scheme", "value": "dark"}]},
    )
    page.open(issue_html.as_uri(), 375)
    brand = config_of(issue_html.parents[2]).brand
    titles = page.evaluate(TITLES_JS)
    assert {t["color"] for t in titles} == {_rgb(brand.dark_text_color)}
    card = page.evaluate(
        "getComputedStyle(document.querySelector('.card td') || document.querySelector('.card'))"
        ".backgroundColor"
    )
    assert card == _rgb(brand.dark_card_color)
    assert page.evaluate(FITS_JS)
    page.screenshot(ARTIFACTS / "issue-375-dark.png", 375)


def _rgb(colour: str) -> str:
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


def test_preview_page_follows_a_template_edit(browser: Browser, tmp_path: Path) -> None:
    project = new_project(tmp_path / "project")
    server = make_server(PreviewState(project / "newsletter.toml", today=lambda: TODAY), port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        page = browser.page()
        page.open(f"http://127.0.0.1:{server.server_port}/", 1000)
        inner = "document.getElementById('frame').contentDocument?.body?.innerText || ''"
        page.wait_for(f"({inner}).includes('The US plan')")
        page.evaluate("document.getElementById('phone').click()")
        page.wait_for("document.getElementById('frame').width === '375'")
        page.wait_for(f"({inner}).includes('The US plan')")
        page.screenshot(ARTIFACTS / "preview-phone.png", 1000)

        header = project / "templates" / "partials" / "header.mjml.j2"
        text = header.read_text(encoding="utf-8")
        header.write_text(text.replace("min read", "minutes with us"), encoding="utf-8")
        _bump(header)
        page.wait_for(f"({inner}).includes('minutes with us')")

        header.write_text(text.replace("{{ issue.number }}", "{{ issue.numbr }}"), encoding="utf-8")
        _bump(header)
        error = page.wait_for(
            "document.getElementById('error').offsetHeight > 0 && "
            "document.getElementById('error').textContent"
        )
        assert "partials/header.mjml.j2:" in error and "numbr" in error
        page.screenshot(ARTIFACTS / "preview-error.png", 1000)
    finally:
        server.shutdown()
        server.server_close()


def _bump(path: Path) -> None:
    stamp = time.time_ns() + 1_000_000_000
    os.utime(path, ns=(stamp, stamp))
