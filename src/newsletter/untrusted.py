"""Text from strangers (feeds, pages) made safe to carry: no character that breaks XML, none
that disguises what a reader sees.

- ``xml_safe``: drops what XML 1.0 forbids (C0 controls but tab, newline and return; U+FFFE,
  U+FFFF; lone surrogates) and the C1 controls and DEL, which no text needs. Applied to every
  feed and seed title and text where it enters (``sources``), and again to stored articles.
- ``display_safe``: also drops bidi overrides and isolates, zero-width characters and the soft
  hyphen, and turns other spaces into plain ones: for one-line text a reader trusts to be what
  it looks like (subjects, titles, link text).
"""

from __future__ import annotations

import re

# XML 1.0 Char excludes these; C1 controls (U+0080-U+009F) and DEL are allowed but discouraged.
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff\ud800-\udfff]")
# Bidi embeddings, overrides and isolates; zero-width space/joiners, word joiner, BOM;
# soft hyphen; invisible operators; Mongolian vowel separator; interlinear annotation.
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufeff\uffa0\ufff9-\ufffb]"
)
_SPACES = re.compile("[\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")


def xml_safe(text: str) -> str:
    """``text`` without the characters XML 1.0 forbids (and C1 controls)."""
    return _XML_FORBIDDEN.sub("", text)


def display_safe(text: str) -> str:
    """One line of text as it is seen: XML-safe, no invisible or direction-changing
    characters, every kind of space a plain space, runs of spaces folded."""
    cleaned = _SPACES.sub(" ", _INVISIBLE.sub("", xml_safe(text)))
    return " ".join(cleaned.split())
