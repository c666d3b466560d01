"""The command line: parses options, calls the pipeline, turns errors into one line.

Exit codes: 0 success (including "already built" and "nothing new"), 1 a run failed,
2 bad usage or configuration.
"""

from __future__ import annotations

import shutil
import sys
from datetime import UTC, date, datetime, time
from pathlib import Path

import click

from newsletter import __version__
from newsletter.config import CONFIG_NAME, Config, load_config
from newsletter.errors import ConfigError, NewsletterError
from newsletter.pipeline import run as run_pipeline
from newsletter.skeleton import default_config_text, default_templates_dir

EXIT_FAILED = 1
EXIT_USAGE = 2


def _warn(message: str) -> None:
    click.echo(f"warning: {message}", err=True)


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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="newsletter")
def main() -> None:
    """Build sectioned, attributed email digests from seed documents and news feeds."""


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
@click.option("--allow-empty", is_flag=True, help="Build an issue even when nothing is new.")
def run(config_path: Path, day: datetime | None, new_edition: bool, allow_empty: bool) -> None:
    """Build today's issue into the outbox, once."""
    config = _load(config_path)
    now = datetime.now(UTC)
    slot = None
    if day is not None:
        slot = datetime.combine(day.date(), time(0, 0), tzinfo=config.newsletter.zone)
    try:
        result = run_pipeline(
            config, now=now, warn=_warn, slot=slot, new_edition=new_edition, allow_empty=allow_empty
        )
    except NewsletterError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(EXIT_FAILED)
    if result.status == "written" and result.path is not None:
        click.echo(f"Issue #{result.number} written to {_shown(result.path)}")
    else:
        click.echo(result.message)


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
def preview(config_path: Path, port: int) -> None:
    """Serve today's issue, built in memory, at http://127.0.0.1:PORT; it rebuilds and the
    page reloads when a template, a seed or the config changes. Nothing is written."""
    from newsletter.previewserver import PreviewState, make_server

    _load(config_path)
    try:
        server = make_server(PreviewState(config_path), port)
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
