"""The command line: parses options, calls the pipeline, turns errors into one line.

Exit codes: 0 success (including "already built", "being built elsewhere", "nothing new",
and a scheduler stopped by SIGTERM/SIGINT), 1 a run failed, 2 bad usage or configuration,
3 another scheduler already runs on the same state database.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
from datetime import UTC, date, datetime, time
from pathlib import Path

import click

from newsletter import __version__
from newsletter.config import CONFIG_NAME, Config, load_config
from newsletter.errors import ConfigError, NewsletterError, StateError
from newsletter.logs import LogFormat, configure, progress
from newsletter.pipeline import Checkpoint
from newsletter.schedule.runner import PAUSE_ENV, chain, execute, pause_at
from newsletter.skeleton import default_config_text, default_templates_dir

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
    stage = os.environ.get(PAUSE_ENV)
    return pause_at(stage) if stage else (lambda _stage: None)


def _load(config_path: Path) -> Config:
    try:
        return load_config(config_path)
    except ConfigError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(EXIT_USAGE)


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


class _Main(click.Group):
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, _globals_first(args))


def quiet() -> bool:
    """True under -q: a successful command prints nothing."""
    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.find_root().meta.get("newsletter.quiet"))


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="newsletter")
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
@click.pass_context
def run(
    ctx: click.Context,
    config_path: Path,
    day: datetime | None,
    new_edition: bool,
    slot_text: str | None,
    allow_empty: bool,
    no_wait: bool,
) -> None:
    """Build the current slot's issue into the outbox, once."""
    config = _load(config_path)
    slot = _slot(config, day, slot_text)
    if config.distributed:
        sys.exit(_run_distributed(config, slot, new_edition, allow_empty, not no_wait))
    bar = ctx.obj == "text" and sys.stderr.isatty() and not quiet()
    try:
        with progress(bar, config.newsletter.name) as advance:
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
    except StateError as e:  # the database could not be opened: nothing was logged yet
        click.echo(f"error: {e}", err=True)
        sys.exit(EXIT_FAILED)
    except NewsletterError:
        sys.exit(EXIT_FAILED)  # execute logged the one-line reason
    except KeyboardInterrupt:
        log.warning("interrupted: the run was abandoned and its slot given back")
        sys.exit(EXIT_INTERRUPTED)
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
    config: Config, slot: datetime | None, new_edition: bool, allow_empty: bool, wait: bool
) -> int:
    from newsletter.distributed.commands import run_command
    from newsletter.schedule.runner import default_slot

    now = _now()
    return run_command(
        config,
        slot=slot or default_slot(config, now),
        now=now,
        allow_empty=allow_empty,
        new_edition=new_edition,
        send=False,
        wait=wait,
        echo=click.echo,
        error=lambda line: click.echo(f"error: {line}", err=True),
        warn=_warn,
    )


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


@main.command()
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
def init(directory: Path) -> None:
    """Create a new newsletter project in DIRECTORY: config, templates, an empty seeds/."""
    target = directory / CONFIG_NAME
    if target.exists():
        click.echo(f"error: {target} already exists; nothing was changed", err=True)
        sys.exit(EXIT_USAGE)
    directory.mkdir(parents=True, exist_ok=True)
    for folder in ("seeds", "outbox"):
        (directory / folder).mkdir(exist_ok=True)
    templates = directory / "templates"
    if not templates.exists():
        shutil.copytree(default_templates_dir(), templates)
    target.write_text(default_config_text(), encoding="utf-8")
    click.echo(f"Created {target}; add .txt or .md files to {directory / 'seeds'} and run:")
    click.echo(f"  newsletter run --config {target}")


@main.command()
@config_option
def check(config_path: Path) -> None:
    """Validate the config and render a sample issue in memory; print each problem."""
    from newsletter.preview import check_project

    config = _load(config_path)
    problems = check_project(config, today=date.today(), warn=_warn)
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
    from newsletter.schedule.lease import LockHeld

    config = _load(config_path)
    if not config.schedule:
        log.error(f'{config_path}: no [[schedule]] table; add one, e.g. cron = "0 7 * * MON-FRI"')
        sys.exit(EXIT_USAGE)
    if standby and not config.distributed:
        log.error(f"{config_path}: --standby needs the distributed mode ([queue] broker)")
        sys.exit(EXIT_USAGE)
    try:
        # Each issue written for a schedule with send = true goes straight to its subscribers.
        deliver = deliver_after_build(config, warn=_warn, inform=log.info, clock=_now)
        code = serve(
            config,
            clock=_now,
            warn=_warn,
            deliver=deliver,
            checkpoint=_test_pause(),
            standby=standby,
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
def status(config_path: Path, as_json: bool, limit: int) -> None:
    """Show the last runs, the next scheduled slots, the scheduler and feed health."""
    from newsletter import status as report

    config = _load(config_path)
    try:
        found = report.gather(config, _now(), limit=limit)
    except NewsletterError as e:
        log.error(str(e))
        sys.exit(EXIT_FAILED)
    if as_json:
        click.echo(json.dumps(report.to_json(found), ensure_ascii=False, indent=2))
    else:
        click.echo(report.to_text(found))


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
def send(
    config_path: Path, issue: str | None, dry_run: bool, retry_refused: bool, no_wait: bool
) -> None:
    """Send ISSUE (an outbox folder or an issue number; default: the latest) to every
    subscriber who has not been sent it yet, one personalized message each."""
    from newsletter.delivery.send import deliver_issue, find_issue

    config = _load(config_path)
    if config.distributed and not dry_run and not retry_refused:
        from newsletter.distributed.commands import send_command

        error = lambda line: click.echo(f"error: {line}", err=True)  # noqa: E731
        sys.exit(send_command(config, issue=issue, wait=not no_wait, echo=click.echo, error=error))
    try:
        folder = find_issue(config, issue)
        report = deliver_issue(
            config,
            folder,
            now=datetime.now(UTC),
            warn=_warn,
            dry_run=dry_run,
            retry_refused=retry_refused,
        )
    except NewsletterError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(EXIT_FAILED)
    click.echo(report.summary())
    if not report.ok:
        sys.exit(EXIT_FAILED)


@main.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON (one object per feed).")
def feeds(config_path: Path, as_json: bool) -> None:
    """List every feed with its health: broken ones first."""
    from newsletter.sources.ingest import feed_health
    from newsletter.store import state

    config = _load(config_path)
    try:
        with state.connect(config.state_dir, config.state.url) as engine:
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
    header = ("health", "name", "last success", "status", "fails", "entries", "last error / url")
    table = [header] + [
        (
            r.health,
            r.name,
            f"{r.last_success:%Y-%m-%d %H:%M}" if r.last_success else "never",
            str(r.last_status or "-"),
            str(r.consecutive_failures),
            str(r.entries_seen),
            r.last_error or r.fetched_from or r.url,
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
    for row in table:
        click.echo(
            "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + row[-1]
        )
    if config.distributed:  # who fetches them: the workers seen and what waits in the queue
        from newsletter.distributed.status import fleet, fleet_lines

        found = fleet(config)
        if found is not None:
            click.echo("")
            for line in fleet_lines(found.as_json()):
                click.echo(line)


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
    sys.exit(
        worker_command(config, concurrency=concurrency, pool=pool, loglevel=loglevel, error=error)
    )
