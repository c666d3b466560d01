"""`newsletter subscribers` and `bounces`: the subscriber list in the state database."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from newsletter.cli.common import (
    EXIT_FAILED,
    EXIT_USAGE,
    _list,
    _load,
    _now,
    _warn,
    config_option,
)
from newsletter.errors import NewsletterError


@click.group("subscribers")
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


@click.command("bounces")
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
