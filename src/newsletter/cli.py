"""The command line: parses options, calls the pipeline, turns errors into one line.

Exit codes: 0 success (including "already built", "being built elsewhere", "nothing new",
and a scheduler stopped by SIGTERM/SIGINT), 1 a run failed, 2 bad usage or configuration,
3 another scheduler already runs on the same state database.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

# Only what `newsletter --help` and shell completion need is imported here (they must start
# fast; tests/test_fast_start.py): each command imports the pipeline code it runs.
from newsletter.errors import ConfigError, NewsletterError, TemplateError
from newsletter.logs import LogFormat, configure
from newsletter.skeleton import CONFIG_NAME, create_project

if TYPE_CHECKING:
    from newsletter.config import Config
    from newsletter.pipeline import Checkpoint

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_LOCKED = 3
EXIT_INTERRUPTED = 130  # the shell's convention for Ctrl-C

log = logging.getLogger("newsletter")


def _warn(message: str) -> None:
    log.warning(message)


def _now() -> datetime:
    return datetime.now(UTC)


def _test_pause() -> Checkpoint:
    """Test-only (see runner.PAUSE_ENV): pause a run at a named stage so a test can kill it."""
    from newsletter.schedule.runner import PAUSE_ENV, pause_at

    stage = os.environ.get(PAUSE_ENV)
    return pause_at(stage) if stage else (lambda _stage: None)


def _load(config_path: Path) -> Config:
    from newsletter.config import load_config

    try:
        return load_config(config_path)
    except ConfigError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(EXIT_USAGE)


@contextmanager
def _state_errors(
    config: Config, *, as_log: bool = False, json_command: str | None = None
) -> Iterator[None]:
    """A database failure while a command uses the state (a read-only file, a server gone,
    pages found corrupt) as one line naming the database and the fix, exit 1."""
    from sqlalchemy.exc import SQLAlchemyError

    from newsletter.store.state import database_problem, where

    try:
        yield
    except SQLAlchemyError as e:
        line = database_problem(
            where(config.state_dir, config.state.url), "cannot use the state database", e
        )
        if as_log:
            log.error(line)
        else:
            click.echo(f"error: {line}", err=True)
        if json_command:
            _print_failed(json_command, line)
        sys.exit(EXIT_FAILED)


json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON document (result, counts, paths)."
)


def _print_json(document: object) -> None:
    click.echo(json.dumps(document, ensure_ascii=False, indent=2))


def _print_failed(command: str, error: str) -> None:
    from newsletter.results import failed_document

    _print_json(failed_document(command, error))


config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=CONFIG_NAME,
    envvar="NEWSLETTER_CONFIG",
    show_default=True,
    help="The project's newsletter.toml; paths in it are relative to its folder.",
)


_GLOBAL_FLAGS = ("-q", "--quiet", "-v", "--verbose")
_GLOBAL_VALUED = ("--log-format", "--log-level")


def _globals_first(args: list[str]) -> list[str]:
    """The global options moved before the subcommand, so `newsletter run -q` works too."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest += args[i:]
            break
        if arg in _GLOBAL_FLAGS or ("=" in arg and arg.split("=", 1)[0] in _GLOBAL_VALUED):
            front.append(arg)
        elif arg in _GLOBAL_VALUED and i + 1 < len(args):
            front += args[i : i + 2]
            i += 1
        else:
            rest.append(arg)
        i += 1
    return front + rest


class _UsageLine(click.UsageError):
    """A usage mistake in the one error format: ``error: <what>; see '<command> --help'``
    (click's own shows a usage block and a capitalised ``Error:``)."""

    def show(self, file: object = None) -> None:
        hint = f"; see '{self.ctx.command_path} --help'" if self.ctx else ""
        click.echo(f"error: {self.format_message().rstrip('.')}{hint}", err=True)


@contextmanager
def _usage_lines() -> Iterator[None]:
    try:
        yield
    except _UsageLine:
        raise
    except click.UsageError as e:
        raise _UsageLine(e.format_message(), e.ctx) from None


