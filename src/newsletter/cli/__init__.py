"""The command line: parses options, calls the pipeline, turns errors into one line.

Exit codes: 0 success (including "already built", "being built elsewhere", "nothing new",
and a scheduler stopped by SIGTERM/SIGINT), 1 a run failed, 2 bad usage or configuration,
3 another scheduler already runs on the same state database.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from gettext import gettext
from typing import TYPE_CHECKING, Any, NamedTuple

import click

# Only click is imported here: `newsletter --help` and shell completion must start fast
# (tests/test_fast_start.py). A command's module is imported when that command is invoked (or
# its --help or its options' completion asked for); each command imports the code it runs.

if TYPE_CHECKING:
    from click.shell_completion import CompletionItem

    from newsletter.logs import LogFormat


class Lazy(NamedTuple):
    """Where a command lives, and the first sentence of its help (what `newsletter --help`
    and completion show without importing the module)."""

    module: str
    help: str


COMMANDS: Mapping[str, Lazy] = {
    "archive": Lazy(
        "newsletter.cli.web",
        "Write the public archive as static files into DIRECTORY: index.html, feed.atom and "
        "issues/N/index.html (web versions, without any personal link).",
    ),
    "bounces": Lazy(
        "newsletter.cli.subscribers",
        "Read bounce reports (RFC 3464 DSNs and others) and complaints (ARF) not read before: "
        "hard bounces and complaints are never mailed again; soft bounces are reported.",
    ),
    "check": Lazy(
        "newsletter.cli.build",
        "Validate the config and render a sample issue in memory; print each problem.",
    ),
    "db": Lazy(
        "newsletter.cli.database",
        "The state database's schema: see where it stands, upgrade it.",
    ),
    "feeds": Lazy("newsletter.cli.feedlist", "List every feed with its health: broken ones first."),
    "init": Lazy(
        "newsletter.cli.project",
        "Create a new newsletter project in DIRECTORY: a commented config, seeds/, outbox/.",
    ),
    "metrics": Lazy(
        "newsletter.cli.health",
        "Print the state database's figures in the Prometheus text format (issues, articles, "
        "items, feed failures, messages sent and failed, last success per schedule): for "
        "node_exporter's textfile collector.",
    ),
    "preview": Lazy(
        "newsletter.cli.build",
        "Serve today's issue, built in memory from the seeds and feeds, at "
        "http://127.0.0.1:PORT; it rebuilds and the page reloads when a template, a seed or the "
        "config changes.",
    ),
    "run": Lazy("newsletter.cli.build", "Build the current slot's issue into the outbox, once."),
    "schedule": Lazy(
        "newsletter.cli.unattended",
        "Run the scheduler in the foreground: one issue per [[schedule]] slot, until stopped.",
    ),
    "send": Lazy(
        "newsletter.cli.sending",
        "Send ISSUE (an outbox folder or an issue number; default: the latest) to every "
        "subscriber who has not been sent it yet, one personalized message each.",
    ),
    "serve": Lazy(
        "newsletter.cli.web",
        "Serve the subscribers' web service: sign-up with double opt-in, one-click "
        "unsubscribe, preferences, the public archive and /health (see docs/web.md).",
    ),
    "status": Lazy(
        "newsletter.cli.health",
        "Show the last runs, the next scheduled slots, the scheduler and feed health.",
    ),
    "subscribers": Lazy(
        "newsletter.cli.subscribers", "Manage the subscriber list in the state database."
    ),
    "templates": Lazy(
        "newsletter.cli.project",
        "The email's templates: a project's templates/ overrides the defaults file by file.",
    ),
    "worker": Lazy(
        "newsletter.cli.unattended",
        "Work for the distributed mode ([queue] broker): fetch feeds, build issues, send batches.",
    ),
}
"""Every command: its name -> its module (holding it under the same name) and help.
tests/test_cli_table.py checks it against the commands themselves."""

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
    """The top command: global options anywhere, usage errors in one line, and the commands
    of `COMMANDS` imported only when one is used (click's documented lazy group)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is not None or cmd_name not in COMMANDS:
            return found
        command = getattr(importlib.import_module(COMMANDS[cmd_name].module), cmd_name)
        assert isinstance(command, click.Command) and command.name == cmd_name, cmd_name
        self.add_command(command)  # imported once per process
        return command

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as e:
            unknown = getattr(click, "NoSuchCommand", None)  # click >= 8.4: "Did you mean"
            if unknown is None or not isinstance(e, unknown):
                raise
            # click suggests among the commands imported so far: let it see every name.
            raise unknown(e.command_name, possibilities=self.list_commands(ctx), ctx=ctx) from None

    def _listed(self, ctx: click.Context, prefix: str = "") -> list[tuple[str, click.Command]]:
        """The commands to show, without importing any: a lazy one stands in as a command
        with the first sentence of its help, so click abbreviates it as the real one."""
        return [
            (name, self.commands.get(name) or click.Command(name, help=COMMANDS[name].help))
            for name in self.list_commands(ctx)
            if name.startswith(prefix)
        ]

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # click.Group.format_commands, over the stand-ins.
        shown = [(name, cmd) for name, cmd in self._listed(ctx) if not cmd.hidden]
        if not shown:
            return
        limit = formatter.width - 6 - max(len(name) for name, _ in shown)
        with formatter.section(gettext("Commands")):  # as click: translatable
            formatter.write_dl([(name, cmd.get_short_help_str(limit)) for name, cmd in shown])

    def shell_complete(self, ctx: click.Context, incomplete: str) -> list[CompletionItem]:
        # click.Group.shell_complete, over the stand-ins.
        from click.shell_completion import CompletionItem

        names = [
            CompletionItem(name, help=cmd.get_short_help_str())
            for name, cmd in self._listed(ctx, incomplete)
            if not cmd.hidden
        ]
        return names + click.Command.shell_complete(self, ctx, incomplete)

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
    import logging

    from newsletter.logs import configure

    if log_level is None:
        log_level = "WARNING" if is_quiet else "DEBUG" if verbose else "INFO"
    configure(log_format, logging.getLevelNamesMapping()[log_level.upper()])
    ctx.meta["newsletter.quiet"] = is_quiet
    ctx.obj = log_format
