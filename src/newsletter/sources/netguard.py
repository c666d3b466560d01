"""Guards for requests a stranger chose: no private addresses, no inflating past a limit.

URLs from feed content (article pages, every redirect target) must not reach the operator's own
network. The check is made on the address actually connected to: ``GuardedBackend`` resolves
the host once, refuses the connection if any answer is loopback, private, link-local, multicast,
unspecified or reserved (IPv4, IPv6 and IPv4-mapped IPv6), then connects to the very address it
checked; TLS SNI and the ``Host`` header still carry the name (httpcore takes them from the URL,
not from the connected address). A DNS answer that changes between check and connect therefore
cannot get through: there is no second lookup.

``Inflater`` undoes ``Content-Encoding`` itself, stacked encodings included, counting bytes as
they come out of each stage (``zlib`` ``max_length``), so a compression bomb is stopped at the
limit rather than after inflating.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import zlib
from collections.abc import Callable, Iterable, Sequence

import httpcore
import httpx

Resolver = Callable[[str], Sequence[str]]
"""host name -> the addresses it resolves to (blocking; run in a thread)."""

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Refused(Exception):
    """A URL or address the guard will not fetch; ``reason`` is one line for the operator."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def system_resolver(host: str) -> list[str]:
    """Every address ``getaddrinfo`` gives for ``host`` (so ``2130706433`` is 127.0.0.1)."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise httpcore.ConnectError(f"cannot resolve {host}: {e.strerror}") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def refusal(address: IPAddress) -> str | None:
    """Why a request may not go to ``address`` (None: a public address, allowed)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return refusal(address.ipv4_mapped)
    for kind, hit in (
        ("an unspecified", address.is_unspecified),
        ("a loopback", address.is_loopback),
        ("a link-local", address.is_link_local),
        ("a multicast", address.is_multicast),
        ("a private", address.is_private),
        ("a reserved", address.is_reserved),
    ):
        if hit:
            return f"{kind} address"
    if not address.is_global:
        return "a non-public address"
    return None


def literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


Policy = Callable[[IPAddress], str | None]
"""address -> why it is refused (None: allowed); ``refusal`` unless a test says otherwise."""


def checked_addresses(host: str, resolver: Resolver, refuse: Policy = refusal) -> list[str]:
    """The addresses of ``host``, all of them public, or ``Refused`` naming the first that is
    not (a name answering one public and one private address is refused: either could be
    connected to)."""
    given = literal(host)
    addresses = [str(given)] if given is not None else list(resolver(host))
    if not addresses:
        raise httpcore.ConnectError(f"cannot resolve {host}: no address")
    for text in addresses:
        address = literal(text)
        why = "not an IP address" if address is None else refuse(address)
        if why is not None:
            named = host if host == text else f"{host} ({text})"
            raise Refused(f"{named} is {why}")
    return addresses


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that connects only to public addresses it checked itself."""

    def __init__(self, resolver: Resolver, refuse: Policy = refusal) -> None:
        self._resolver = resolver
        self._refuse = refuse
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await asyncio.to_thread(checked_addresses, host, self._resolver, self._refuse)
        failure: Exception | None = None
        for address in addresses:
            try:
                stream = await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as e:
                failure = e
                continue
            peer = stream.get_extra_info("server_addr")
            connected = literal(str(peer[0])) if peer else None
            if connected is None or self._refuse(connected) is not None:  # checked: not expected
                await stream.aclose()
                raise Refused(f"{host} connected to a non-public address {peer}")
            return stream
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise Refused(f"unix socket {path} is not a network address")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport, its connection pool given a ``GuardedBackend``. Proxies from the
    environment are not used: a proxy would make the connection, out of the guard's sight."""

    def __init__(
        self,
        resolver: Resolver,
        verify: ssl.SSLContext | bool,
        limits: httpx.Limits,
        refuse: Policy = refusal,
    ) -> None:
        context = (
            verify
            if isinstance(verify, ssl.SSLContext)
            else httpx.create_ssl_context(verify=verify, trust_env=False)
        )
        super().__init__(verify=context, limits=limits, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(resolver, refuse),
        )


class OverLimit(Exception):
    pass


class _Stage:
    """One Content-Encoding undone with zlib, never producing more than asked for."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self.produced = 0
        self._first = True
        if encoding in ("gzip", "x-gzip"):
            self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._z = zlib.decompressobj(zlib.MAX_WBITS)
        else:
            raise ValueError(encoding)

    def feed(self, data: bytes, room: int) -> bytes:
        """Inflate ``data``; OverLimit as soon as the output would exceed ``room`` bytes."""
        try:
            out = self._z.decompress(data, room + 1)
        except zlib.error:
            if not (self._first and self.encoding == "deflate"):
                raise
            self._z = zlib.decompressobj(-zlib.MAX_WBITS)  # deflate sent raw, as some servers do
            out = self._z.decompress(data, room + 1)
        self._first = False
        if len(out) > room or self._z.unconsumed_tail:
            raise OverLimit
        self.produced += len(out)
        return out

    def finish(self, room: int) -> bytes:
        out = self._z.flush(room + 1) if not self._z.eof else b""
        if len(out) > room:
            raise OverLimit
        self.produced += len(out)
        return out


SUPPORTED_ENCODINGS = "gzip, deflate"


class Inflater:
    """Undoes a (possibly stacked) Content-Encoding chunk by chunk; no stage may produce more
    than ``cap`` bytes in total. ``ValueError`` for an encoding it does not know."""

    def __init__(self, content_encoding: str, cap: int) -> None:
        names = [e.strip().lower() for e in content_encoding.split(",")]
        self._stages = [_Stage(e) for e in reversed(names) if e and e != "identity"]
        self._cap = cap
        self.size = 0

    def feed(self, data: bytes) -> bytes:
        for stage in self._stages:
            if not data:
                return b""
            data = stage.feed(data, self._cap - stage.produced)
        return self._count(data)

    def finish(self) -> bytes:
        tail = b""
        for stage in self._stages:
            if tail:
                tail = stage.feed(tail, self._cap - stage.produced)
            tail += stage.finish(self._cap - stage.produced)
        return self._count(tail)

    def _count(self, data: bytes) -> bytes:
        self.size += len(data)
        if self.size > self._cap:
            raise OverLimit
        return data
