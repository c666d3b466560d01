"""The digest's rules for any subject (issue 12), each on concrete sentences: single-section
articles, boilerplate, citations that hold, sentences that stand alone, datelines, the
same issue under any hash seed, and a small day."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from conftest import cli_env
from newsletter.config import SectionSettings, SummarySettings, load_config
from newsletter.digest.extractive import ExtractiveSummarizer
from newsletter.digest.lexicon import stems
from newsletter.digest.sentences import split_sentences
from newsletter.model import Article, Digest, Item, issue_json
from newsletter.pipeline import compose_issue
from newsletter.sources.seeds import read_seeds

REPO = Path(__file__).resolve().parents[1]
ENERGY = REPO / "benchmarks" / "data" / "energy"

SECTIONS = [
    SectionSettings(
        id="oil",
        title="Oil and gas",
        keywords=["oil", "crude", "OPEC", "Brent", "barrel", "refinery", "LNG"],
    ),
    SectionSettings(
        id="solar",
        title="Solar",
        keywords=["solar", "photovoltaic", "panel", "panels", "module", "rooftop"],
    ),
    SectionSettings(
        id="grid",
        title="The grid",
        keywords=["grid", "interconnector", "transmission", "cable", "battery storage"],
    ),
]


def article(key: str, title: str, text: str, outlet: str, hour: int = 9) -> Article:
    return Article(
        id=f"test:{key}",
        title=title,
        text=text,
        url=f"https://{outlet.lower().replace(' ', '-')}.example/{key}",
        outlet=outlet,
        published=datetime(2026, 11, 27, hour, tzinfo=UTC),
        origin="feed",
    )


def needs_before(text: str) -> bool:
    """Would ``text``, past its article's opening, need the sentence before it?"""
    from newsletter.digest.extractive import dangling
    from newsletter.model import Sentence

    return dangling(Sentence(text=text, article=OPEC, position=3))


def digest_of(articles: list[Article]) -> Digest:
    return ExtractiveSummarizer(SummarySettings())(articles, SECTIONS, "en")


def shown(digest: Digest) -> list[tuple[str, Item]]:
    """(section id or "lead", item) for everything the issue shows."""
    return [("lead", i) for i in digest.lead] + [
        (s.id, i) for s in digest.sections for i in s.items
    ]


OPEC = article(
    "opec",
    "OPEC+ extends output cuts into the first quarter",
    "OPEC+ agreed on Thursday to extend its voluntary oil output cuts until the end of March.\n"
    "Brent crude rose 1.8% to $74.30 a barrel after the decision was announced.",
    "Petro Daily",
)
SOLAR = article(
    "solar",
    "Solar module factory opens in Ohio",
    "Helios Panels opened a solar module factory in Toledo, Ohio, on Wednesday.\n"
    "The plant can make three gigawatts of solar panels a year for rooftop installers.",
    "Sun Ledger",
)
GRID = article(
    "grid",
    "North Sea interconnector between Norway and Scotland approved",
    "Regulators approved the NorthLink interconnector, a high-voltage cable between Norway and "
    "Scotland.\n"
    "The cable will carry 1.4 gigawatts of power in either direction from 2031.",
    "Grid Watch",
)


def test_an_article_about_one_section_reaches_that_section() -> None:
    # Each article uses one section's words only: no rule asks for two sections any more.
    digest = digest_of([OPEC, SOLAR, GRID])
    placed = {i.text: where for where, i in shown(digest)}
    assert any("OPEC+" in t and s in ("oil", "lead") for t, s in placed.items())
    by_section = {s.id: s.items for s in digest.sections}
    assert by_section["oil"] and by_section["solar"] and by_section["grid"]
    assert any("Toledo" in i.text for i in by_section["solar"])


