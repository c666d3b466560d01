"""An optional backend: an OpenAI-compatible chat endpoint rewrites the extractive digest.

The extractive summarizer picks the facts; the model only condenses each section's (and the
lead's) chosen sentences into fewer, shorter ones. Nothing the model writes is trusted: a
sentence is kept only when enough of its content words appear in one of the source
sentences it was given (``[summary] llm_min_support``), and it cites that sentence's
sources. Any network error, timeout or malformed answer falls back to the extractive digest
with one warning line.

The digest does no I/O of its own: the composition (``pipeline``) passes a ``PostJson`` that
does the HTTP request (``pipeline.post_json``, httpx).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from newsletter.config import SectionSettings, SummarySettings
from newsletter.digest.lexicon import stems
from newsletter.digest.sentences import split_sentences
from newsletter.digest.summarizer import Summarizer
from newsletter.errors import Warn
from newsletter.model import Article, Digest, Item, Source

_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s*")
_SYSTEM = (
    "You are the editor of a daily news briefing. Rewrite the numbered source sentences "
    "into at most {n} short, plain, factual sentences for the part titled '{title}'. "
    "Use only facts stated in the sources, in their words where you can; add nothing, "
    "no opinion, no numbering, no citations. Answer with the sentences only, one per line."
)


class LLMError(Exception):
    """The endpoint failed or answered something unusable."""


PostJson = Callable[[str, Mapping[str, Any], Mapping[str, str], float], Any]
"""``post(url, body, headers, timeout)``: POST ``body`` as JSON, return the decoded JSON answer.
Raises ``LLMError`` (one line: no answer in time, an HTTP error status, a connection error) or
``ValueError`` (the answer is not JSON)."""


class LLMSummarizer:
    def __init__(
        self,
        settings: SummarySettings,
        warn: Warn,
        base: Summarizer,
        *,
        env: Mapping[str, str],
        post: PostJson,
    ) -> None:
        if not settings.llm_url or not settings.llm_model:
            raise ValueError("the llm backend needs llm_url and llm_model")
        self.url = _endpoint(settings.llm_url)
        self.model = settings.llm_model
        self.timeout = settings.llm_timeout
        self.min_support = settings.llm_min_support
        key = env.get(settings.llm_api_key_env) if settings.llm_api_key_env else None
        self.headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.warn = warn
        self.base = base
        self.post = post

    def prime(
        self, articles: Sequence[Article], sections: Sequence[SectionSettings], language: str
    ) -> None:
        """The extractive digest it rewrites judges the articles ahead (summarizer.py)."""
        prime = getattr(self.base, "prime", None)
        if prime is not None:
            prime(articles, sections, language)

    def __call__(
        self, articles: Sequence[Article], sections: Sequence[SectionSettings], language: str
    ) -> Digest:
        digest = self.base(articles, sections, language)
        try:
            lead = self._rewrite(digest.lead, "The day in brief", language)
            rewritten = tuple(
                replace(s, items=self._rewrite(s.items, s.title, language)) for s in digest.sections
            )
        except LLMError as e:
            self.warn(f"llm summarizer {self.url}: {e}; using the extractive summary")
            return digest
        return Digest(lead=lead, sections=rewritten)

    def _rewrite(self, items: tuple[Item, ...], title: str, language: str) -> tuple[Item, ...]:
        if not items:
            return items
        answer = self._ask(items, title)
        kept = []
        for line in answer.splitlines():
            for sentence in split_sentences(_BULLET.sub("", line), language):
                item = supported(sentence, items, self.min_support, language)
                if item is not None:
                    kept.append(item)
        budget = sum(len(i.text.split()) for i in items)
        out: list[Item] = []
        for item in kept:
            if sum(len(i.text.split()) for i in out) + len(item.text.split()) <= budget:
                out.append(item)
        return tuple(out) or items

    def _ask(self, items: tuple[Item, ...], title: str) -> str:
        numbered = "\n".join(f"{n}. {item.text}" for n, item in enumerate(items, 1))
        body: dict[str, Any] = {
            "model": self.model,
            "temperature": 0,
            "messages": [
                {"role": "system", "content": _SYSTEM.format(n=len(items), title=title)},
                {"role": "user", "content": numbered},
            ],
        }
        try:
            answer = self.post(self.url, body, self.headers, self.timeout)
            content = answer["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise LLMError("the answer is not an OpenAI-style chat completion") from None
        if not isinstance(content, str):
            raise LLMError("the answer has no text content")
        return content  # an empty answer keeps that part's extractive items


def _endpoint(url: str) -> str:
    """Accept the server root, its /v1, or the full chat completions URL."""
    url = url.rstrip("/")
    if url.endswith("/chat/completions"):
        return url
    return url + ("/chat/completions" if url.endswith("/v1") else "/v1/chat/completions")


def supported(
    sentence: str, items: Sequence[Item], min_support: float, language: str = "en"
) -> Item | None:
    """``sentence`` as an item citing the sources of every given item that supports it
    (that holds at least ``min_support`` of its content words), or None if none does."""
    words = set(stems(sentence, language))
    if len(words) < 3:
        return None
    sources: list[Source] = []
    for item in items:
        overlap = len(words & set(stems(item.text, language))) / len(words)
        if overlap >= min_support:
            sources.extend(s for s in item.sources if s not in sources)
    if not sources:
        return None
    return Item(text=sentence.strip(), sources=tuple(sources), score=0.0)
