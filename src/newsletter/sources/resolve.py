"""Feed hosts resolved up front, under one short deadline, so a machine without network fails
every feed at once instead of waiting out the connect timeout on each.

Offline, ``getaddrinfo`` either fails at once or, where DNS packets are dropped, hangs for the
resolver's own timeouts (glibc: 5 s per try and server) before the request's connect timeout
(``[fetch] timeout``, 20 s) ends it. Here every distinct host is looked up in daemon threads
(a hung lookup can neither hold up the run nor the interpreter's exit) and whatever has no
answer after ``timeout`` seconds is reported as not resolving. A host behind a proxy from the
environment is not looked up: the proxy resolves it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Mapping
from urllib.request import getproxies, proxy_bypass

from newsletter.sources.netguard import Resolver

DNS_TIMEOUT = 2.0
MAX_THREADS = 16


def proxied(scheme: str, host: str, proxies: Mapping[str, str] | None = None) -> bool:
    """True when httpx (trust_env) would reach ``host`` through a proxy from the environment
    (``proxies``: ``urllib.request.getproxies()``, read once by a caller asking for many
    hosts: it scans the whole environment each time)."""
    proxies = getproxies() if proxies is None else proxies
    if not (proxies.get(scheme) or proxies.get("all")):
        return False
    return not proxy_bypass(host)


def unresolved(
    hosts: Iterable[str], resolver: Resolver, timeout: float = DNS_TIMEOUT
) -> dict[str, str]:
    """host -> why it does not resolve, for each of ``hosts`` that fails or has no answer
    within ``timeout`` seconds in all."""
    todo = list(dict.fromkeys(hosts))
    if not todo:
        return {}
    pending: queue.SimpleQueue[str] = queue.SimpleQueue()
    for host in todo:
        pending.put(host)
    answers: dict[str, str | None] = {}
    lock = threading.Lock()
    finished = threading.Event()

    def work() -> None:
        while True:
            try:
                host = pending.get_nowait()
            except queue.Empty:
                return
            try:
                resolver(host)
                reason = None
            except Exception as e:  # the resolver's own one-line reason
                reason = str(e) or f"cannot resolve {host}"
            with lock:
                answers[host] = reason
                if len(answers) == len(todo):
                    finished.set()

    for _ in range(min(MAX_THREADS, len(todo))):
        threading.Thread(target=work, name="resolve", daemon=True).start()
    finished.wait(timeout)
    with lock:
        failed = {host: reason for host, reason in answers.items() if reason is not None}
        for host in todo:
            if host not in answers:
                failed[host] = f"cannot resolve {host}: no answer from DNS within {timeout:g} s"
    return failed
