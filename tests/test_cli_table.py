"""The command table of the lazy top group (newsletter.cli.COMMANDS) never drifts from the
commands themselves: `newsletter --help` and completion show what the commands would show, and
every command is reachable. In-process: click's own rendering over the imported commands is the
reference."""

from __future__ import annotations

import importlib
import pkgutil

import click
import pytest
from click.testing import CliRunner

import newsletter.cli
from newsletter.cli import COMMANDS, main


def unloaded() -> click.Group:
    """The top group as a fresh process has it: no command imported yet (in this process
    other tests, and `real_commands`, have loaded `main`'s)."""
    group = type(main)(
        name=main.name,
        callback=main.callback,
        params=main.params,
        context_settings=main.context_settings,
        help=main.help,
    )
    assert group.commands == {}
    return group


def real_commands() -> dict[str, click.Command]:
    """Every top-level command defined in the package's modules, by name, found by importing
    them all (not through the table)."""
    found: dict[str, click.Command] = {}
    groups: set[int] = set()
    for info in pkgutil.iter_modules(newsletter.cli.__path__, "newsletter.cli."):
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if isinstance(value, click.Group):
                groups.update(id(sub) for sub in value.commands.values())
        for name, value in vars(module).items():
            if isinstance(value, click.Command) and id(value) not in groups:
                assert value.name is not None
                found[value.name] = value
                assert name == value.name, f"{info.name}.{name} holds the command {value.name}"
    return found


def test_the_table_names_every_command_and_where_it_is() -> None:
    commands = real_commands()
    assert sorted(COMMANDS) == sorted(commands)
    for name, entry in COMMANDS.items():
        assert main.get_command(click.Context(main), name) is commands[name], entry.module
    assert main.get_command(click.Context(main), "no-such-command") is None


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_table_help_is_the_commands_short_help(name: str) -> None:
    real = main.get_command(click.Context(main), name)
    assert real is not None
    stand_in = click.Command(name, help=COMMANDS[name].help)
    for limit in range(10, 240):
        assert stand_in.get_short_help_str(limit) == real.get_short_help_str(limit), limit


@pytest.mark.parametrize("width", [60, 80, 200])
def test_help_lists_every_command_as_click_would(width: int) -> None:
    """The listing from the table equals click's stock listing over the imported commands."""
    group = unloaded()
    ctx = click.Context(group, terminal_width=width, max_content_width=width)
    ours = ctx.make_formatter()
    group.format_commands(ctx, ours)
    assert group.commands == {}  # the listing imported no command
    stock = ctx.make_formatter()
    click.Group.format_commands(main, click.Context(main), stock)
    assert ours.getvalue() == stock.getvalue()
    assert all(f"  {name} " in ours.getvalue() for name in COMMANDS)


def complete(words: str, shell: str = "zsh") -> list[str]:
    cword = len(words.split()) - (0 if words.endswith(" ") else 1)
    env = {
        "_NEWSLETTER_COMPLETE": f"{shell}_complete",
        "COMP_WORDS": words,
        "COMP_CWORD": str(cword),
    }
    result = CliRunner().invoke(unloaded(), [], env=env, prog_name="newsletter")
    assert result.exit_code == 0, result.output
    return result.output.splitlines()


def test_completion_of_command_names_with_their_help() -> None:
    lines = complete("newsletter s")
    names = lines[1::3]  # zsh: type, value, help, for each item
    helps = lines[2::3]
    assert names == ["schedule", "send", "serve", "status", "subscribers"]
    for name, shown in zip(names, helps, strict=True):
        real = main.get_command(click.Context(main), name)
        assert real is not None and shown == real.get_short_help_str()
    assert complete("newsletter ", "bash") == [f"plain,{name}" for name in sorted(COMMANDS)]


def test_completion_of_one_commands_options_and_subcommands() -> None:
    assert complete("newsletter run --", "bash") == [
        "plain,--config",
        "plain,--date",
        "plain,--new-edition",
        "plain,--slot",
        "plain,--allow-empty",
        "plain,--no-wait",
        "plain,--json",
        "plain,--help",
    ]
    assert complete("newsletter -q subscribers re", "bash") == [
        "plain,remove",
        "plain,rename-list",
    ]


@pytest.mark.skipif(not hasattr(click, "NoSuchCommand"), reason="click < 8.4 suggests nothing")
def test_a_mistyped_command_gets_the_close_name() -> None:
    result = CliRunner().invoke(main, ["sned"], prog_name="newsletter")
    assert result.exit_code == 2
    assert result.output == (
        "error: No such command 'sned'. Did you mean 'send'?; see 'newsletter --help'\n"
    )