def test_a_sign_off_repeated_in_three_entries_is_never_an_item() -> None:
    sign_off = (
        "If you have any questions about this change or the oil data feed, please contact us "
        "by email and our team will help."
    )
    entries = [
        article(
            f"post{i}",
            title,
            f"{first}\n{sign_off}",
            "Petro Daily",
            hour=8 + i,
        )
        for i, (title, first) in enumerate(
            [
                ("Refinery fire", "A fire shut the Baytown oil refinery in Texas on Wednesday."),
                ("LNG deal", "QatarEnergy signed a long LNG supply deal with Uniper this week."),
                ("Brent climbs", "Brent crude climbed above $74 a barrel on supply worries."),
            ]
        )
    ]
    digest = digest_of([*entries, SOLAR, GRID])
    texts = [i.text for _, i in shown(digest)]
    assert texts and not any("questions about this change" in t for t in texts)
    assert any("Baytown" in t for t in texts)  # the entries' own news still gets in


def test_no_sentence_cites_an_article_that_does_not_hold_it() -> None:
    # Two outlets on the same story; only one names the refinery's size and the operator.
    first = article(
        "a",
        "Fire shuts Baytown refinery",
        "A fire shut the Baytown oil refinery in Texas on Wednesday night, officials said.\n"
        "The operator said the 340,000 barrel-per-day refinery would stay closed for a week "
        "while engineers inspect the damaged crude unit.",
        "Petro Daily",
    )
    second = article(
        "b",
        "Texas refinery fire",
        "A fire shut the Baytown oil refinery in Texas on Wednesday night, officials said.\n"
        "Gasoline futures rose 3% on the news of the refinery outage.",
        "Market Desk",
    )
    texts = {a.source: f"{a.title}\n{a.text}" for a in (first, second)}
    digest = digest_of([first, second, SOLAR, GRID])
    pairs = 0
    for _, item in shown(digest):
        for sentence in split_sentences(item.text):
            words = set(stems(sentence))
            for source in item.sources:
                own = set(stems(texts.get(source, "") or " ".join([SOLAR.text, GRID.text])))
                if source in texts:
                    pairs += 1
                    assert len(words & own) * 2 >= len(words), (sentence, source.outlet)
    assert pairs
    shared = [i for _, i in shown(digest) if i.text.startswith("A fire shut")]
    assert shared and len(shared[0].sources) == 2  # the same fact still cites both outlets


def test_a_he_said_sentence_without_its_antecedent_is_not_an_item() -> None:
    grid = article(
        "costs",
        "Grid operators share the cost of the NorthLink cable",
        "The grid operators of Norway and Britain will share the cost of the NorthLink cable.\n"
        "He said the interconnector would cut bills for grid customers on both sides.",
        "Grid Watch",
    )
    opening = article(
        "opening",
        "Solar panel prices fall",
        "He said solar panel prices fell to a record low of nine cents per watt in November.\n"
        "Polysilicon for solar modules fell 12% over the month as factories kept producing.",
        "Sun Ledger",
    )
    texts = [i.text for _, i in shown(digest_of([grid, opening, OPEC, GRID]))]
    assert texts
    assert not any(t.startswith("He ") or " He said" in t for t in texts), texts


def test_a_quote_from_a_bare_surname_needs_the_sentence_before_it() -> None:
    # energy-long's "\u201cApril is a placeholder,\u201d Marsh said." was an item of its own: the
    # reader never learnt who Marsh is (Helena Marsh of Northgate Bank, paragraphs earlier).
    assert needs_before("\u201cApril is a placeholder,\u201d Marsh said.")
    assert needs_before('"The market will believe it when it sees the tanker data," said Marsh.')
    assert needs_before("Kyiv must first agree to the ceasefire terms, Ushakov told reporters.")
    # A speaker the sentence itself names, or a body, stands alone.
    assert not needs_before(
        "\u201cApril is a placeholder,\u201d said Helena Marsh, head of research at Northgate Bank."
    )
    assert not needs_before("The grid needs new lines before 2030, the regulator Ofgem said.")
    assert not needs_before("OPEC+ will wait until April to raise output, its minister said.")


