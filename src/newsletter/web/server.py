"""Run the subscribers' web service under uvicorn (``newsletter serve``)."""

from __future__ import annotations

import uvicorn

from newsletter.config import Config
from newsletter.web.app import create_app


def serve(config: Config, *, host: str | None = None, port: int | None = None) -> None:
    """Serve until SIGTERM or SIGINT (uvicorn finishes the requests in flight, then stops).

    X-Forwarded-For is read by the app itself, from ``[web] trusted_proxies`` only; uvicorn's
    own proxy-header handling stays off so that it cannot be fed a forged client address."""
    app = create_app(config)
    uvicorn.run(
        app,
        host=host or config.web.host,
        port=config.web.port if port is None else port,
        proxy_headers=False,
        server_header=False,
        access_log=False,
        log_level="warning",
        timeout_graceful_shutdown=10,
    )
