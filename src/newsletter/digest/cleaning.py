"""Cleaning: what of a feed's text may become an item at all.

- Wire datelines ("Washington, Nov 21 (IANS) - ") and bylines ("By Maria Keller") are cut
  from the start of a sentence.
- Boilerplate never becomes an item: a sentence that recurs in two or more entries of one
  outlet (sign-offs, promos), and the usual patterns ("The post ... appeared first on",
  "Read more", subscription, cookie and forum notices, reddit's "submitted by").
- Fragments never become items: text cut off with "..." or "[...]", list bullets.
- A sentence that does not stand alone is marked: it opens with a pronoun, a demonstrative,
  a connective, the first person of a company blog, or a definite reference whose
  antecedent the reader was not given ("The company", "the two sides", "X reported this"),
  or, past an article's first sentence, a subject that is only "The" and a common noun
  ("The LNG will be shipped ..." after "QatarEnergy signed a deal to supply liquefied natural
  gas"; "The chip maker, which ..." after a sentence naming ST-Ericsson).
- Marketing copy never becomes an item: the reader addressed as "you" outside a quotation,
  an exclamation, a pitch ("What sets X apart ...", "the time has come", "Alright ... fans").
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from newsletter.digest.lexicon import fold
from newsletter.model import Article

_DATELINE = re.compile(
    r"^(?:[A-Z][\w.'\u2019-]*(?:[ -][A-Z][\w.'\u2019-]*){0,3}(?:, [A-Z][\w.'\u2019 -]{1,25})?"
    r"(?:, [A-Z][a-z]{2,8}\.? \d{1,2}(?:, \d{4})?)? ?\([A-Za-z][\w ]{0,15}\) ?[-\u2013\u2014:]+ ?"
    r"|[A-Z][A-Z .'-]{2,30} ?[-\u2013\u2014] )"
)
_BYLINE = re.compile(
    r"^By [A-Z][\w.'\u2019-]*(?: [A-Z][\w.'\u2019-]*){0,3}(?:,[^.!?]{0,40})?(?:$|\s+-\s+)"
)
_BOILERPLATE = re.compile(
    r"appeared first on|\bread more\b|\bsubscribe\b|\bnewsletter\b|\bcookies?\b|click here|"
    r"submitted by|\[link\]|\[\d+ comments\]|\bsign up\b|contact us|unsubscribe|"
    r"all rights reserved|continue reading|\bforum\b|\bfollow us\b|\bclick through\b|"
    r"^(?:check out|see|visit|learn more|find out|register|join us|don't miss|get started|"
    r"please|head over|download|try it|take a look|give it a try|go to|learn how|talk to|"
    r"discover|explore|watch|listen to|tune in)\b",
    re.IGNORECASE,
)
# Every alternative of _BOILERPLATE holds one of these (lower-cased), or starts with one.
_BOILERPLATE_CORES = (
    "appeared first on",
    "read more",
    "subscribe",
    "newsletter",
    "cookie",
    "click here",
    "submitted by",
    "[link]",
    "comments]",
    "sign up",
    "contact us",
    "all rights reserved",
    "continue reading",
    "forum",
    "follow us",
    "click through",
)
_BOILERPLATE_STARTS = (
    "check out",
    "see",
    "visit",
    "learn more",
    "find out",
    "register",
    "join us",
    "don't miss",
    "get started",
    "please",
    "head over",
    "download",
    "try it",
    "take a look",
    "give it a try",
    "go to",
    "learn how",
    "talk to",
    "discover",
    "explore",
    "watch",
    "listen to",
    "tune in",
)
_FRAGMENT = re.compile(
    r"(?:\.\.\.|\u2026|\[\.\.\.\]|\[\u2026\])\W*$|^\s*[-\u2013\u2014\u2022*\u00b7\u25aa>]\s?"
)
_NOT_ALONE = re.compile(
    r"^(?:(?:he|she|it|they|him|his|her|its|their|them|this|that|these|those|here|there|but|"
    r"and|or|so|however|meanwhile|also|yet|instead|still|moreover|furthermore|additionally|"
    r"then|thus|therefore|besides|such|both|we|we're|we've|our|us|i|i'm|i've|my|you|your)\b"
    r"|today,? we\b"
    r"|(?:[^,.]{0,40}, )?the (?:company|firm|startup|group|two|three|official|officials|move|"
    r"deal|decision|report|"
    r"statement|latter|former|same|other|new service|service|app|update|minister|president|"
    r"sides?|men|women|pair|leaders?|spokesman|spokeswoman|spokesperson|plant|project|"
    r"agency|operator|bank|team|club|site|blog|product|version|feature|change|changes|visit|"
    r"meeting|deal|offer|outage|blaze|fire|link|cable|factory|batteries|cuts|group's|"
    r"company's)\b)"
    r"|^[^.,;]{0,40}\breported (?:this|it|the news)\b"
    r"|^(?:in other words|in short|in fact|for example|for instance|on the other hand|"
    r"as a result|by contrast|in addition|at the same time|that said|even so|after all)\b",
    re.IGNORECASE,
)
# ... and anywhere in the sentence; searched only when the folded text holds a core
# (the regex costs some 20 us a sentence, the substring tests about 1 us).
_NOT_ALONE_ANYWHERE = re.compile(
    r"\bthe two (?:men|sides|leaders|women|companies|countries|governments|firms)\b"
    r"|\bboth (?:companies|countries|governments|firms)\b"
    # A subject that is "these/those <things>" ("On January 21, the targetingStatus of these
    # locations will be changed ..."): the things were listed in the sentence before.
    r"|\b(?:these|those) [a-z]+ (?:will|would|are|were|have|had|can|could|may|must|should)\b",
    re.IGNORECASE,
)
_NOT_ALONE_CORES = ("the two ", "both ", "these ", "those ")
_WORD = re.compile(r"\w+")
_FIRST_PERSON = re.compile(
    r"^(?:[^,.]{0,40}, )?(?:today,? )?(?:we|we're|we've|we'll|our|us|i|i'm|i've|my)\b", re.I
)
_PERSONAL = re.compile(r"^(?:he|she|his|her)\b|[,\u201d\"]\s*(?:he|she)\s+\w+", re.I)
_PERSON = re.compile(
    r"\b[A-Z][a-z]+ [A-Z][a-z]+\b|\b(?:minister|spokes\w+|president|chief|executive|CEO|"
    r"founder|official|secretary|director|manager|chairman|chairwoman|envoy|analyst|"
    r"governor|senator|mayor)\b"
)


# "The deal is ...", "The LNG will ...", "The chip maker, which ...": a definite article and
# one or two common nouns as the whole subject (an auxiliary, a common verb or a comma
# follows; not "The most sensitive issues ...").
_VERBS = (
    r"will|would|is|was|are|were|has|had|have|can|could|may|might|must|should|also|now|then|"
    r"said|says|put|puts|set|sets|cut|cuts|made|makes|told|took|takes|gave|gives|won|lost|"
    r"found|saw|got|kept|sold|paid|hit|rose|fell|grew|began|became|held|led|ran|spent|built|"
    r"sent|shut|struck|needs|adds|plans|wants|expects|remains|includes|supplies|faces|covers|"
    r"carries|uses|runs|shows|means|\w+ed"
)
_DEFINITE = re.compile(
    r"^The ((?:(?!most |more |less |least |first |last )[a-z][a-z-]+ (?![a-z]+ly\b))?"
    r"(?:[a-z][a-z-]+|[A-Z]{2,6}))"
    rf"(?=,| (?:[a-z]+ly )?(?:{_VERBS})\b)"  # "The API automatically converted ..."
)
_QUOTED = re.compile(r"\u201c[^\u201d]*\u201d|\"[^\"]*\"")
_SECOND_PERSON = re.compile(
    r"\b(?:you|your|yours|yourself|yourselves)\b|\byou[\u2019'](?:re|ve|ll|d)\b", re.I
)
# An instruction to the reader outside a quotation ("To get started with this new library,
# please see the README's section.", "Please update your code before March."): a blog's
# notice, not news.
_PLEASE = re.compile(
    r"\bplease (?:see|visit|read|refer|contact|check|note|let|review|update|migrate|upgrade|"
    r"reach|follow|make sure|ensure|consult|download|sign|register|join|share|use|try)\b",
    re.IGNORECASE,
)
# A blog's "I" anywhere outside a quotation ("... I decided to start from the top down").
_FIRST_PERSON_SINGULAR = re.compile(
    r"(?<!War )\bI\b|\bI[\u2019'](?:m|ve|d|ll)\b|\b(?:my|me|we|our|ours|us)\b"
)
_PITCH = re.compile(
    r"^(?:alright|all right|okay|ok|hey|well|so),? |\bthe time has come\b|"
    r"^what (?:sets|makes|separates) [^.]{1,80}\b(?:apart|different|unique|special)\b|"
    r"\blook no further\b|\bbest-in-class\b|\bgame[- ]changer\b|\bthe wait is over\b|"
    r"\b(?:excited|thrilled|proud|delighted) to (?:announce|share|introduce|unveil|launch)\b|"
    r"\bstay tuned\b",
    re.IGNORECASE,
)


# Every text _PITCH matches, folded (lexicon.fold), starts with one of these or holds one.
_PITCH_STARTS = ("alright", "all right", "ok", "hey", "well", "so", "what ")
_PITCH_CORES = (
    "the time has come", "look no further", "best-in-class", "game", "the wait is over",
    "excited to ", "thrilled to ", "proud to ", "delighted to ", "stay tuned",
)  # fmt: skip


def is_promotional(text: str) -> bool:
    """Marketing copy or a blog's own voice, not reporting: the reader addressed as "you" or
    told "please see ...", the writer as "I" or "we" (outside a quotation), an exclamation, or
    a pitch. The regexes run only on a sentence holding one of their literal cores (they cost
    some 50 us a sentence, the substring tests a few)."""
    folded = fold(text)
    unquoted = _QUOTED.sub(" ", text)
    return bool(
        ("you" in folded and _SECOND_PERSON.search(unquoted))
        or ("please " in folded and _PLEASE.search(unquoted))
        or _FIRST_PERSON_SINGULAR.search(unquoted)
        or unquoted.rstrip().endswith("!")
        or (
            (folded.startswith(_PITCH_STARTS) or any(c in folded for c in _PITCH_CORES))
            and _PITCH.search(text)
        )
    )


def definite_subject(text: str) -> str | None:
    """The subject, when it consists of "The" and one or two common nouns ("LNG" in "The LNG
    will ...", "chip maker" in "The chip maker, which ..."). Past an article's first sentence
    such a subject points back to something named before it (QatarEnergy's gas,
    ST-Ericsson); a subject that names itself ("The White House", "The planned sunset date
    of v201601") is not one."""
    match = _DEFINITE.match(text)
    return match.group(1) if match else None


def strip_dateline(text: str) -> str:
    """The sentence without a leading wire dateline or byline."""
    stripped = _BYLINE.sub("", _DATELINE.sub("", text, count=1), count=1).lstrip()
    if stripped != text and stripped[:1].islower():
        stripped = stripped[0].upper() + stripped[1:]
    return stripped if len(stripped) < len(text) and stripped else text


def is_boilerplate(text: str) -> bool:
    """A promo, sign-off or notice. The regex runs only on the few sentences that hold one
    of its literal cores (it costs some 30 us a sentence, the substring tests about 2 us)."""
    low = text.lower()
    if not (low.startswith(_BOILERPLATE_STARTS) or any(k in low for k in _BOILERPLATE_CORES)):
        return False
    return bool(_BOILERPLATE.search(text))


def house_notice(text: str, outlet: str | None) -> bool:
    """A sentence that opens with its own outlet's name ("Petro Daily's crude market briefing
    is published every weekday morning."): the outlet about itself, not news."""
    return (
        bool(outlet) and len(outlet or "") >= 4 and text.lower().startswith((outlet or "").lower())
    )


def is_fragment(text: str) -> bool:
    """Cut off ("..."), a list bullet, or the tail of a sentence split too early: it opens
    in lower case ("the adult film star ... appears to question ...", split off "Speaking on
    Jimmy Kimmel Live!"), though not "iPhone sales ..." nor "de Blasio said ..."."""
    words = text.split(maxsplit=2)
    lower_start = bool(words) and words[0][:1].islower()
    if (
        lower_start
        and not any(c.isupper() for c in words[0])
        and (len(words) < 2 or not words[1][:1].isupper())
    ):
        return True
    return bool(_FRAGMENT.search(text))


def leans_back(text: str) -> bool:
    """Does the sentence need one before it to be understood?"""
    if _NOT_ALONE.match(text):
        return True
    folded = fold(text)
    return any(core in folded for core in _NOT_ALONE_CORES) and bool(
        _NOT_ALONE_ANYWHERE.search(text)
    )


def first_person(text: str) -> bool:
    """ "We ...", "Today we're announcing ...": a blog's own voice, which no predecessor
    sentence names for the reader."""
    return bool(_FIRST_PERSON.match(text))


def names_a_person(before: str, text: str) -> bool:
    """A "he"/"she" sentence has its antecedent only when the sentence before names a
    person (a full name or a role); any other sentence passes."""
    return not _PERSONAL.search(text) or bool(_PERSON.search(before))


def normalized(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def recurring(keys: Sequence[Sequence[str]]) -> frozenset[str]:
    """Of each article's sentence keys (``sentence_key``), those found in two or more
    articles: with the outlet in the key, the sentences one outlet repeats across its
    entries (sign-offs, promos, disclaimers)."""
    counts: Counter[str] = Counter()
    for article_keys in keys:
        counts.update(set(article_keys))
    return frozenset(key for key, n in counts.items() if n >= 2)


def sentence_key(article: Article, sentence: str) -> str:
    return f"{article.outlet or ''}\n{normalized(sentence)}"