def test_an_untold_event_or_an_unnamed_source_needs_the_sentence_before_it() -> None:
    # energy's "Brent crude rose 1.8% to $74.30 a barrel after the decision." (which
    # decision?) and energy-long's "A severe storm ... would still leave the grid short of
    # power, the operator's own scenarios show." (which operator?) were items of their own.
    assert needs_before("Brent crude rose 1.8% to $74.30 a barrel after the decision.")
    assert needs_before("Shares fell 4% following the announcement, and bonds rallied.")
    assert needs_before(
        "A severe storm on the scale of 2021 would still leave the grid short of power, "
        "the operator's own scenarios show."
    )
    assert needs_before("Output will fall by a third next year, the company said on Friday.")
    # The event or the source named in the sentence itself: it stands alone.
    assert not needs_before("Brent crude rose 1.8% after the decision by OPEC+ to wait.")
    assert not needs_before("Brent crude rose 1.8% after the decision was announced.")
    assert not needs_before(
        "A fire shut the Baytown refinery in Texas on Wednesday night, the operator said."
    )

    # In a digest: the item carries the sentence before, or leaves it out.
    untold = article(
        "brent",
        "OPEC+ extends output cuts into the first quarter",
        "OPEC+ agreed on Thursday to extend its voluntary oil output cuts until the end of "
        "March.\nBrent crude rose 1.8% to $74.30 a barrel after the decision.",
        "Petro Daily",
    )
    for _, item in shown(digest_of([untold, SOLAR, GRID])):
        if "after the decision" in item.text:
            assert item.text.startswith("OPEC+ agreed"), item.text


def test_a_surname_given_in_full_earlier_needs_the_sentence_that_gave_it() -> None:
    # A US-politics newsletter from the Guardian's feed showed "Pettersen, who has known
    # Trump for a decade ..." under The White House: the reader never met Suzann Pettersen.
    from newsletter.digest.extractive import dangling
    from newsletter.model import Sentence

    golf = article(
        "golf",
        "Golf partner on playing with the president",
        "Suzann Pettersen, the 15-time LPGA Tour winner, says the president cheats at golf.\n"
        "Pettersen, who has known him for a decade, spoke to the newspaper Verdens Gang.\n"
        "Quinn says the club has 2,000 members.",
        "The Guardian",
    )
    first, second, third = (
        Sentence(text=t, article=golf, position=i) for i, t in enumerate(golf.text.split("\n"))
    )
    assert dangling(second)  # the full name is in the sentence before
    assert not dangling(first)
    assert not dangling(third)  # no "<First> Quinn" before it: nothing to point back to
    # A name the day's news gives in full in two or more articles ("Dmitry Peskov") is one
    # the issue names in full too: "Peskov said ..." stands.
    from newsletter.digest.extractive import widely_named

    peskov = [
        article(k, "Kremlin on the plan", f"Kremlin spokesman Dmitry Peskov said {k}.", "Wire")
        for k in ("no talks", "no change")
    ]
    assert widely_named([golf, *peskov]) == frozenset({"Peskov"})
    assert not dangling(second, frozenset({"Pettersen"}))


def test_a_sentence_split_off_too_early_is_a_fragment() -> None:
    # "Speaking on Jimmy Kimmel Live! the adult film star Stormy Daniels appears to ..."
    # was split after "Live!", and its tail was an item opening in lower case.
    from newsletter.digest.cleaning import is_fragment

    assert is_fragment("the adult film star Stormy Daniels appears to question a statement.")
    assert not is_fragment("iPhone sales rose 4% in the quarter, Apple said on Thursday.")
    assert not is_fragment("de Blasio said the city would hire 500 more teachers next year.")
    assert not is_fragment("Stormy Daniels appeared on Jimmy Kimmel Live on Tuesday night.")


