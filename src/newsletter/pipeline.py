"""The one place where the stages meet: sources -> articles -> sections -> rendered issue
-> outbox. The CLI and the scheduler call ``run`` and hold no logic of their own."""

from __future__ import annotations

import contextlib
import gc
import json
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from pathlib import Path
from typing import Any, Literal, Protocol

import httpx
from sqlalchemy.engine import Engine

from newsletter.config import Config
from newsletter.digest.citations import checked
from newsletter.digest.extractive import ExtractiveSummarizer
from newsletter.digest.llm import LLMError
from newsletter.digest.summarizer import Summarizer, build_summarizer
from newsletter.email.message import build_message, message_bytes
from newsletter.email.render import RenderedIssue, Templates, load_templates
from newsletter.email.salvage import render_or_drop
from newsletter.errors import NewsletterError
from newsletter.errors import Warn as Warn  # re-exported: Warn was defined here until 0.2
from newsletter.model import Article, Digest, Issue, issue_json
from newsletter.sources.dedup import Story, dedupe
from newsletter.sources.fetch import Fetcher
from newsletter.sources.ingest import LeftOut, default_fetcher, drop_published, ingest_feeds
from newsletter.sources.seeds import read_seeds
from newsletter.store import state
from newsletter.store.outbox import clean_staging, issue_folder_name, read_issue_json, write_issue
from newsletter.timings import NO_TIMINGS, Timings, timed
from newsletter.untrusted import display_safe

log = logging.getLogger(__name__)


# Feeds -> fresh articles: ingest.ingest_feeds fetches them; a distributed build instead reads
# what its fetch tasks stored (distributed/stages.py).
class Ingest(Protocol):
    def __call__(
        self,
        config: Config,
        engine: Engine,
        fetcher: Fetcher,
        now: datetime,
        warn: Warn,
        timings: Timings = ...,
        signatures: dict[str, bytes | None] | None = ...,
        *,
        left_out: LeftOut | None = ...,
        on_articles: Callable[[Sequence[Article]], None] | None = ...,
    ) -> list[Article]: ...


# Called with each stage's name as the run passes it: "claimed", "gathered", "summarized",
# "rendered", "staged" (files synced, not yet renamed into the outbox), "written", "finished".
# Progress bars and the scheduler's graceful stop hook in here: raising aborts the run and
# releases its claim (a raise at "written" leaves the folder, which the next run adopts).
Checkpoint = Callable[[str], None]
STAGES = ("claimed", "gathered", "summarized", "rendered", "staged", "written", "finished")
RunStatus = Literal["written", "exists", "busy", "nothing-new"]


@dataclass(frozen=True)
class RunResult:
    status: RunStatus
    slot: datetime
    number: int | None
    path: Path | None
    message: str
    articles_in: int | None = None
    items_out: int | None = None


def _no_checkpoint(_stage: str) -> None:
    return None


def post_json(url: str, body: Mapping[str, Any], headers: Mapping[str, str], timeout: float) -> Any:
    """The LLM backend's HTTP (``digest.llm.PostJson``): the digest itself does no I/O."""
    try:
        response = httpx.post(url, json=dict(body), headers=dict(headers), timeout=timeout)
        response.raise_for_status()
    except httpx.TimeoutException:
        raise LLMError(f"no answer within {timeout:g} s") from None
    except httpx.HTTPStatusError as e:
        raise LLMError(f"HTTP {e.response.status_code}") from None
    except httpx.HTTPError as e:
        raise LLMError(f"{type(e).__name__}: {e}") from None
    return response.json()


def slot_for(now: datetime, config: Config) -> datetime:
    """A manual run's slot: the start of today in the newsletter's time zone."""
    local = now.astimezone(config.newsletter.zone)
    return datetime.combine(local.date(), time(0, 0), tzinfo=config.newsletter.zone)


def gather_articles(
    config: Config,
    warn: Warn,
    *,
    engine: Engine | None = None,
    fetcher: Fetcher | None = None,
    now: datetime | None = None,
    timings: Timings = NO_TIMINGS,
    signatures: dict[str, bytes | None] | None = None,
    ingest: Ingest = ingest_feeds,
    left_out: LeftOut | None = None,
    on_articles: Callable[[Sequence[Article]], None] | None = None,
) -> list[Article]:
    """Seeds, then feeds (feeds need the state database: their validators and health)."""
    articles = read_seeds(config.seeds_dir, warn)
    if engine is not None and now is not None and config.feeds:
        fetcher = fetcher or default_fetcher(config)
        articles += ingest(
            config,
            engine,
            fetcher,
            now,
            warn,
            timings,
            signatures,
            left_out=left_out,
            on_articles=on_articles,
        )
    return articles


