"""Fetch: feed URLs -> bytes, concurrently, under limits a hostile server cannot stretch.

Every request has a connect/read timeout AND an overall deadline (a server that trickles one
byte a second never trips a read timeout), a body cap enforced while streaming (on the decoded
bytes, so a gzip bomb is cut off too), at most ``max_redirects`` redirects with loops reported,
conditional GET with the stored validators, and an honest ``User-Agent``. ``file:`` URLs are
read from disk under the same size cap. A failure is a ``FetchResult`` with ``error`` set, never
an exception: one bad feed must not cost the run.

URLs a stranger chose (``FetchRequest.trusted`` false: article pages; and every redirect target,
even of a trusted feed URL) go only to public addresses (see ``netguard``), only over http(s),
and never from https down to http. Bodies are decompressed here, not by httpx, so the cap holds
while they inflate, across stacked encodings.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import zlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit
from urllib.request import getproxies

import httpx

from newsletter import USER_AGENT
from newsletter.sources.caching import freshness
from newsletter.sources.localfiles import LocalFileError, read_regular_file
from newsletter.sources.netguard import (
    SUPPORTED_ENCODINGS,
    GuardedTransport,
    Inflater,
    OverLimit,
    Refused,
    Resolver,
    system_resolver,
)

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
    allow_private_networks: bool = False  # True: URLs from feeds may reach private addresses
    dns_timeout: float = 2.0  # every feed host resolved within this, or failed (resolve.py)


@dataclass(frozen=True)
class FetchRequest:
    url: str
    etag: str | None = None
    last_modified: str | None = None
    # False for a URL taken from feed content (an article page): it must pass the private
    # network guard. A trusted URL (the operator's) is fetched as written; its redirects are not.
    trusted: bool = True
    max_bytes: int | None = None  # this request's own cap (default: the fetcher's)
    deadline: float | None = None  # this request's own overall limit in seconds


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
    fresh_for: float | None = None  # seconds the answer stays fresh (Cache-Control, Expires)
    error: str | None = None
    guarded: bool = False  # stopped by a guard or a limit (not merely a failing server)

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def ok(self) -> bool:
        return self.error is None and self.body is not None


OnResult = Callable[[int, FetchResult], "bool | None"]


class Fetcher(Protocol):
    """Anything that turns requests into results, one result per request, in order.
    ``on_result(index, result)``, if given, is called as each one arrives (to start parsing
    while the rest are still on the wire); it must not block. When it returns True it has
    taken the body: the fetcher may then return that result without it (``body=b""``), so
    bodies need not pile up until the last fetch is over."""

    def fetch_all(
        self, requests: Sequence[FetchRequest], on_result: OnResult | None = None
    ) -> list[FetchResult]: ...


class _Failed(Exception):
    def __init__(self, reason: str, status: int | None = None, guarded: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.guarded = guarded


_ALLOW_HINT = "set [fetch] allow_private_networks = true to allow"


def megabytes(n: int) -> str:
    return f"{n / 1_000_000:g} MB"


@dataclass(frozen=True)
class HttpFetcher:
    """The real fetcher: httpx over asyncio for http(s), the disk for file: URLs."""

    limits: FetchLimits = FetchLimits()
    # TLS verification: True builds a fresh context per fetch_all (tens of ms to load the CA
    # bundle); a worker fetching one feed per task passes one SSLContext it keeps.
    verify: ssl.SSLContext | bool = True
    resolver: Resolver = system_resolver  # host -> addresses, for URLs that must be public

    def fetch_all(
        self, requests: Sequence[FetchRequest], on_result: OnResult | None = None
    ) -> list[FetchResult]:
        results: list[FetchResult | None] = [None] * len(requests)
        remote: list[int] = []
        for i, request in enumerate(requests):
            if request.url.lower().startswith("file:"):
                if request.trusted:
                    local = read_local(request, self.limits.max_bytes)
                else:
                    reason = f"{request.url} refused: only http and https URLs are fetched"
                    local = FetchResult(request, error=reason, guarded=True)
                if on_result and on_result(i, local) and local.body:
                    local = replace(local, body=b"")
                results[i] = local
            else:
                remote.append(i)
        remote = self._resolvable(requests, remote, results, on_result)
        if remote:
            fetched = asyncio.run(self._fetch_remote(requests, remote, on_result))
            for i, result in zip(remote, fetched, strict=True):
                results[i] = result
        return [r for r in results if r is not None]

    def _resolvable(
        self,
        requests: Sequence[FetchRequest],
        indexes: list[int],
        results: list[FetchResult | None],
        on_result: OnResult | None,
    ) -> list[int]:
        """``indexes`` but the trusted requests whose host does not resolve in time: those
        get their error now (sources/resolve.py)."""
        from newsletter.sources.resolve import proxied, unresolved

        hosts: dict[int, str] = {}
        proxies = getproxies()
        for i in indexes:
            parts = urlsplit(requests[i].url)
            if (
                requests[i].trusted
                and parts.hostname
                and not proxied(parts.scheme, parts.hostname, proxies)
            ):
                hosts[i] = parts.hostname
        failed = unresolved(hosts.values(), self.resolver, self.limits.dns_timeout)
        if not failed:
            return indexes
        kept = []
        for i in indexes:
            reason = failed.get(hosts.get(i, ""))
            if reason is None:
                kept.append(i)
                continue
            failure = FetchResult(requests[i], error=f"network error: {reason}")
            results[i] = failure
            if on_result:
                on_result(i, failure)
        return kept

    async def _fetch_remote(
        self, requests: Sequence[FetchRequest], indexes: list[int], on_result: OnResult | None
    ) -> list[FetchResult]:
        limits = self.limits
        gate = asyncio.Semaphore(limits.concurrency)
        pool = httpx.Limits(
            max_connections=limits.concurrency, max_keepalive_connections=limits.concurrency
        )
        options = {
            "timeout": httpx.Timeout(limits.timeout),
            "headers": {
                "User-Agent": limits.user_agent,
                "Accept": ACCEPT,
                "Accept-Encoding": SUPPORTED_ENCODINGS,
            },
            "follow_redirects": False,
        }
        # A TLS context is built on the first https URL, then shared by every client.
        verify: ssl.SSLContext | bool | _LazyContext = self.verify
        if verify is True:
            verify = _LazyContext()
        guard = None if limits.allow_private_networks else (self.resolver, pool)
        async with _Clients(pool, options, verify, guard) as clients:
            jobs = (self._reported(clients, gate, requests[i], i, on_result) for i in indexes)
            return list(await asyncio.gather(*jobs))

    async def _reported(
        self,
        client: _Clients,
        gate: asyncio.Semaphore,
        request: FetchRequest,
        index: int,
        on_result: OnResult | None,
    ) -> FetchResult:
        async with gate:
            result = await self._one(client, request)
        if on_result and on_result(index, result) and result.body:
            return replace(result, body=b"")  # taken: the caller holds it now, not us
        return result

    async def _one(self, client: _Clients, request: FetchRequest) -> FetchResult:
        limits = self.limits
        deadline = request.deadline or limits.deadline
        try:
            async with asyncio.timeout(deadline):
                return await self._follow(client, request)
        except TimeoutError:
            reason = f"no complete answer within {deadline:g} s (server too slow)"
            return FetchResult(request, error=reason, guarded=True)
        except httpx.TimeoutException:
            reason = f"timed out after {limits.timeout:g} s waiting for the server"
        except _Failed as e:
            return FetchResult(request, status=e.status, error=e.reason, guarded=e.guarded)
        except httpx.InvalidURL as e:
            reason = f"invalid URL: {e}"
        except httpx.HTTPError as e:
            reason = f"network error: {type(e).__name__}: {e}".rstrip(": ")
        return FetchResult(request, error=reason)

    async def _follow(self, clients: _Clients, request: FetchRequest) -> FetchResult:
        url, seen, permanent = request.url, [request.url], True
        headers = {}
        if request.etag:
            headers["If-None-Match"] = request.etag
        if request.last_modified:
            headers["If-Modified-Since"] = request.last_modified
        if not request.trusted:
            _check_scheme(url, None)
        while True:
            async with _opened(clients, url, headers, request.trusted, len(seen) - 1) as response:
                location = response.headers.get("location")
                if response.status_code in _REDIRECTS and location:
                    target = str(response.url.join(location))
                    if target in seen:
                        raise _Failed(f"redirect loop: {' -> '.join([*seen, target])}")
                    if len(seen) > self.limits.max_redirects:
                        limit = self.limits.max_redirects
                        raise _Failed(
                            f"more than {limit} redirects (fetch.max_redirects)", None, True
                        )
                    _check_scheme(target, url)
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
            fresh_for=freshness(headers),
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
        return replace(base, body=await self._read(response, request.max_bytes))

    async def _read(self, response: httpx.Response, max_bytes: int | None = None) -> bytes:
        """The body, decompressed here as it arrives: every stage of a stacked encoding is
        counted against the cap while it inflates (httpx would inflate a whole chunk first)."""
        cap = max_bytes or self.limits.max_bytes
        status = response.status_code
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise _Failed(
                f"body of {int(declared):,} bytes is over the {megabytes(cap)} limit",
                status,
                guarded=True,
            )
        encoding = response.headers.get("content-encoding", "")
        try:
            inflater = Inflater(encoding, cap)
        except ValueError:
            raise _Failed(f"unsupported Content-Encoding: {encoding}", status) from None
        chunks: list[bytes] = []
        try:
            async for raw in response.aiter_raw():
                chunks.append(inflater.feed(raw))
            chunks.append(inflater.finish())
        except OverLimit:
            raise _Failed(f"body is over the {megabytes(cap)} limit", status, True) from None
        except zlib.error as e:
            raise _Failed(f"corrupt {encoding} body: {e}", status) from None
        return b"".join(chunks)


class _LazyContext:
    """The TLS context, built when first asked for (loading the CA bundle takes 15-80 ms: a
    run of plain-http feeds never pays it)."""

    def __init__(self) -> None:
        self._context: ssl.SSLContext | None = None

    def get(self) -> ssl.SSLContext:
        if self._context is None:
            self._context = httpx.create_ssl_context()
        return self._context


class _Clients:
    """The httpx clients of one ``fetch_all``: ``plain`` for the operator's own URLs as
    written, ``guarded`` (through the private-network guard; ``guard`` None: not used) for
    everything else. Each comes in two kinds, for http and with TLS, built on first use: an
    http-only run never builds the TLS context (``_LazyContext``), and an http URL never
    uses a client that would speak TLS without checking the certificate. A proxy from the
    environment may itself be https, so with one set every request takes the TLS kind."""

    def __init__(
        self,
        pool: httpx.Limits,
        options: dict[str, Any],
        verify: ssl.SSLContext | bool | _LazyContext,
        guard: tuple[Resolver, httpx.Limits] | None,
    ) -> None:
        self._pool, self._options, self._verify, self._guard = pool, options, verify, guard
        self._made: dict[tuple[bool, bool], httpx.AsyncClient] = {}
        self._proxied = bool(getproxies())

    def client(self, url: str, guarded: bool) -> httpx.AsyncClient:
        tls = self._proxied or url[:5].lower() != "http:"
        guarded = guarded and self._guard is not None
        key = (guarded, tls)
        made = self._made.get(key)
        if made is None:  # no await before it is stored: one client per kind
            made = self._made[key] = self._make(guarded, tls)
        return made

    def _make(self, guarded: bool, tls: bool) -> httpx.AsyncClient:
        verify: ssl.SSLContext | bool
        if not tls:
            verify = False  # never speaks TLS (http URLs only, no proxy): loads no CA bundle
        elif isinstance(self._verify, _LazyContext):
            verify = self._verify.get()
        else:
            verify = self._verify
        if guarded and self._guard is not None:
            resolver, pool = self._guard
            transport = GuardedTransport(resolver, verify, pool)
            return httpx.AsyncClient(transport=transport, **self._options)
        return httpx.AsyncClient(limits=self._pool, verify=verify, **self._options)

    async def __aenter__(self) -> _Clients:
        return self

    async def __aexit__(self, *exc: object) -> None:
        for made in self._made.values():
            await made.aclose()


@contextlib.asynccontextmanager
async def _opened(
    clients: _Clients, url: str, headers: dict[str, str], trusted: bool, hop: int
) -> AsyncIterator[httpx.Response]:
    """One GET, streamed: a trusted request's own URL as written, anything else (a redirect
    target is never trusted: ``hop`` > 0) through the private-network guard."""
    client = clients.client(url, guarded=not (trusted and hop == 0))
    try:
        async with client.stream("GET", url, headers=headers) as response:
            yield response
    except Refused as e:
        what = f"redirect to {url}" if hop else url
        raise _Failed(f"{what} refused: {e.reason}; {_ALLOW_HINT}", guarded=True) from None


def _check_scheme(target: str, source: str | None) -> None:
    """Only http(s); and never from https down to http (a lasting TLS downgrade if recorded)."""
    scheme = urlsplit(target).scheme.lower()
    if scheme not in ("http", "https"):
        what = target if source is None else f"redirect to {target}"
        raise _Failed(f"{what} refused: only http and https URLs are fetched", guarded=True)
    if source is not None and scheme == "http" and urlsplit(source).scheme.lower() == "https":
        raise _Failed(
            f"redirect from {source} to {target} refused: it would leave https for http",
            guarded=True,
        )


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
    """A ``file:`` URL: a regular file in its own folder (a symlink leading out of it, a FIFO
    or a device is refused), its size checked before reading, under the download cap."""
    path = Path(unquote(urlsplit(request.url).path))
    try:
        body = read_regular_file(path, path.parent, max_bytes)
    except LocalFileError as e:
        return FetchResult(request, error=e.reason, guarded=True)
    return FetchResult(request, status=200, body=body, final_url=request.url)