def test_one_section_keyword_in_the_title_is_enough_for_an_article_on_one_section() -> None:
    # "Director of CDC resigns ..." (the body says "Centers for Disease Control") and
    # "Fire shuts Gulf Coast refinery" name their section once, in the title.
    from newsletter.digest.relevance import build_gate

    fire = article(
        "fire",
        "Fire shuts Gulf Coast refinery",
        "A blaze closed the Baytown plant in Texas on Wednesday night, its owner said.\n"
        "Nobody was hurt, and the cause was not yet known.",
        "Petro Daily",
    )
    gate = build_gate(SECTIONS, [], 0.4, "en")
    assert gate.keep(fire)
    unrelated = article(
        "bakery",
        "Bakery wins the town's best bread prize",
        "The Millbrook bakery won the county's best bread prize on Saturday.\n"
        "Its owner said the sourdough takes three days to make.",
        "Town Crier",
    )
    assert not gate.keep(unrelated)


def test_advice_and_a_standfirst_that_name_nothing_are_not_items() -> None:
    # The tech newsletter's "Money and markets" carried Google Alerts' "Investors looking to
    # take advantage of cash heavy shares, ..." and "Platforms" a Guardian standfirst that
    # never names Facebook: neither tells the reader who or what.
    alerts = article(
        "alerts",
        "Cash flow stocks: Brent crude producers",
        "Investors looking to take advantage of cash heavy oil shares, they might look first "
        "to the cash flow of a crude producer, and how fast that is growing.\n"
        "Shell raised its dividend by 4% on Thursday after crude oil prices climbed.",
        "Google Alerts",
    )
    guardian = article(
        "standfirst",
        "Regulator blocks solar panel adverts",
        "Watchdog blocks rooftop solar panel adverts as they are \u2018frequently associated "
        "with misleading or deceptive promotional practices\u2019\n"
        "The Advertising Standards Authority ruled against Sunbright Panels on Tuesday.",
        "The Guardian",
    )
    texts = [i.text for _, i in shown(digest_of([alerts, guardian, OPEC, SOLAR, GRID]))]
    assert not any("Investors looking" in t or "Watchdog blocks" in t for t in texts), texts
    # The specific sentences beside them still are.
    assert any("Shell raised its dividend" in t for t in texts)
    assert any("Sunbright" in t for t in texts)


def test_a_sentence_naming_its_subject_only_first_is_kept_when_that_is_a_name() -> None:
    from newsletter.digest.extractive import names_something
    from newsletter.model import Sentence

    gazprom = article(
        "gazprom",
        "Gas prices",
        "Gazprom raised gas prices sharply.\nAnalysts said the move by Gazprom was expected.",
        "Petro Daily",
    )
    assert names_something(Sentence(gazprom.text.splitlines()[0], gazprom, 0))
    # Named only at the start, nowhere else in the article: a capitalized keyword counts.
    kyiv = article("kyiv", "Talks", "Ukraine said the proposal must respect its borders.", "X")
    assert names_something(Sentence(kyiv.text, kyiv, 0), frozenset({"Ukraine"}))
    assert not names_something(Sentence(kyiv.text, kyiv, 0))
    generic = article("generic", "Storage", "Storage projects are expected to be hit hardest.", "X")
    assert not names_something(Sentence(generic.text, generic, 0))
    # A script without capitals cannot be judged by them: the rule stays out of its way.
    chinese = article(
        "zh", "\u5149\u4f0f", "\u5149\u4f0f\u7ec4\u4ef6\u4ef7\u683c\u4e0b\u964d\u3002", "X"
    )
    assert names_something(Sentence(chinese.text, chinese, 0))


