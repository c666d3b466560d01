"""An editor's cuts (issue 12, second round), each on concrete sentences: an item whose
definite reference points to another sentence follows it or carries it, items from one
article keep its order, a second outlet is cited only for a sentence it states, and marketing
copy ("you", "What sets X apart", "Alright ... fans") is never an item."""

from __future__ import annotations

from datetime import UTC, datetime

from newsletter.config import SectionSettings, SummarySettings
from newsletter.digest.extractive import ExtractiveSummarizer
from newsletter.model import Article, Digest, Item

SECTIONS = [
    SectionSettings(
        id="oil",
        title="Oil and gas",
        keywords=["oil", "crude", "OPEC", "Brent", "barrel", "refinery", "LNG", "gas"],
    ),
    SectionSettings(
        id="solar",
        title="Solar",
        keywords=["solar", "photovoltaic", "panel", "panels", "module", "modules", "rooftop"],
    ),
    SectionSettings(
        id="grid",
        title="The grid",
        keywords=["grid", "interconnector", "transmission", "cable", "battery storage"],
    ),
]


def article(key: str, title: str, paragraphs: list[str], outlet: str, hour: int = 9) -> Article:
    return Article(
        id=f"test:{key}",
        title=title,
        text="\n".join(paragraphs),
        url=f"https://{outlet.lower().replace(' ', '-')}.example/{key}",
        outlet=outlet,
        published=datetime(2026, 11, 27, hour, tzinfo=UTC),
        origin="feed",
    )


def digest_of(articles: list[Article]) -> Digest:
    return ExtractiveSummarizer(SummarySettings())(articles, SECTIONS, "en")


def shown(digest: Digest) -> list[tuple[str, Item]]:
    return [("lead", i) for i in digest.lead] + [
        (s.id, i) for s in digest.sections for i in s.items
    ]


GRID = article(
    "grid",
    "North Sea interconnector between Norway and Scotland approved",
    [
        "Regulators approved the NorthLink interconnector, a high-voltage cable between Norway "
        "and Scotland.",
        "NorthLink will carry 1.4 gigawatts of power in either direction from 2031.",
    ],
    "Grid Watch",
)
SOLAR = article(
    "solar",
    "Solar module factory opens in Ohio",
    [
        "Helios Panels opened a solar module factory in Toledo, Ohio, on Wednesday.",
        "Helios said the factory can make three gigawatts of solar panels a year.",
    ],
    "Sun Ledger",
)
LNG = article(
    "lng",
    "Qatar signs 27-year LNG deal with Germany's Uniper",
    [
        "QatarEnergy signed a 27-year deal to supply 2 million tonnes of liquefied natural gas "
        "a year to Uniper from 2028.",
        "The LNG will be shipped to the Wilhelmshaven gas terminal on Germany's North Sea coast.",
        "The deal is the longest gas supply contract Germany has signed since 2022.",
    ],
    "Petro Daily",
)


def test_a_definite_reference_never_opens_an_item_without_its_antecedent() -> None:
    # "The LNG" and "the deal" point back to the QatarEnergy sentence (and the title).
    digest = digest_of([LNG, SOLAR, GRID])
    texts = [i.text for _, i in shown(digest)]
    assert any(t.startswith("QatarEnergy signed") for t in texts), texts
    assert not any(t.startswith(("The LNG", "The deal")) for t in texts), texts
    for text in texts:
        if "The LNG will be shipped" in text:
            assert text.index("QatarEnergy") < text.index("The LNG")


def test_items_from_one_article_keep_its_order_in_a_section() -> None:
    # The third sentence is the richest in oil words, so it scores best; an editor still
    # prints the article's news first.
    opec = article(
        "opec",
        "OPEC+ extends oil output cuts",
        [
            "OPEC+ agreed on Thursday to extend its voluntary oil output cuts until March.",
            "Saudi Arabia's energy minister said OPEC+ would keep the oil market balanced.",
            "Brent crude oil rose 1.8% to $74.30 a barrel as oil traders bet on tighter crude "
            "supply and refinery demand for oil.",
        ],
        "Petro Daily",
    )
    digest = digest_of([opec, SOLAR, GRID])
    oil = next(s for s in digest.sections if s.id == "oil")
    mine = [i.text for i in oil.items if i.sources[0].url == opec.url]
    order = [next(n for n, p in enumerate(opec.text.split("\n")) if p in t) for t in mine]
    assert len(mine) >= 2, [i.text for _, i in shown(digest)]
    assert order == sorted(order), mine


