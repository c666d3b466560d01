"""`newsletter send`: an issue in the outbox to its subscribers."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from newsletter.cli.common import (
    EXIT_FAILED,
    EXIT_USAGE,
    _load,
    _now,
    _print_failed,
    _print_json,
    _result_line,
    _state_errors,
    _warn,
    config_option,
    json_option,
    quiet,
)
from newsletter.errors import NewsletterError

if TYPE_CHECKING:
    from newsletter.config import Config


@click.command("send")
@config_option
@click.argument("issue", required=False)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Write each subscriber's message to ISSUE-FOLDER/dry-run/<email>.eml instead of "
    "sending; the delivery records are not touched.",
)
@click.option(
    "--retry-refused",
    is_flag=True,
    help="Also try again the addresses the server refused permanently (5xx) in an earlier run.",
)
@click.option(
    "--no-wait",
    is_flag=True,
    help="Distributed mode ([queue] broker): enqueue the batches and return at once.",
)
@click.option(
    "--to",
    "test_to",
    metavar="ADDRESS",
    help="Send one test copy (every section) to ADDRESS only; nothing is recorded.",
)
@json_option
def send(
    config_path: Path,
    issue: str | None,
    dry_run: bool,
    retry_refused: bool,
    no_wait: bool,
    test_to: str | None,
    as_json: bool,
) -> None:
    """Send ISSUE (an outbox folder or an issue number; default: the latest) to every
    subscriber who has not been sent it yet, one personalized message each."""
    from newsletter.delivery.send import deliver_issue, find_issue

    config = _load(config_path)
    if test_to is not None:
        _send_test_copy(config, issue, test_to, dry_run or retry_refused or no_wait)
        return
    from newsletter.logs import counting

    bar = click.get_current_context().find_root().obj == "text" and sys.stderr.isatty()
    bar = bar and not quiet() and not as_json
    if config.distributed and not dry_run and not retry_refused:
        from newsletter.distributed.commands import send_command

        error = lambda line: click.echo(f"error: {line}", err=True)  # noqa: E731
        with counting("sending", bar=bar) as sent:
            code = send_command(
                config,
                issue=issue,
                wait=not no_wait,
                echo=_result_line(as_json),
                error=error,
                emit=_print_json if as_json else None,
                progress=sent,
            )
        sys.exit(code)
    try:
        with _state_errors(config, json_command="send" if as_json else None):
            folder = find_issue(config, issue)
            with counting("sending", bar=bar) as progress:
                report = deliver_issue(
                    config,
                    folder,
                    now=datetime.now(UTC),
                    warn=_warn,
                    dry_run=dry_run,
                    retry_refused=retry_refused,
                    progress=progress,
                )
    except NewsletterError as e:
        click.echo(f"error: {e}", err=True)
        if as_json:
            _print_failed("send", str(e))
        sys.exit(EXIT_FAILED)
    if as_json:
        from newsletter.results import send_document

        _print_json(send_document(report))
    elif not quiet() or not report.ok:
        click.echo(report.summary())
    if not report.ok:
        sys.exit(EXIT_FAILED)


def _send_test_copy(config: Config, issue: str | None, to: str, other_options: bool) -> None:
    from newsletter.delivery.send import find_issue
    from newsletter.delivery.testsend import send_test_copy

    if other_options:
        click.echo(
            "error: --to sends one test copy; leave out --dry-run, --retry-refused and --no-wait",
            err=True,
        )
        sys.exit(EXIT_USAGE)
    try:
        sent = send_test_copy(config, find_issue(config, issue), to, now=_now(), warn=_warn)
    except NewsletterError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(EXIT_FAILED)
    if not quiet():
        click.echo(sent.summary())