class _Main(click.Group):
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, _globals_first(args))

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        with _usage_lines():
            return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        with _usage_lines():
            return super().invoke(ctx)


def quiet() -> bool:
    """True under -q: a successful command prints nothing."""
    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.find_root().meta.get("newsletter.quiet"))


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from newsletter import __version__  # read from the installed metadata: not at every start

    click.echo(f"newsletter, version {__version__}")
    ctx.exit()


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the version and exit.",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    envvar="NEWSLETTER_LOG_FORMAT",
    show_default=True,
    help="Log lines on stderr: 'text' for people, 'json' (one object per line) for machines. "
    "Like -q, -v and --log-level, it may come before or after the subcommand.",
)
@click.option(
    "--log-level",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    envvar="NEWSLETTER_LOG_LEVEL",
    help="Least severe log line shown (default INFO; -q: WARNING; -v: DEBUG).",
)
@click.option("-q", "--quiet", "is_quiet", is_flag=True, help="Print nothing on success.")
@click.option("-v", "--verbose", is_flag=True, help="Log DEBUG lines too.")
@click.pass_context
def main(
    ctx: click.Context, log_format: LogFormat, log_level: str | None, is_quiet: bool, verbose: bool
) -> None:
    """Build sectioned, attributed email digests from seed documents and news feeds."""
    if log_level is None:
        log_level = "WARNING" if is_quiet else "DEBUG" if verbose else "INFO"
    configure(log_format, logging.getLevelNamesMapping()[log_level.upper()])
    ctx.meta["newsletter.quiet"] = is_quiet
    ctx.obj = log_format


@main.command()
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
        log.warning("interrupted: the run was abandoned and its slot given back")
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


def _result_line(as_json: bool) -> Callable[[str], None]:
    """Where a command's result lines go: stdout, nowhere under -q, and a log line under
    --json (stdout carries the one document then)."""
    if as_json:
        return log.info
    if quiet():
        return lambda _line: None
    return click.echo


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


@main.command()
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--example",
    is_flag=True,
    help="Write the example project instead: the Peace Plan Briefing's config and its seed.",
)
def init(directory: Path, example: bool) -> None:
    """Create a new newsletter project in DIRECTORY: a commented config, seeds/, outbox/.

    The email's templates are not copied: the defaults serve until you copy one to change it
    (newsletter templates copy NAME)."""
    try:
        target = create_project(directory, example=example)
    except ConfigError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(EXIT_USAGE)
    if example:
        click.echo(f"Created the example project in {directory}; build its first issue with:")
    else:
        click.echo(f"Created {target}; edit [newsletter], [[sections]] and [summary] in it,")
        click.echo(f"add .txt or .md files to {directory / 'seeds'} (or [[feeds]]), and run:")
    click.echo(f"  newsletter run --config {target}")


@main.group()
def templates() -> None:
    """The email's templates: a project's templates/ overrides the defaults file by file."""


@templates.command("copy")
@config_option
@click.argument("name", required=False)
@click.option("--list", "listing", is_flag=True, help="Name every default template.")
def templates_copy(config_path: Path, name: str | None, listing: bool) -> None:
    """Copy the default template NAME (e.g. issue.mjml.j2, partials/item.mjml.j2) into the
    project's templates folder to edit it; an existing file is never overwritten."""
    from newsletter.skeleton import copy_template, template_names

    if listing or name is None:
        for known in template_names():
            click.echo(known)
        return
    config = _load(config_path)
    try:
        target = copy_template(name, config.templates_dir)
    except TemplateError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(EXIT_USAGE)
    click.echo(f"Copied {name} to {_shown(target)}; it now replaces the default")


@main.command()
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


@main.command()
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