def test_a_second_outlet_is_cited_only_for_a_sentence_it_states() -> None:
    # Market Desk's text shares most of the fact's words, but spread over sentences about
    # other things; Crude Wire states the same fact in other words.
    fact = "Brent crude rose 1.8% to $74.30 a barrel after OPEC+ extended its output cuts."
    own = article("own", "Brent climbs", [fact, "Traders expect a tight winter."], "Petro Daily")
    scattered = article(
        "scattered",
        "Oil market wrap",
        [
            "Brent crude traded near $74.30 a barrel in late Asian trading.",
            "Tanker rates rose 1.8% after shipowners extended their summer output cuts.",
            "OPEC+ delegates will meet again in March.",
        ],
        "Market Desk",
        hour=10,
    )
    same = article(
        "same",
        "Brent gains on OPEC+ decision",
        ["Brent crude rose 1.8% to $74.30 a barrel after OPEC+ extended output cuts."],
        "Crude Wire",
        hour=11,
    )
    digest = digest_of([own, scattered, same, SOLAR, GRID])
    items = [i for _, i in shown(digest) if "rose 1.8%" in i.text and "OPEC+" in i.text]
    assert items, [i.text for _, i in shown(digest)]
    outlets = {s.outlet for s in items[0].sources}
    assert "Market Desk" not in outlets
    assert {"Petro Daily", "Crude Wire"} <= outlets


def test_marketing_copy_is_never_an_item() -> None:
    pitch = article(
        "pitch",
        "Helios launches a rooftop solar panel",
        [
            "Alright solar fans, the time has come for you to experience the Helios rooftop "
            "solar panel, the photovoltaic module of the year.",
            "What sets the Helios solar panel apart from other rooftop solar modules is that "
            "its photovoltaic cells make more power in low light.",
            "Helios said its new rooftop solar panel converts 24% of sunlight into power.",
            "Rooftop solar panels and photovoltaic modules like these pay for themselves fast!",
        ],
        "Sun Ledger",
    )
    texts = [i.text for _, i in shown(digest_of([pitch, SOLAR, GRID, LNG]))]
    assert any("24% of sunlight" in t for t in texts), texts  # the article's news gets in
    assert not any(
        "you" in t.lower().split() or "sets the Helios" in t or t.endswith("!") for t in texts
    ), texts


def test_an_outlets_note_about_itself_is_never_an_item() -> None:
    wrap = article(
        "wrap",
        "OPEC+ puts off its oil output increase",
        [
            "OPEC+ agreed on Thursday to delay its planned oil output increase until April.",
            "Brent crude oil fell 0.9% to $71.80 a barrel after the oil producers' decision.",
            "Petro Daily's crude oil market briefing on Brent and OPEC+ barrels is published "
            "every weekday morning.",
        ],
        "Petro Daily",
    )
    texts = [i.text for _, i in shown(digest_of([wrap, SOLAR, GRID]))]
    assert any("71.80" in t for t in texts), texts
    assert not any(t.startswith("Petro Daily") for t in texts), texts


def test_a_headline_naming_one_section_word_twice_reaches_that_section() -> None:
    # "substation" is the grid section's only word in the title and the first sentence.
    fire = article(
        "fire",
        "Substation fire cuts power to 60,000 homes in Leeds",
        [
            "A fire at an electricity substation in Leeds left about 60,000 homes without "
            "power on Wednesday night, the network operator said.",
            "Supplies were restored through neighbouring substations by Thursday morning.",
            "Engineers said the fire started in a transformer installed in 1978.",
        ],
        "Power Post",
    )
    sections = [
        *SECTIONS[:2],
        SectionSettings(
            id="grid", title="The grid", keywords=["grid", "substation", "transmission"]
        ),
    ]
    digest = ExtractiveSummarizer(SummarySettings())([fire, SOLAR, LNG], sections, "en")
    grid = next(s for s in digest.sections if s.id == "grid")
    assert any("Leeds" in i.text for i in grid.items), [i.text for _, i in shown(digest)]
