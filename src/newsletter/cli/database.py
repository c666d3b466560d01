"""`newsletter db`: the state database's schema revision."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from newsletter.cli.common import (
    EXIT_FAILED,
    _load,
    config_option,
)
from newsletter.errors import NewsletterError


@click.group("db")
def db() -> None:
    """The state database's schema: see where it stands, upgrade it."""


@db.command("upgrade")
@config_option
def db_upgrade(config_path: Path) -> None:
    """Create the state database, or bring its schema to this version's revision.
    (run, schedule and worker do this on start; status and feeds never do.)"""
    from newsletter.store import state

    config = _load(config_path)
    try:
        where, before, after = state.upgrade_database(config.state_dir, config.state.url)
    except NewsletterError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(EXIT_FAILED)
    if before == after:
        click.echo(f"state database {where} is at revision {after.revision}: nothing to do")
    elif before.empty:
        click.echo(f"state database {where} created at revision {after.revision}")
    else:
        click.echo(
            f"state database {where} upgraded from {before.describe()} to {after.describe()}"
        )


@db.command("current")
@config_option
def db_current(config_path: Path) -> None:
    """Show the state database's revision; exit 1 if it needs `newsletter db upgrade`."""
    from newsletter.store import schema, state

    config = _load(config_path)
    try:
        where, found = state.database_revision(config.state_dir, config.state.url)
    except NewsletterError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(EXIT_FAILED)
    if found.current:
        click.echo(f"state database {where} is at revision {found.revision} (current)")
        return
    if found.empty:
        click.echo(f"no state database yet at {where}: run newsletter run or newsletter db upgrade")
    else:
        click.echo(
            f"state database {where} is at {found.describe()}, this version needs revision "
            f"{schema.HEAD}: run newsletter db upgrade"
        )
    sys.exit(EXIT_FAILED)
