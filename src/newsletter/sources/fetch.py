"""Fetch: feed URLs -> bytes, concurrently, under limits a hostile server cannot stretch.

Every request has a connect/read timeout AND an overall deadline (a server that trickles one
byte a second never trips a read timeout), a body cap enforced while streaming (on the decoded
bytes, so a gzip bomb is cut off too), at most ``max_redirects`` redirects with loops reported,
conditional GET with the stored validators, and an honest ``User-Agent``. ``file:`` URLs are
read from disk under the same size cap. A failure is a ``FetchResult`` with ``error`` set, never
an exception: one bad feed must not cost the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

import httpx

from newsletter import USER_AGENT

ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/rdf+xml;q=0.9,"
    " application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, */*;q=0.5"
)
_REDIRECTS = (301, 302, 303, 307, 308)
_PERMANENT = (301, 308)
_DRAIN_MAX = 65_536


@dataclass(frozen=True)
class FetchLimits:
    concurrency: int = 16
    timeout: float = 20.0
    deadline: float = 60.0
    max_bytes: int = 10_000_000
    max_redirects: int = 5
    user_agent: str = USER_AGENT


@dataclass(frozen=True)
class FetchRequest:
    url: str
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True)
class FetchResult:
    """What came back for one request. ``error`` is set when there is nothing to parse."""

    request: FetchRequest
    status: int | None = None  # the HTTP status; None when no answer came (network, deadline)
    body: bytes | None = None
    content_type: str = ""
    final_url: str = ""
    etag: str | None = None
    last_modified: str | None = None
    permanent_url: str | None = None  # where every redirect on the way was 301/308
    retry_after: str | None = None
    error: str | None = None

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def ok(self) -> bool:
        return self.error is None and self.body is not None


OnResult = Callable[[int, FetchResult], None]


class Fetcher(Protocol):
    """Anything that turns requests into results, one result per request, in order.
    ``on_result(index, result)``, if given, is called as each one arrives (to start parsing
    while the rest are still on the wire); it must not block."""

    def fetch_all(
        self, requests: Sequence[FetchRequest], on_result: OnResult | None = None
    ) -> list[FetchResult]: ...


class _Failed(Exception):
    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


def megabytes(n: int) -> str:
    return f"{n / 1_000_000:g} MB"


@dataclass(frozen=True)
class HttpFetcher:
    """The real fetcher: httpx over asyncio for http(s), the disk for file: URLs."""

    limits: FetchLimits = FetchLimits()
    # TLS verification: True builds a fresh context per fetch_all (tens of ms to load the CA
    # bundle); a worker fetching one feed per task passes one SSLContext it keeps.
    verify: ssl.SSLContext | bool = True

    def fetch_all(
        self, requests: Sequence[FetchRequest], on_result: OnResult | None = None
    ) -> list[FetchResult]:
        results: list[FetchResult | None] = [None] * len(requests)
        remote: list[int] = []
        for i, request in enumerate(requests):
            if request.url.startswith("file:"):
                results[i] = local = read_local(request, self.limits.max_bytes)
                if on_result:
                    on_result(i, local)
            else:
                remote.append(i)
        if remote:
            fetched = asyncio.run(self._fetch_remote(requests, remote, on_result))
            for i, result in zip(remote, fetched, strict=True):
                results[i] = result
        return [r for r in results if r is not None]

    async def _fetch_remote(
        self, requests: Sequence[FetchRequest], indexes: list[int], on_result: OnResult | None
    ) -> list[FetchResult]:
        limits = self.limits
        gate = asyncio.Semaphore(limits.concurrency)
        async with httpx.AsyncClient(
            timeout=httpx.Timeout(limits.timeout),
            limits=httpx.Limits(
                max_connections=limits.concurrency, max_keepalive_connections=limits.concurrency
            ),
            headers={"User-Agent": limits.user_agent, "Accept": ACCEPT},
            follow_redirects=False,
            verify=self.verify,
        ) as client:
            jobs = (self._reported(client, gate, requests[i], i, on_result) for i in indexes)
            return list(await asyncio.gather(*jobs))

    async def _reported(
        self,
        client: httpx.AsyncClient,
        gate: asyncio.Semaphore,
        request: FetchRequest,
        index: int,
        on_result: OnResult | None,
    ) -> FetchResult:
        async with gate:
            result = await self._one(client, request)
        if on_result:
            on_result(index, result)
        return result

    async def _one(self, client: httpx.AsyncClient, request: FetchRequest) -> FetchResult:
        limits = self.limits
        try:
            async with asyncio.timeout(limits.deadline):
                return await self._follow(client, request)
        except TimeoutError:
            reason = f"no complete answer within {limits.deadline:g} s (server too slow)"
        except httpx.TimeoutException:
            reason = f"timed out after {limits.timeout:g} s waiting for the server"
        except _Failed as e:
            return FetchResult(request, status=e.status, error=e.reason)
        except httpx.InvalidURL as e:
            reason = f"invalid URL: {e}"
        except httpx.HTTPError as e:
            reason = f"network error: {type(e).__name__}: {e}".rstrip(": ")
        return FetchResult(request, error=reason)

    async def _follow(self, client: httpx.AsyncClient, request: FetchRequest) -> FetchResult:
        url, seen, permanent = request.url, [request.url], True
        headers = {}
        if request.etag:
            headers["If-None-Match"] = request.etag
        if request.last_modified:
            headers["If-Modified-Since"] = request.last_modified
        while True:
            async with client.stream("GET", url, headers=headers) as response:
                location = response.headers.get("location")
                if response.status_code in _REDIRECTS and location:
                    target = str(response.url.join(location))
                    if target in seen:
                        raise _Failed(f"redirect loop: {' -> '.join([*seen, target])}")
                    if len(seen) > self.limits.max_redirects:
                        raise _Failed(f"more than {self.limits.max_redirects} redirects")
                    permanent = permanent and response.status_code in _PERMANENT
                    seen.append(target)
                    await _drain(response)
                    url = target
                    continue
                result = await self._answer(request, response)
                moved = url if permanent and url != request.url else None
                return replace(result, final_url=url, permanent_url=moved)

    async def _answer(self, request: FetchRequest, response: httpx.Response) -> FetchResult:
        headers = response.headers
        base = FetchResult(
            request,
            status=response.status_code,
            content_type=headers.get("content-type", ""),
            etag=headers.get("etag"),
            last_modified=headers.get("last-modified"),
            retry_after=headers.get("retry-after"),
        )
        if response.status_code == 304:
            await _drain(response)
            return base
        if response.status_code >= 400 or response.status_code < 200:
            await _drain(response)
            reason = f"HTTP {response.status_code} {response.reason_phrase}".rstrip()
            if base.retry_after:
                reason += f" (Retry-After: {base.retry_after})"
            return replace(base, error=reason)
        return replace(base, body=await self._read(response))

    async def _read(self, response: httpx.Response) -> bytes:
        cap = self.limits.max_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise _Failed(
                f"body of {int(declared):,} bytes is over the {megabytes(cap)} limit",
                response.status_code,
            )
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > cap:
                raise _Failed(f"body is over the {megabytes(cap)} limit", response.status_code)
            chunks.append(chunk)
        return b"".join(chunks)


async def _drain(response: httpx.Response) -> None:
    """Read a small answer we do not use (a 304, an error page, a redirect) to its end, so the
    connection goes back to the pool for the next request instead of being closed (a new
    connection costs a TCP handshake, a round trip). Only answers that declare at most
    _DRAIN_MAX bytes (a 304 has no body by definition), read raw: never decompressed, never
    more than declared. Anything else is left: closing is cheaper than reading it."""
    declared = response.headers.get("content-length", "")
    if response.status_code == 304 or (declared.isdigit() and int(declared) <= _DRAIN_MAX):
        with contextlib.suppress(httpx.HTTPError):
            async for _ in response.aiter_raw():
                pass


def read_local(request: FetchRequest, max_bytes: int) -> FetchResult:
    """A ``file:`` URL: read from disk, under the same size cap as a download."""
    path = Path(unquote(urlsplit(request.url).path))
    try:
        size = path.stat().st_size
        if size > max_bytes:
            return FetchResult(
                request, error=f"file of {size:,} bytes is over the {megabytes(max_bytes)} limit"
            )
        body = path.read_bytes()
    except OSError as e:
        return FetchResult(request, error=f"cannot read {path}: {e.strerror}")
    return FetchResult(request, status=200, body=body, final_url=request.url)