def test_each_kind_of_pitch_and_back_reference_is_still_caught() -> None:
    # The regexes run only on sentences holding one of their literal cores (for speed): each
    # kind they catch, in any case, must still be caught.
    from newsletter.digest.cleaning import is_promotional, leans_back

    pitches = [
        "Alright BlackBerry fans, the new phone ships in March.",
        "OK, the update reaches every Pixel owner this week.",
        "So the price of the Model 3 drops to $35,000.",
        "What sets the Acme X1 apart is its 40-hour battery.",
        "For a cloud database, look no further than Acme DB.",
        "Acme ships a BEST-IN-CLASS camera with the X1.",
        "The X1's battery is a game-changer for Acme.",
        "The wait is over: Acme's X1 ships in March.",
        "Acme is thrilled to announce the X1, which ships in March.",
        "Stay tuned for Acme's keynote on March 3.",
        "Acme says the time has come for 5G phones.",
        "If your phone is an X1, the update reaches it on March 3.",
    ]
    assert [p for p in pitches if not is_promotional(p)] == []
    reports = [
        "Gazprom raised gas prices by 4% on Thursday.",
        "Acme's X1 ships in March with a 40-hour battery, the company said.",
        "So-called green bonds raised $2 billion for Orsted on Thursday.",
    ]
    assert [r for r in reports if is_promotional(r)] == []
    assert leans_back("Officials said the two sides would meet again in Geneva.")
    assert leans_back("Officials from BOTH COUNTRIES met in Geneva on Sunday.")
    assert leans_back("However, Kyiv rejected the plan on Friday.")
    assert not leans_back("Ukraine and Russia both sent delegations to Geneva on Sunday.")


def test_a_blog_instruction_and_a_subject_listed_before_are_not_items() -> None:
    # The tech newsletter's developers section: "On January 21, 2016, the targetingStatus of
    # these locations will be changed ..." (which locations? the post's list), then "To get
    # started with this new library, please see the README's ... section." and "The API
    # automatically converted to the correct AppConversionType." (past the first sentence).
    from newsletter.digest.cleaning import definite_subject, is_promotional, leans_back

    assert leans_back(
        "On January 21, 2016, the targetingStatus of these locations will be changed."
    )
    assert leans_back("Most of those shares were sold in March by Acme's founders.")
    assert not leans_back("Acme said this year will be its best, with sales up 4% in March.")
    assert leans_back("Those contracts would be worth $2 billion to Acme, Reuters said.")
    assert is_promotional(
        "To get started with this new library, please see the README's usage section."
    )
    assert is_promotional("Please update your code before March 3 to use v201601.")
    # A quoted plea is reporting.
    assert not is_promotional('"Please help us," the mayor of Kharkiv said on Sunday.')
    assert definite_subject("The API automatically converted to the correct type.") == "API"
    assert definite_subject("The API will be sunset on June 21.") == "API"
    assert definite_subject("The White House quickly rejected the plan.") is None


def test_a_video_description_calling_the_reader_to_act_is_not_an_item() -> None:
    # YouTube's feed in ../shared put these under "Platforms" in the tech newsletter.
    from newsletter.digest.cleaning import is_boilerplate

    assert is_boilerplate("Talk to Google to get answers, find stuff nearby, and get things done.")
    assert is_boilerplate("Learn how she uses Google+ Photos.")
    assert is_boilerplate("Watch the full keynote from Google I/O on YouTube.")
    assert not is_boilerplate("Watchdog Ofcom fined the broadcaster 2 million pounds.")
    assert not is_boilerplate("Talks between Kyiv and Washington resumed in Geneva.")


def test_a_wire_dateline_and_a_byline_are_stripped() -> None:
    wire = article(
        "wire",
        "OPEC+ extends its oil output cuts",
        "Vienna, Nov 27 (PDN) - OPEC+ agreed on Thursday to extend its oil output cuts of 2.2 "
        "million barrels per day until the end of March.",
        "Petro Daily",
    )
    signed = article(
        "signed",
        "Solar module factory opens in Ohio",
        "By Maria Keller, Sun Ledger\n"
        "Helios Panels opened a solar module factory in Toledo, Ohio, that can make three "
        "gigawatts of panels a year.",
        "Sun Ledger",
    )
    texts = [i.text for _, i in shown(digest_of([wire, signed, GRID]))]
    assert any(t.startswith("OPEC+ agreed on Thursday") for t in texts), texts
    assert not any("(PDN)" in t or "Vienna, Nov 27" in t or "Maria Keller" in t for t in texts)


def test_a_two_article_day_keeps_its_section_items_and_has_no_lead() -> None:
    digest = digest_of([OPEC, SOLAR])
    by_section = {s.id: s.items for s in digest.sections}
    assert by_section["oil"] and by_section["solar"]
    assert digest.lead == ()


