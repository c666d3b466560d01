"""`newsletter run`, `check` and `preview`: build an issue, into the outbox or in memory."""

from __future__ import annotations

import sys
from datetime import date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from newsletter.cli.common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    _load,
    _now,
    _print_failed,
    _print_json,
    _result_line,
    _shown,
    _state_errors,
    _test_pause,
    _warn,
    config_option,
    json_option,
    log,
    quiet,
)
from newsletter.errors import NewsletterError

if TYPE_CHECKING:
    from newsletter.config import Config


@click.command("run")
@config_option
@click.option(
    "--date",
    "day",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Build the issue for this day (YYYY-MM-DD) instead of today.",
)
@click.option(
    "--new-edition",
    is_flag=True,
    help="Build another issue even if today's is already in the outbox (it gets the next "
    "number and a '-2', '-3' folder suffix; nothing is overwritten).",
)
@click.option(
    "--slot",
    "slot_text",
    metavar="ISO",
    help="Build the issue of this slot (e.g. 2025-11-24T07:00:00+02:00), as the scheduler "
    "would; default: the latest [[schedule]] slot, or today without schedules.",
)
@click.option("--allow-empty", is_flag=True, help="Build an issue even when nothing is new.")
@click.option(
    "--no-wait",
    is_flag=True,
    help="Distributed mode ([queue] broker): enqueue the slot's work and return at once.",
)
@json_option
@click.pass_context
def run(
    ctx: click.Context,
    config_path: Path,
    day: datetime | None,
    new_edition: bool,
    slot_text: str | None,
    allow_empty: bool,
    no_wait: bool,
    as_json: bool,
) -> None:
    """Build the current slot's issue into the outbox, once."""
    from newsletter.logs import progress
    from newsletter.schedule.runner import chain, execute

    config = _load(config_path)
    slot = _slot(config, day, slot_text)
    bar = ctx.obj == "text" and sys.stderr.isatty() and not quiet() and not as_json
    if config.distributed:
        sys.exit(
            _run_distributed(config, slot, new_edition, allow_empty, not no_wait, as_json, bar)
        )
    json_command = "run" if as_json else None
    try:
        with (
            _state_errors(config, as_log=True, json_command=json_command),
            progress(bar, config.newsletter.name) as advance,
        ):
            result = execute(
                config,
                trigger="manual",
                clock=_now,
                warn=_warn,
                slot=slot,
                new_edition=new_edition,
                allow_empty=allow_empty,
                checkpoint=chain(advance, _test_pause()),
            )
    except NewsletterError as e:
        if as_json:
            _print_failed("run", str(e))
        sys.exit(EXIT_FAILED)  # execute logged the one-line reason
    except KeyboardInterrupt:
        log().warning("interrupted: the run was abandoned and its slot given back")
        sys.exit(EXIT_INTERRUPTED)
    if as_json:
        from newsletter.results import run_document

        _print_json(run_document(result))
        return
    if quiet():
        return
    if result.status == "written" and result.path is not None:
        click.echo(f"Issue #{result.number} written to {_shown(result.path)}")
    else:
        click.echo(result.message)


def _slot(config: Config, day: datetime | None, slot_text: str | None) -> datetime | None:
    if day is not None and slot_text is not None:
        raise click.UsageError("give --date or --slot, not both")
    if day is not None:
        return datetime.combine(day.date(), time(0, 0), tzinfo=config.newsletter.zone)
    if slot_text is None:
        return None
    try:
        moment = datetime.fromisoformat(slot_text)
    except ValueError:
        raise click.BadParameter(
            f"{slot_text!r} is not an ISO date-time such as 2025-11-24T07:00:00+02:00",
            param_hint="--slot",
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=config.newsletter.zone)
    return moment.astimezone(config.newsletter.zone)


def _run_distributed(
    config: Config,
    slot: datetime | None,
    new_edition: bool,
    allow_empty: bool,
    wait: bool,
    as_json: bool,
    bar: bool,
) -> int:
    from newsletter.distributed.commands import run_command
    from newsletter.logs import counting
    from newsletter.schedule.runner import default_slot

    now = _now()
    with counting("feeds fetched", bar=bar) as progress:
        return run_command(
            config,
            slot=slot or default_slot(config, now),
            now=now,
            allow_empty=allow_empty,
            new_edition=new_edition,
            send=False,
            wait=wait,
            echo=_result_line(as_json),
            error=lambda line: click.echo(f"error: {line}", err=True),
            warn=_warn,
            emit=_print_json if as_json else None,
            progress=progress,
        )


@click.command("check")
@config_option
@json_option
def check(config_path: Path, as_json: bool) -> None:
    """Validate the config and render a sample issue in memory; print each problem."""
    from newsletter.preview import check_project

    config = _load(config_path)
    warnings: list[str] = []

    def warn(line: str) -> None:
        warnings.append(line)
        _warn(line)

    problems = check_project(config, today=date.today(), warn=warn)
    if as_json:
        from newsletter.results import check_document

        _print_json(check_document(config_path, problems, warnings))
        sys.exit(EXIT_FAILED if problems else 0)
    for problem in problems:
        click.echo(f"error: {problem}", err=True)
    if problems:
        sys.exit(EXIT_FAILED)
    click.echo(f"{config_path}: config and templates OK")


@click.command("preview")
@config_option
@click.option("--port", default=8000, show_default=True, help="Port on 127.0.0.1 (0: any free).")
@click.option("--no-feeds", is_flag=True, help="Show the seeds only; fetch no feed.")
def preview(config_path: Path, port: int, no_feeds: bool) -> None:
    """Serve today's issue, built in memory from the seeds and feeds, at
    http://127.0.0.1:PORT; it rebuilds and the page reloads when a template, a seed or the
    config changes. Nothing is written and no state is recorded."""
    from newsletter.web.preview import PreviewState, make_server

    if not 0 <= port <= 65535:
        click.echo(f"error: --port {port} is out of range; give a port from 0 to 65535", err=True)
        sys.exit(EXIT_USAGE)
    _load(config_path)
    try:
        state = (
            PreviewState(config_path, fetcher_for=None) if no_feeds else PreviewState(config_path)
        )
        server = make_server(state, port)
    except OSError as e:
        click.echo(f"error: cannot listen on 127.0.0.1:{port}: {e.strerror}", err=True)
        sys.exit(EXIT_USAGE)
    click.echo(f"Previewing at http://127.0.0.1:{server.server_port}/ (Ctrl+C to stop)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