@contextlib.contextmanager
def long_lived_heap() -> Iterator[None]:
    """Keep the garbage collector's full passes off what lives to the end of the run: the
    modules imported so far now, and the day's articles once gathered (``_build``).
    A full pass walks every tracked object: on the benchmark's 10,000-entry day two of them,
    about 45 ms each, stalled the fetch's event loop and the stages after the parse. Frozen
    objects are still freed when unreferenced; at the end they go back to the collector (a
    scheduler daemon runs many days in one process)."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def gather_stories(
    config: Config,
    engine: Engine,
    fetcher: Fetcher | None,
    now: datetime,
    warn: Warn,
    except_slot: str,
    timings: Timings = NO_TIMINGS,
    ingest: Ingest = ingest_feeds,
    left_out: LeftOut | None = None,
    on_articles: Callable[[Sequence[Article]], None] | None = None,
) -> list[Story]:
    """New articles only (not published before under any id or URL), one per story.
    ``left_out`` gets the counts of what was left out as too old and already published;
    ``on_articles``, feed articles as they are parsed (see ``ingest_feeds``)."""
    signatures: dict[str, bytes | None] = {}  # near-duplicate signatures from parse workers
    articles = gather_articles(
        config,
        warn,
        engine=engine,
        fetcher=fetcher,
        now=now,
        timings=timings,
        signatures=signatures,
        ingest=ingest,
        left_out=left_out,
        on_articles=on_articles,
    )
    if not articles:  # a day of 304s: no need to read back every id ever published
        return []
    seen = state.published_article_ids(engine, config.newsletter.name, except_slot=except_slot)
    fresh = drop_published(engine, articles, seen)
    if left_out is not None:
        left_out.published = len(articles) - len(fresh)
    with timed(timings, "dedup"):
        return dedupe(fresh, known=signatures)


def compose_issue(
    config: Config,
    articles: Sequence[Article],
    *,
    number: int,
    slot: datetime,
    summarizer: Summarizer | None = None,
    duplicates: Sequence[Article] = (),
    left_out: LeftOut | None = None,
) -> Issue:
    """The issue for ``articles``; it lists the articles its items cite (among ``articles``
    and their ``duplicates``, the other outlets' copies merged into them). ``left_out``
    gets how many articles the digest left out as off-topic."""
    summarizer = summarizer or ExtractiveSummarizer(config.summary)
    digest = summarizer(articles, config.sections, config.newsletter.language)
    # Each citation must hold: checked against the texts of merged copies too (issue 12).
    digest = checked(digest, [*articles, *duplicates], config.newsletter.language)
    if left_out is not None:
        left_out.off_topic = digest.off_topic
    day = slot.date()
    items = digest.lead + tuple(i for s in digest.sections for i in s.items)
    headline = items[0].sources[0].title if items else "no news in today's sections"
    subject = display_safe(
        config.newsletter.subject.format(
            name=config.newsletter.name,
            date=f"{day.day} {day:%B %Y}",
            number=number,
            headline=headline,
        )
    )
    return Issue(
        newsletter=config.newsletter.name,
        number=number,
        date=day,
        slot=slot,
        subject=subject,
        lead=digest.lead,
        sections=digest.sections,
        articles=cited_articles(digest, [*articles, *duplicates]),
    )


def cited_articles(digest: Digest, articles: Sequence[Article]) -> tuple[Article, ...]:
    """The articles some item cites, each once, by date then id (not in the order given:
    the same articles in another order make the same issue.json)."""
    cited = {s for item in digest.lead for s in item.sources}
    cited |= {s for section in digest.sections for item in section.items for s in item.sources}
    # (title, url) first: building every article's Source costs more on a big day.
    keys = {(s.title, s.url) for s in cited}
    unique = {a.id: a for a in reversed(articles) if (a.title, a.url) in keys and a.source in cited}
    chosen = [a for a in articles if unique.get(a.id) is a]
    return tuple(sorted(chosen, key=lambda a: (_when(a.published), a.id)))


def _when(moment: datetime | None) -> str:
    return moment.isoformat() if moment else ""


def issue_files(rendered: RenderedIssue, config: Config, now: datetime) -> dict[str, bytes]:
    message = build_message(rendered, config, sent_at=now)
    document = json.dumps(issue_json(rendered.issue), ensure_ascii=False, indent=2) + "\n"
    return {
        "issue.html": rendered.html.encode("utf-8"),
        "issue.txt": rendered.text.encode("utf-8"),
        "issue.eml": message_bytes(message),
        "issue.json": document.encode("utf-8"),
    }


def run(
    config: Config,
    *,
    now: datetime,
    warn: Warn,
    slot: datetime | None = None,
    new_edition: bool = False,
    allow_empty: bool = False,
    summarizer: Summarizer | None = None,
    checkpoint: Checkpoint = _no_checkpoint,
    fetcher: Fetcher | None = None,
    timings: Timings = NO_TIMINGS,
    ingest: Ingest = ingest_feeds,
) -> RunResult:
    """Build and write the issue for ``slot`` (default: today), exactly once. Each stage's
    wall time is reported to ``timings`` (see ``newsletter.timings``)."""
    slot = slot or slot_for(now, config)
    summarizer = summarizer or build_summarizer(config.summary, warn, post=post_json)
    templates = load_templates(config.templates_dir)  # fail on a broken template before claiming
    with long_lived_heap(), state.connect(config.state_dir, config.state.url) as engine:
        claim = state.claim_issue(
            engine,
            config.newsletter.name,
            state.slot_key(slot),
            owner=state.owner_token(),
            now=now,
            new_edition=new_edition,
        )
        if isinstance(claim, state.AlreadyDone):
            return RunResult(
                "exists",
                slot,
                claim.record.number,
                Path(claim.record.path) if claim.record.path else None,
                f"issue #{claim.record.number} for {slot.date()} is already in "
                f"{claim.record.path}; pass --new-edition to build another",
            )
        if isinstance(claim, state.Busy):
            return RunResult(
                "busy",
                slot,
                claim.record.number,
                None,
                f"issue #{claim.record.number} for {slot.date()} is being built by another "
                f"run ({claim.record.owner}); nothing to do",
            )
        try:
            checkpoint("claimed")
            return _build(
                config,
                engine,
                claim,
                slot,
                now,
                warn,
                allow_empty,
                summarizer,
                templates,
                checkpoint,
                fetcher,
                timings,
                ingest,
            )
        except BaseException as e:
            written = (config.outbox_dir / _folder_name(config, slot, claim.record)).exists()
            reason = f"{type(e).__name__}: {e}"
            state.release_issue(engine, claim.record, "failed", reason, written=written)
            raise


def _build(
    config: Config,
    engine: Engine,
    claim: state.Claimed,
    slot: datetime,
    now: datetime,
    warn: Warn,
    allow_empty: bool,
    summarizer: Summarizer,
    templates: Templates,
    checkpoint: Checkpoint,
    fetcher: Fetcher | None = None,
    timings: Timings = NO_TIMINGS,
    ingest: Ingest = ingest_feeds,
) -> RunResult:
    record = claim.record
    outbox = config.outbox_dir
    name = _folder_name(config, slot, record)
    clean_staging(outbox, name=name)  # we hold the claim: staging of this issue is a dead run's
    recovered = _recover(outbox / name, record) if claim.taken_over else None
    if recovered is not None:
        counts = _finish(engine, record, recovered, now, outbox / name)
        message = f"issue #{record.number} recovered: a run that died had written it"
        return RunResult("written", slot, record.number, outbox / name, message, *counts)
    left_out = LeftOut()
    # The summarizer may judge the articles while the parse workers finish (ingest_feeds).
    prime = getattr(summarizer, "prime", None)
    sections, language = config.sections, config.newsletter.language
    stories = gather_stories(
        config,
        engine,
        fetcher,
        now,
        warn,
        record.slot,
        timings,
        ingest,
        left_out,
        on_articles=(lambda batch: prime(batch, sections, language)) if prime else None,
    )
    articles = [story.article for story in stories]
    gc.freeze()  # the day's articles live to the end of the run (see long_lived_heap)
    checkpoint("gathered")
    if not articles and not allow_empty:
        log.info(left_out.line(config.fetch.max_age_days))
        reason = _why_nothing(config, engine, record.slot)
        state.release_issue(engine, record, "skipped", reason)
        return RunResult("nothing-new", slot, None, None, reason, 0, 0)
    with timed(timings, "summarize"):
        duplicates = [a for story in stories for a in story.merged]
        issue = compose_issue(
            config,
            articles,
            number=record.number,
            slot=slot,
            summarizer=summarizer,
            duplicates=duplicates,
            left_out=left_out,
        )
    log.info(left_out.line(config.fetch.max_age_days))
    checkpoint("summarized")
    if not issue.item_count and not allow_empty:
        # An issue without items would mark every article published and mail an empty issue.
        reason = (
            f"{len(articles)} new articles, none on topic for any section; "
            "check [summary] topic_keywords and [[sections]] in newsletter.toml"
        )
        state.release_issue(engine, record, "skipped", reason)
        return RunResult("nothing-new", slot, None, None, reason, len(articles), 0)
    with timed(timings, "render"):
        rendered = render_or_drop(issue, config, templates, warn)
    issue = rendered.issue  # without any article whose content broke the email
    checkpoint("rendered")
    if rendered.omitted_count:
        warn(f"{rendered.omitted_count} items left out of the HTML to stay under Gmail's clip size")
    with timed(timings, "write"):
        files = issue_files(rendered, config, now)
        path = write_issue(outbox, name, files, before_rename=lambda: checkpoint("staged"))
    checkpoint("written")
    # issue.json lists the articles the issue cites; every article this run considered (and
    # every duplicate merged into one) is recorded as published, so none comes back later.
    considered = [i for story in stories for i in story.ids]
    with timed(timings, "record"):
        counts = _finish(engine, record, issue_json(issue), now, path, considered, len(articles))
    checkpoint("finished")
    message = f"issue #{record.number} written"
    return RunResult("written", slot, record.number, path, message, *counts)


def _why_nothing(config: Config, engine: Engine, except_slot: str) -> str:
    """Why a run found no new article, in one line (no run lies that it was all published)."""
    has_seeds = config.seeds_dir.is_dir() and any(config.seeds_dir.glob("*.*"))
    if not config.feeds and not has_seeds:  # a new project
        return f"nothing to read yet: add .txt or .md files to {config.seeds_dir} or [[feeds]]"
    if state.has_published(engine, config.newsletter.name, except_slot=except_slot):
        return "nothing new since the last issue: every article was already published"
    age = config.fetch.max_age_days
    limit = f"entries older than [fetch] max_age_days = {age} are left out, " if age else ""
    return (
        f"the sources brought no article ({limit}failed feeds bring none); see `newsletter feeds`"
    )


def _folder_name(config: Config, slot: datetime, record: state.IssueRecord) -> str:
    return issue_folder_name(slot_label(slot), config.newsletter.folder_slug, record.edition)


def slot_label(slot: datetime) -> str:
    """The slot as it names a folder: the date, plus the local time unless it is midnight."""
    day = slot.date().isoformat()
    if slot.second:
        return f"{day}-{slot:%H%M%S}"
    if slot.hour or slot.minute:
        return f"{day}-{slot:%H%M}"
    return day


def _recover(folder: Path, record: state.IssueRecord) -> dict[str, object] | None:
    """A run that died after writing its folder but before recording it: adopt the folder."""
    data = read_issue_json(folder)
    if data and data.get("number") == record.number:
        return data
    return None


def _finish(
    engine: Engine,
    record: state.IssueRecord,
    data: dict[str, object],
    now: datetime,
    path: Path | None = None,
    considered_ids: Sequence[str] = (),
    articles_in: int | None = None,
) -> tuple[int, int]:
    """Record the issue as done, with the articles it cites and those it considered as
    published; returns (articles in, items out). A recovered issue (its run died after
    writing it) knows only the articles its issue.json cites."""
    sections = data.get("sections")
    articles = data.get("articles")
    if not isinstance(sections, list) or not isinstance(articles, list):
        raise NewsletterError(f"issue #{record.number}: issue.json lacks sections or articles")
    lead = data.get("lead")
    items = sum(len(s.get("items", [])) for s in sections) + (
        len(lead) if isinstance(lead, list) else 0
    )
    state.finish_issue(
        engine,
        record,
        path=str(path) if path else "",
        subject=str(data.get("subject", "")),
        article_ids=[str(a["id"]) for a in articles] + list(considered_ids),
        articles_in=len(articles) if articles_in is None else articles_in,
        items_out=items,
        now=now,
    )
    return len(articles) if articles_in is None else articles_in, items