@main.command()
@config_option
@click.option(
    "--standby",
    is_flag=True,
    help="Distributed mode ([queue] broker): wait while another scheduler holds the database's "
    "scheduler lock, and take over when it stops or dies.",
)
def schedule(config_path: Path, standby: bool) -> None:
    """Run the scheduler in the foreground: one issue per [[schedule]] slot, until stopped.

    Stops cleanly on SIGTERM or SIGINT (exit 0). Refuses to start (exit 3) while another
    scheduler runs on the same state database."""
    from newsletter.delivery.send import deliver_after_build
    from newsletter.schedule.daemon import serve
    from newsletter.schedule.lock import LockHeld, on_postgresql

    config = _load(config_path)
    if not config.schedule:
        log.error(f'{config_path}: no [[schedule]] table; add one, e.g. cron = "0 7 * * MON-FRI"')
        sys.exit(EXIT_USAGE)
    if standby and not config.distributed:
        log.error(f"{config_path}: --standby needs the distributed mode ([queue] broker)")
        sys.exit(EXIT_USAGE)
    take_lock = None  # the lock file beside the SQLite database
    if config.distributed or on_postgresql(config.state.url):  # the advisory lock (and in the
        # distributed mode, slots enqueued for the workers)
        from newsletter.distributed.scheduling import take_lock as distributed_lock

        take_lock = distributed_lock(config, standby=standby)
    try:
        # Each issue written for a schedule with send = true goes straight to its subscribers.
        deliver = deliver_after_build(config, warn=_warn, inform=log.info, clock=_now)
        code = serve(
            config,
            clock=_now,
            warn=_warn,
            deliver=deliver,
            checkpoint=_test_pause(),
            take_lock=take_lock,
        )
    except LockHeld as e:
        log.error(str(e))
        sys.exit(EXIT_LOCKED)
    except NewsletterError as e:
        log.error(str(e))
        sys.exit(EXIT_FAILED)
    sys.exit(code)


@main.command()
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
        log.error(str(e))
        sys.exit(EXIT_FAILED)
    problems = report.problems(config, found) if health_check else []
    if as_json:
        document = report.to_json(found)
        if health_check:
            document["problems"] = problems
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


@main.command()
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


@main.command()
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


@main.group(invoke_without_command=True)
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
        log.error(str(e))
        sys.exit(EXIT_FAILED)
    if as_json:
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


@main.command()
@config_option
@click.option(
    "--concurrency",
    type=click.IntRange(1, 512),
    help="Tasks run at once (pool processes); default: the number of CPUs.",
)
@click.option(
    "--pool",
    type=click.Choice(["prefork", "threads"]),
    default="prefork",
    show_default=True,
    help="Processes (CPU-bound work: parsing, rendering) or threads (mostly waiting on "
    "the network: many fetches at once, cheaply).",
)
@click.option("--loglevel", default="INFO", show_default=True, help="DEBUG, INFO, WARNING...")
def worker(config_path: Path, concurrency: int | None, pool: str, loglevel: str) -> None:
    """Work for the distributed mode ([queue] broker): fetch feeds, build issues, send
    batches. Run any number, on any number of machines; SIGTERM stops one cleanly."""
    from newsletter.distributed.commands import worker_command

    config = _load(config_path)
    error = lambda line: click.echo(f"error: {line}", err=True)  # noqa: E731
    log_format: LogFormat = click.get_current_context().obj or "text"  # main's --log-format
    sys.exit(
        worker_command(
            config,
            concurrency=concurrency,
            pool=pool,
            loglevel=loglevel,
            error=error,
            log_format=log_format,
        )
    )


@main.group()
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


# --- Subscribers, the web service, the archive, bounces (issue 13) ----------------------


def _list(config: Config) -> tuple[Engine, str]:
    """An open state engine and this newsletter's list id (the caller disposes the engine)."""
    from newsletter.delivery import roster
    from newsletter.store import state

    try:
        engine = state.open_engine(config.state_dir, config.state.url)
        return engine, roster.list_id(engine, config.newsletter.name, _now())
    except NewsletterError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(EXIT_FAILED)


