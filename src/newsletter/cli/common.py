"""What the commands share: exit codes, --config and --json, loading the config, one error
line for a database failure, -q."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

# Only what `newsletter --help` and shell completion need is imported here (they must start
# fast; tests/test_fast_start.py): each command imports the pipeline code it runs.
from newsletter.errors import ConfigError, NewsletterError
from newsletter.skeleton import CONFIG_NAME

if TYPE_CHECKING:
    import logging

    from sqlalchemy.engine import Engine

    from newsletter.config import Config
    from newsletter.pipeline import Checkpoint


EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_LOCKED = 3
EXIT_INTERRUPTED = 130  # the shell's convention for Ctrl-C


def log() -> logging.Logger:
    """The "newsletter" logger (main configures it); logging is imported when a command runs,
    not for --help or completion."""
    import logging

    return logging.getLogger("newsletter")


def _warn(message: str) -> None:
    log().warning(message)


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
            log().error(line)
        else:
            click.echo(f"error: {line}", err=True)
        if json_command:
            _print_failed(json_command, line)
        sys.exit(EXIT_FAILED)


json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON document (result, counts, paths)."
)


def _print_json(document: object) -> None:
    import json

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


def quiet() -> bool:
    """True under -q: a successful command prints nothing."""
    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.find_root().meta.get("newsletter.quiet"))


def _result_line(as_json: bool) -> Callable[[str], None]:
    """Where a command's result lines go: stdout, nowhere under -q, and a log line under
    --json (stdout carries the one document then)."""
    if as_json:
        return log().info
    if quiet():
        return lambda _line: None
    return click.echo


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


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
