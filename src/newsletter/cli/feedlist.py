"""`newsletter feeds`: the feeds' health, and OPML in and out."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from newsletter.cli.common import (
    EXIT_FAILED,
    EXIT_USAGE,
    _load,
    _now,
    _state_errors,
    _warn,
    config_option,
    log,
    quiet,
)
from newsletter.errors import ConfigError, NewsletterError


@click.group("feeds", invoke_without_command=True)
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON (one object per feed).")
@click.pass_context
def feeds(ctx: click.Context, config_path: Path, as_json: bool) -> None:
    """List every feed with its health: broken ones first. `feeds import FILE.opml` and
    `feeds export` move subscription lists in and out as OPML."""
    if ctx.invoked_subcommand is not None:
        return
    from newsletter.sources.ingest import feed_health
    from newsletter.status import feed_table
    from newsletter.store import state

    config = _load(config_path)
    try:
        with (
            _state_errors(config),
            state.connect(config.state_dir, config.state.url, upgrade=False) as engine,
        ):
            rows = feed_health(config, engine)
    except NewsletterError as e:
        log().error(str(e))
        sys.exit(EXIT_FAILED)
    if as_json:
        import json

        click.echo(json.dumps([r.as_json() for r in rows], ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo(f"{config_path}: no [[feeds]] configured")
        return
    for line in feed_table([r.as_json() for r in rows]):
        click.echo(line)
    if config.distributed:  # who fetches them: the workers seen and what waits in the queue
        from newsletter.distributed.status import fleet, fleet_lines

        found = fleet(config)
        if found is not None:
            click.echo("")
            for line in fleet_lines(found.as_json()):
                click.echo(line)


def _feeds_config(ctx: click.Context, config_path: Path) -> Path:
    """The subcommand's --config, or the one given to `feeds` before it."""
    if ctx.get_parameter_source("config_path") is click.core.ParameterSource.DEFAULT:
        parent = ctx.parent.params.get("config_path") if ctx.parent else None
        return Path(parent) if parent else config_path
    return config_path


@feeds.command("import")
@config_option
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.pass_context
def feeds_import(ctx: click.Context, config_path: Path, file: Path) -> None:
    """Add the feeds of an OPML subscription list to newsletter.toml (comments and order
    kept; feeds already configured are skipped)."""
    from newsletter.sources.opml import import_opml

    config_path = _feeds_config(ctx, config_path)
    try:
        report = import_opml(config_path, file)
    except ConfigError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(EXIT_USAGE)
    if not quiet():
        click.echo(report.summary(file, config_path))


@feeds.command("export")
@config_option
@click.argument("file", required=False, type=click.Path(path_type=Path, dir_okay=False))
@click.pass_context
def feeds_export(ctx: click.Context, config_path: Path, file: Path | None) -> None:
    """Write the configured feeds as OPML 2.0 to FILE (default: standard output)."""
    from newsletter.sources.opml import export_opml

    config = _load(_feeds_config(ctx, config_path))
    data, left_out = export_opml(config, _now())
    if left_out:
        _warn(f"{left_out} local feed(s) left out of the OPML: only http(s) feeds are exported")
    if file is None:
        click.echo(data.decode("utf-8"), nl=False)
        return
    try:
        file.write_bytes(data)
    except OSError as e:
        click.echo(f"error: {file}: cannot write: {e.strerror}", err=True)
        sys.exit(EXIT_FAILED)
    if not quiet():
        click.echo(f"{file}: {len(config.feeds) - left_out} feeds written as OPML")
