"""`newsletter init` and `templates`: a new project, the default templates to edit."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from newsletter.cli.common import (
    EXIT_USAGE,
    _load,
    _shown,
    config_option,
)
from newsletter.errors import ConfigError, TemplateError
from newsletter.skeleton import create_project


@click.command("init")
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


@click.group("templates")
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
