"""`newsletter status` and `metrics`: what ran, what is next, what is broken."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from newsletter.cli.common import (
    EXIT_FAILED,
    _load,
    _now,
    _state_errors,
    config_option,
    log,
    quiet,
)
from newsletter.errors import NewsletterError


@click.command("status")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document for machines.")
@click.option("--limit", default=10, show_default=True, help="How many recent runs to show.")
@click.option(
    "--check",
    "health_check",
    is_flag=True,
    help="Exit 1 with one line per problem (scheduler down while a [[schedule]] is "
    "configured, the last run failed, unhealthy feeds); exit 0 and print 'ok' otherwise.",
)
def status(config_path: Path, as_json: bool, limit: int, health_check: bool) -> None:
    """Show the last runs, the next scheduled slots, the scheduler and feed health."""
    from newsletter import status as report

    config = _load(config_path)
    try:
        with _state_errors(config):
            found = report.gather(config, _now(), limit=limit)
    except NewsletterError as e:
        log().error(str(e))
        sys.exit(EXIT_FAILED)
    problems = report.problems(config, found) if health_check else []
    if as_json:
        document = report.to_json(found)
        if health_check:
            document["problems"] = problems
        import json

        click.echo(json.dumps(document, ensure_ascii=False, indent=2))
    elif health_check:
        for problem in problems:
            click.echo(f"error: {problem}", err=True)
        if not problems and not quiet():
            click.echo(f"ok: {config.newsletter.name}: no problem found")
    else:
        click.echo(report.to_text(found))
    if problems:
        sys.exit(EXIT_FAILED)


@click.command("metrics")
@config_option
def metrics(config_path: Path) -> None:
    """Print the state database's figures in the Prometheus text format (issues, articles,
    items, feed failures, messages sent and failed, last success per schedule): for
    node_exporter's textfile collector. `newsletter serve` has them at /metrics."""
    from newsletter.metrics import exposition
    from newsletter.store import state

    config = _load(config_path)
    try:
        with (
            _state_errors(config),
            state.connect(config.state_dir, config.state.url, upgrade=False) as engine,
        ):
            text = exposition(config, engine)
    except NewsletterError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(EXIT_FAILED)
    click.echo(text.decode("utf-8"), nl=False)
