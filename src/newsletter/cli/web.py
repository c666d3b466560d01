"""`newsletter serve` and `archive`: the subscribers' web service and the static archive."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from newsletter.cli.common import (
    EXIT_FAILED,
    EXIT_USAGE,
    _load,
    config_option,
)
from newsletter.errors import NewsletterError


@click.command("serve")
@config_option
@click.option("--host", help="Listen address; default: [web] host.")
@click.option("--port", type=click.IntRange(0, 65535), help="Port; default: [web] port.")
def serve(config_path: Path, host: str | None, port: int | None) -> None:
    """Serve the subscribers' web service: sign-up with double opt-in, one-click
    unsubscribe, preferences, the public archive and /health (see docs/web.md)."""
    from newsletter.web.server import serve as run_server

    config = _load(config_path)
    try:
        run_server(config, host=host, port=port)
    except NewsletterError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(EXIT_FAILED)


@click.command("archive")
@config_option
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.option("--base-url", help="The archive's public URL; default: [web] base_url.")
def archive(config_path: Path, directory: Path, base_url: str | None) -> None:
    """Write the public archive as static files into DIRECTORY: index.html, feed.atom and
    issues/N/index.html (web versions, without any personal link)."""
    from newsletter.web.app import pages_environment
    from newsletter.web.archive import write_archive

    config = _load(config_path)
    base = base_url or config.web.base_url
    if not base:
        click.echo(
            "error: the Atom feed needs the archive's public URL: pass --base-url URL or set "
            "[web] base_url in newsletter.toml",
            err=True,
        )
        sys.exit(EXIT_USAGE)
    try:
        count = write_archive(config, pages_environment(), directory, base.rstrip("/") + "/")
    except (NewsletterError, OSError) as e:
        click.echo(f"error: {directory}: {e}", err=True)
        sys.exit(EXIT_FAILED)
    click.echo(f"Archive of {count} issue(s) written to {directory}")