_DIGEST_JSON = """
import json, sys
from pathlib import Path
from newsletter.config import load_config
from newsletter.digest.extractive import ExtractiveSummarizer
from newsletter.model import item_json
from newsletter.sources.seeds import read_seeds
folder = Path(sys.argv[1])
config = load_config(folder / "newsletter.toml")
articles = read_seeds(folder / "articles", print)
digest = ExtractiveSummarizer(config.summary)(articles, config.sections, "en")
print(json.dumps({"lead": [item_json(i) for i in digest.lead],
                  "sections": [[item_json(i) for i in s.items] for s in digest.sections]}))
"""


def test_the_same_run_under_two_hash_seeds_gives_the_same_issue_json() -> None:
    outputs = [
        subprocess.run(
            [sys.executable, "-c", _DIGEST_JSON, str(ENERGY)],
            env={**cli_env(), "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
        for seed in ("1", "4")
    ]
    assert outputs[0] == outputs[1]
    assert all(json.loads(outputs[0])["sections"])
    # The whole issue.json, with the articles in another order, is the same too.
    config = load_config(ENERGY / "newsletter.toml")
    articles = read_seeds(ENERGY / "articles", print)
    slot = datetime(2026, 11, 28, tzinfo=UTC)
    forward = issue_json(compose_issue(config, articles, number=1, slot=slot))
    backward = issue_json(compose_issue(config, articles[::-1], number=1, slot=slot))
    assert json.dumps(forward) == json.dumps(backward)


def test_a_summarizer_primed_ahead_gives_the_same_digest_and_keeps_no_answers() -> None:
    # The pipeline primes the summarizer with each feed's articles while the parse workers
    # finish; the digest must be the one an unprimed summarizer makes.
    day = [OPEC, SOLAR, GRID]
    primed = ExtractiveSummarizer(SummarySettings())
    primed.prime(day[:2], SECTIONS, "en")
    primed.prime(day[2:], SECTIONS, "en")
    assert primed(day, SECTIONS, "en") == digest_of(day)
    assert primed._gate is not None and primed._gate[2].answers == {}
    # Primed for other sections, it judges afresh.
    other = [SectionSettings(id="oil", title="Oil", keywords=["OPEC", "crude"])]
    primed.prime(day, other, "en")
    assert primed(day, SECTIONS, "en") == digest_of(day)


def test_a_section_nothing_was_placed_in_takes_what_its_keywords_alone_place_there() -> None:
    # A US-politics day from the Guardian's feed: the cues learned for the dominant White
    # House section ("american", "first") carried "a new docu-series about the US opioid
    # crisis" off "Health", which then said "Nothing new on this today".
    from newsletter.digest.sectioning import Tokens
    from newsletter.digest.selection import Candidate, pick_section, prepare
    from newsletter.model import Sentence

    def candidate(key: str, text: str, section: int, home: int | None) -> Candidate:
        source = article(key, text, text, "The Guardian")
        passage = (Sentence(text=text, article=source, position=0),)
        return Candidate(text, passage, Tokens.of(text, "en"), section, 5.0, home)

    pool = prepare(
        [
            candidate("sotu", "Trump promised a new American moment on Tuesday.", 0, None),
            candidate("opioid", "A new series follows America's opioid crisis in Atlanta.", 0, 1),
            candidate("golf", "Trump says his Florida golf club is worth $50m.", 0, None),
        ],
        2,
    )
    assert [pool.candidates[i].text for i in pick_section(pool, 1, 3, 100)] == [
        "A new series follows America's opioid crisis in Atlanta."
    ]
    # A section with passages of its own takes no others.
    pool = prepare(
        [
            candidate("sotu", "Trump promised a new American moment on Tuesday.", 1, None),
            candidate("opioid", "A new series follows America's opioid crisis in Atlanta.", 0, 1),
        ],
        2,
    )
    assert [pool.candidates[i].text for i in pick_section(pool, 1, 3, 100)] == [
        "Trump promised a new American moment on Tuesday."
    ]