@main.group()
def subscribers() -> None:
    """Manage the subscriber list in the state database."""


@subscribers.command("add")
@config_option
@click.argument("address")
@click.option("--name", default="", help="The subscriber's name (for To: and greetings).")
@click.option("--sections", default="", help="Section ids, comma-separated; default: all.")
def subscribers_add(config_path: Path, address: str, name: str, sections: str) -> None:
    """Add ADDRESS as an active subscriber (you vouch for their consent). An address that
    unsubscribed, bounced or complained is never re-activated."""
    from newsletter.delivery import roster
    from newsletter.delivery.addresses import Address, parse_address

    config = _load(config_path)
    parsed = parse_address(address.strip())
    if not isinstance(parsed, Address):
        click.echo(f"error: {parsed}; nothing was changed", err=True)
        sys.exit(EXIT_USAGE)
    known = [s.id for s in config.sections]
    ids = [s for s in sections.replace(";", ",").replace(" ", ",").split(",") if s]
    unknown = [s for s in ids if s not in known]
    if unknown:
        click.echo(
            f"error: unknown section {', '.join(unknown)} (this newsletter has: "
            f"{', '.join(known)}); nothing was changed",
            err=True,
        )
        sys.exit(EXIT_USAGE)
    engine, list_ref = _list(config)
    try:
        outcome = roster.add(
            engine,
            list_ref,
            parsed,
            " ".join(name.split()),
            frozenset(ids) or None,
            how="operator",
            origin="operator",
            now=_now(),
        )
    finally:
        engine.dispose()
    if outcome.result == "refused":
        click.echo(
            f"error: {parsed.email} is {outcome.member_status}: it is never re-activated by "
            "hand; only the person can sign up again ('newsletter serve')",
            err=True,
        )
        sys.exit(EXIT_FAILED)
    click.echo(f"{parsed.email}: {outcome.result}")


@subscribers.command("remove")
@config_option
@click.argument("address")
def subscribers_remove(config_path: Path, address: str) -> None:
    """Take ADDRESS off the list ("removed"; an import or 'add' may bring it back)."""
    from newsletter.delivery import roster

    config = _load(config_path)
    engine, list_ref = _list(config)
    try:
        member = roster.by_email(engine, list_ref, address.strip())
        if member is None:
            click.echo(f"error: {address} is not on the list; nothing was changed", err=True)
            sys.exit(EXIT_FAILED)
        changed = roster.set_status(
            engine,
            member.id,
            "removed",
            how="operator",
            now=_now(),
            unless=roster.LEFT,
        )
    finally:
        engine.dispose()
    click.echo(f"{member.email}: " + ("removed" if changed else f"unchanged ({member.status})"))


@subscribers.command("rename-list")
@config_option
@click.argument("old_name")
def subscribers_rename_list(config_path: Path, old_name: str) -> None:
    """After renaming the newsletter: give the list of OLD_NAME (its subscribers, who left,
    the consent record) to the newsletter's current name. Links already sent keep working."""
    from newsletter.delivery import roster
    from newsletter.store import state

    config = _load(config_path)
    try:
        with state.connect(config.state_dir, config.state.url) as engine:
            problem = roster.rename_list(engine, old_name, config.newsletter.name)
    except NewsletterError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(EXIT_FAILED)
    if problem:
        click.echo(f"error: {problem}", err=True)
        sys.exit(EXIT_FAILED)
    click.echo(f"The list of {old_name!r} is now {config.newsletter.name!r}'s")


