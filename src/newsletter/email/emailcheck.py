"""Checks of the finished email a reader would notice: colour contrast, size, type, images.

Pure functions over the brand settings and the HTML; ``newsletter check`` prints what they
find. Contrast follows WCAG 2.x: relative luminance, ratio (L1 + 0.05) / (L2 + 0.05), and
level AA asks at least 4.5:1 for body text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser

from newsletter.config import BrandSettings
from newsletter.email.locate import Element

AA_TEXT = 4.5
MIN_FONT_PX = 14
# Gmail shows "[Message clipped]" past about 102 KB of HTML.
GMAIL_CLIP_BYTES = 102 * 1024

# (foreground key, background key, what it is) for light mode, then dark mode.
COLOUR_PAIRS = (
    ("text_color", "card_color", "body text"),
    ("muted_color", "card_color", "dates, sources and footer"),
    ("accent_color", "card_color", "links"),
    ("dark_text_color", "dark_card_color", "body text in dark mode"),
    ("dark_muted_color", "dark_card_color", "dates, sources and footer in dark mode"),
    ("dark_accent_color", "dark_card_color", "links in dark mode"),
)


def luminance(colour: str) -> float:
    """WCAG relative luminance of a #rrggbb colour."""
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(foreground: str, background: str) -> float:
    light, dark = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


@dataclass(frozen=True)
class Finding:
    message: str
    small_sizes: tuple[int, ...] = ()  # text below MIN_FONT_PX: the sizes found, in px
    element: Element | None = None  # the element it is about, to name the template line
    html_bytes: int | None = None  # a finding about the email's size: its size


def brand_contrast(brand: BrandSettings) -> list[Finding]:
    """Each brand colour pair below WCAG AA (4.5:1), named by its config keys."""
    values = brand.model_dump()
    findings = []
    for fg, bg, what in COLOUR_PAIRS:
        ratio = contrast(values[fg], values[bg])
        if ratio < AA_TEXT:
            findings.append(
                Finding(
                    f"[brand] {fg} {values[fg]} on {bg} {values[bg]} ({what}) has contrast "
                    f"{ratio:.2f}:1, below WCAG AA {AA_TEXT}:1; pick a darker or lighter colour"
                )
            )
    return findings


class _Audit(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.small_fonts: set[int] = set()
        self.images_without_alt: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        # An <img>'s font-size only sizes its alt text while images are blocked; mj-image
        # sets MJML's 13px default on every image, which no editor wrote and no reader sees
        # as text.
        style = "" if tag == "img" else values.get("style") or ""
        for size in re.findall(r"font-size:\s*(\d+(?:\.\d+)?)px", style):
            # 0-1 px is MJML's own layout trick (hidden preheader, divider rules), not text.
            if 2 <= float(size) < MIN_FONT_PX:
                self.small_fonts.add(round(float(size)))
        if tag == "img" and not (values.get("alt") or "").strip():
            self.images_without_alt.append(values.get("src"))


def html_findings(html: str) -> list[Finding]:
    """Size over Gmail's clip, text smaller than 14 px, images without alt text."""
    findings = []
    size = len(html.encode("utf-8"))
    if size > GMAIL_CLIP_BYTES:
        findings.append(
            Finding(
                f"the HTML is {size:,} bytes; Gmail clips messages over {GMAIL_CLIP_BYTES:,}",
                html_bytes=size,
            )
        )
    audit = _Audit()
    audit.feed(html)
    audit.close()
    if audit.small_fonts:
        sizes = ", ".join(f"{s}px" for s in sorted(audit.small_fonts))
        findings.append(
            Finding(
                f"text set in {sizes} is below the {MIN_FONT_PX}px minimum",
                tuple(sorted(audit.small_fonts)),
            )
        )
    findings.extend(
        Finding(
            f'image {src or "?"} has no alt text; add alt="..." saying what it shows',
            element=Element("img", "src", src, lacks=("alt", "")),
        )
        for src in audit.images_without_alt
    )
    return findings


_ACTIVE_TAGS = frozenset(
    {"script", "iframe", "frame", "frameset", "object", "embed", "applet", "form", "input"}
    | {"button", "textarea", "select", "base", "svg", "math", "audio", "video"}
)
_URL_ATTRIBUTES = frozenset({"href", "src", "action", "formaction", "background", "poster"})
_SAFE_SCHEMES = ("http:", "https:", "mailto:")


class _SafetyAudit(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[tuple[str, Element]] = []
        self.in_head = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "head":
            self.in_head = True
        elif tag == "body":
            self.in_head = False
        if tag in _ACTIVE_TAGS or (tag == "style" and not self.in_head):
            self.problems.append((f"a <{tag}> element", Element(tag)))
        for name, value in attrs:
            if name.startswith("on") or name == "srcdoc":
                self.problems.append((f"a {name}= attribute on <{tag}>", Element(tag, name)))
            elif name in _URL_ATTRIBUTES and value is not None:
                url = "".join(value.split()).lower()
                if not url.startswith(_SAFE_SCHEMES):
                    self.problems.append(
                        (f"a {name}={value[:40]!r} on <{tag}>", Element(tag, name, value))
                    )
        values = dict(attrs)
        href = (values.get("href") or "").strip().lower()
        if tag == "a" and href.startswith("http") and "noopener" not in (values.get("rel") or ""):
            self.problems.append(
                (
                    f'a link to {values.get("href")} without rel="noopener"',
                    Element("a", "href", values.get("href"), lacks=("rel", "noopener")),
                )
            )


def unsafe_html(html: str) -> list[str]:
    """What the finished email must never carry: active elements, event handlers, non-http(s)
    links, a <style> outside <head>, a link without rel="noopener". A last line of defence:
    templates escape and filter feed text, but an edited template might forget to."""
    return list(dict.fromkeys(text for text, _element in unsafe_elements(html)))


def unsafe_elements(html: str) -> list[tuple[str, Element]]:
    """``unsafe_html``'s problems with the element each is about (see locate.py)."""
    audit = _SafetyAudit()
    audit.feed(html)
    audit.close()
    return list(dict.fromkeys(audit.problems))