@subscribers.command("list")
@config_option
@click.option(
    "--status",
    type=click.Choice(["pending", "active", "unsubscribed", "bounced", "complained", "removed"]),
)
def subscribers_list(config_path: Path, status: str | None) -> None:
    """Every subscriber with their status, since when and how it was reached."""
    from newsletter.delivery import roster

    config = _load(config_path)
    engine, list_ref = _list(config)
    try:
        found = roster.members(engine, list_ref, status)
    finally:
        engine.dispose()
    for m in found:
        sections = "all" if m.sections is None else ",".join(sorted(m.sections))
        click.echo(
            f"{m.email}\t{m.status}\t{m.status_at:%Y-%m-%d %H:%M}\t{m.status_how}\t{sections}"
            f"\t{m.name}"
        )
    counts = {s: sum(m.status == s for m in found) for s in roster.STATUSES}
    click.echo(", ".join(f"{n} {s}" for s, n in counts.items() if n) or "no subscriber", err=True)


@subscribers.command("import")
@config_option
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
def subscribers_import(config_path: Path, file: Path) -> None:
    """Add every valid line of FILE (CSV: email,name,sections); a bad line is reported and
    skipped. Never re-activates an address that unsubscribed, bounced or complained."""
    from newsletter.delivery import roster
    from newsletter.delivery.subscribers import read_subscribers

    config = _load(config_path)
    path = file.resolve()
    try:
        rows = read_subscribers(path, [s.id for s in config.sections], _warn)
    except NewsletterError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(EXIT_FAILED)
    valid = roster.valid_rows(rows, path, _warn)
    engine, list_ref = _list(config)
    try:
        report = roster.import_subscribers(
            engine,
            list_ref,
            valid,
            origin=roster.csv_origin(path),
            now=_now(),
        )
    finally:
        engine.dispose()
    for email, status in report.refused:
        _warn(f"{path}: {email} is {status}; not re-activated")
    click.echo(f"{path}: {report.summary()}")


@subscribers.command("export")
@config_option
@click.option("--all", "everyone", is_flag=True, help="Everyone, not only active subscribers.")
def subscribers_export(config_path: Path, everyone: bool) -> None:
    """Write the list as CSV on stdout (email,name,sections,status,since,how)."""
    import csv

    from newsletter.delivery import roster

    config = _load(config_path)
    engine, list_ref = _list(config)
    try:
        rows = roster.export_rows(engine, list_ref, everyone=everyone)
    finally:
        engine.dispose()
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(roster.EXPORT_HEADER)
    writer.writerows(rows)


@main.command()
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


@main.command()
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


@main.command()
@config_option
@click.option("--maildir", type=click.Path(path_type=Path, file_okay=False), help="A maildir.")
@click.option("--imap-host", help="An IMAP server (TLS, port 993 unless --imap-port).")
@click.option("--imap-port", type=int, default=993, show_default=True)
@click.option("--imap-user", help="The IMAP login.")
@click.option("--imap-folder", default="INBOX", show_default=True)
@click.option(
    "--imap-password-env",
    default="NEWSLETTER_IMAP_PASSWORD",
    show_default=True,
    help="The environment variable holding the IMAP password.",
)
def bounces(
    config_path: Path,
    maildir: Path | None,
    imap_host: str | None,
    imap_port: int,
    imap_user: str | None,
    imap_folder: str,
    imap_password_env: str,
) -> None:
    """Read bounce reports (RFC 3464 DSNs and others) and complaints (ARF) not read before:
    hard bounces and complaints are never mailed again; soft bounces are reported."""
    from newsletter.delivery import bounces as reports

    config = _load(config_path)
    if (maildir is None) == (imap_host is None) or (imap_host and not imap_user):
        click.echo("error: give --maildir DIR, or --imap-host HOST with --imap-user", err=True)
        sys.exit(EXIT_USAGE)
    if maildir is not None:
        messages = reports.maildir_messages(maildir)
    else:
        assert imap_host is not None and imap_user is not None
        source = reports.ImapSource(imap_host, imap_user, imap_folder, imap_port, imap_password_env)
        messages = reports.imap_messages(source, os.environ)
    engine, list_ref = _list(config)
    try:
        report = reports.process(engine, list_ref, messages, _now())
    except NewsletterError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(EXIT_FAILED)
    finally:
        engine.dispose()
    for line in report.lines():
        click.echo(line)
