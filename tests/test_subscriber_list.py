"""The subscriber list in the state database (SQLite and PostgreSQL), its tokens, and the
messages as they cross the wire: raw List-Unsubscribe bytes, IDNA domains and SMTPUTF8."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from conftest import run_cli
from newsletter.cli import main
from newsletter.config import Config, load_config
from newsletter.delivery import roster
from newsletter.delivery.addresses import Address, parse_address
from newsletter.delivery.send import deliver_issue
from newsletter.delivery.subscribers import Subscriber
from newsletter.delivery.unsubscribe import (
    check_confirm_token,
    check_token,
    confirm_token,
    make_token,
    subscriber_token,
    verify_token,
)
from newsletter.pipeline import run as build
from newsletter.store import state
from smtp_server import SmtpServer

SECRET = "test-secret-0123456789abcdef"
NOW = datetime(2025, 11, 22, 7, 0, tzinfo=UTC)
ENV = {"NEWSLETTER_UNSUBSCRIBE_SECRET": SECRET}


def address(text: str) -> Address:
    parsed = parse_address(text)
    assert isinstance(parsed, Address), parsed
    return parsed


def row(text: str, name: str = "", sections: frozenset[str] | None = None) -> tuple:
    return address(text), Subscriber(text, name, sections)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


def invoke(project: Path, *args: str, code: int = 0) -> Result:
    """The command in this process (click's runner): the cheap way for secondary checks."""
    config = str(project / "newsletter.toml")
    result = CliRunner().invoke(main, [*args, "--config", config])
    assert result.exit_code == code, result.output
    return result


def configure(project: Path, *, smtp_port: int = 25, base_url: str | None = None) -> Config:
    toml = project / "newsletter.toml"
    text = toml.read_text(encoding="utf-8")
    text += "\n[delivery]\nrate = 1000\nattempts = 2\nbackoff = 0.01\n"
    text += f'\n[smtp]\nhost = "127.0.0.1"\nport = {smtp_port}\nsecurity = "none"\ntimeout = 10\n'
    if base_url:
        text += f'\n[web]\nbase_url = "{base_url}"\n'
    else:
        text = text.replace(
            "[brand]\n", '[brand]\nunsubscribe_url = "https://example.org/unsubscribe"\n', 1
        )
    toml.write_text(text, encoding="utf-8")
    return load_config(toml)


def test_the_list_keeps_who_left_out_on_sqlite_and_postgresql(
    tmp_path: Path, state_url: str | None
) -> None:
    with state.connect(tmp_path / "state", state_url) as engine:
        ref = roster.list_id(engine, "Briefing", NOW)
        assert roster.list_id(engine, "Briefing", NOW) == ref  # stable
        first = roster.import_subscribers(
            engine,
            ref,
            [row("ana@example.org", "Ana"), row("bo@example.org"), row("cy@example.org")],
            origin="csv:/x.csv",
            now=NOW,
            sync=True,
        )
        assert (first.added, first.refused) == (3, ())
        bo = roster.by_email(engine, ref, "BO@example.org")
        cy = roster.by_email(engine, ref, "cy@example.org")
        assert bo is not None and cy is not None
        later = NOW + timedelta(hours=1)
        assert roster.set_status(engine, bo.id, "unsubscribed", how="one-click", now=later)
        assert not roster.set_status(engine, bo.id, "unsubscribed", how="one-click", now=later)
        assert roster.set_status(engine, cy.id, "bounced", how="bounces", now=later)
        # The same file again, and an operator's add: nobody who left comes back.
        again = roster.import_subscribers(
            engine,
            ref,
            [row("ana@example.org", "Ana"), row("bo@example.org"), row("cy@example.org")],
            origin="csv:/x.csv",
            now=later,
            sync=True,
        )
        assert again.refused == (("bo@example.org", "unsubscribed"), ("cy@example.org", "bounced"))
        refused = roster.add(
            engine, ref, address("bo@example.org"), "", None, how="operator", origin="op", now=later
        )
        assert (refused.result, refused.member_status) == ("refused", "unsubscribed")
        assert [s.email for s in roster.active_subscribers(engine, ref)] == ["ana@example.org"]
        # A line gone from the synced CSV is "removed"; an import may add it again.
        gone = roster.import_subscribers(engine, ref, [], origin="csv:/x.csv", now=later, sync=True)
        assert gone.removed == 1 and roster.active_subscribers(engine, ref) == []
        back = roster.import_subscribers(
            engine, ref, [row("ana@example.org")], origin="csv:/x.csv", now=later
        )
        assert back.reactivated == 1
        assert [e.event for e in roster.events(engine, bo.id)] == ["active", "unsubscribed"]
        ana = roster.by_email(engine, ref, "ana@example.org")
        assert ana is not None
        assert [e.event for e in roster.events(engine, ana.id)] == ["active", "removed", "active"]


def test_double_opt_in_confirms_once_and_a_replay_changes_nothing(
    tmp_path: Path, state_url: str | None
) -> None:
    with state.connect(tmp_path / "state", state_url) as engine:
        ref = roster.list_id(engine, "Briefing", NOW)
        started = roster.start_signup(
            engine, ref, address("new@example.org"), "New", None, now=NOW, detail="from 1.2.3.4"
        )
        assert started.kind == "confirm" and started.member and started.nonce
        assert roster.active_subscribers(engine, ref) == []  # pending until confirmed
        token = confirm_token(SECRET.encode(), ref, started.member.id, started.nonce)
        checked = check_confirm_token(token, SECRET.encode(), ref, 3600)
        assert checked == (started.member.id, started.nonce)
        assert check_confirm_token(token[:-3], SECRET.encode(), ref, 3600) == "invalid"
        assert check_confirm_token(token, SECRET.encode(), "another-list", 3600) == "invalid"
        sid, nonce = checked
        assert roster.confirm(engine, sid, nonce, now=NOW, detail=None) == "confirmed"
        assert roster.confirm(engine, sid, nonce, now=NOW, detail=None) == "already"
        assert [s.email for s in roster.active_subscribers(engine, ref)] == ["new@example.org"]
        # Unsubscribed, the old confirmation link does not bring the address back.
        roster.set_status(engine, sid, "unsubscribed", how="one-click", now=NOW)
        assert roster.confirm(engine, sid, nonce, now=NOW, detail=None) == "invalid"
        assert roster.active_subscribers(engine, ref) == []
        again = roster.start_signup(
            engine, ref, address("new@example.org"), "", None, now=NOW, detail=None
        )
        assert again.kind == "confirm" and again.nonce and again.nonce != nonce
        # The rate-limit window is shared through the database.
        hits = [roster.over_limit(engine, "client:1.2.3.4", 2, NOW) for _ in range(3)]
        assert hits == [False, False, True]
        assert not roster.over_limit(engine, "client:1.2.3.4", 2, NOW + timedelta(hours=1))


def test_tokens_are_opaque_survive_a_rename_and_old_links_still_verify() -> None:
    secret = SECRET.encode()
    token = subscriber_token(secret, "list-1", "AbCdEfGhIjKlMnOp")
    assert "example" not in token and "@" not in token
    assert check_token(token, SECRET, "list-1") == "AbCdEfGhIjKlMnOp"  # str secret too
    assert check_token(token, secret, "list-2") is None
    forged = subscriber_token(b"another-secret-0123456789", "list-1", "AbCdEfGhIjKlMnOp")
    assert check_token(forged, secret, "list-1") is None
    assert check_token(token[:-4], secret, "list-1") is None
    # The first form, as links already sent carry it, verifies with the secret as a str.
    old = make_token(secret, "Briefing", "Ana@Example.org")
    assert verify_token(old, SECRET, "Briefing") == "ana@example.org"
    assert verify_token(old, secret, "Briefing") == "ana@example.org"


def built(config: Config) -> Path:
    result = build(config, now=NOW, warn=lambda _: None)
    assert result.path is not None
    return result.path


def test_list_unsubscribe_reaches_the_server_literally_and_the_footer_names_the_reader(
    project: Path, smtp: SmtpServer
) -> None:
    config = configure(project, smtp_port=smtp.port, base_url="https://news.example.org")
    invoke(project, "subscribers", "add", "ben@example.net", "--name", "Ben")
    report = deliver_issue(config, built(config), now=NOW, warn=lambda _: None, environ=ENV)
    assert report.sent == 1, report.summary()
    raw = smtp.handler.received[0].data
    headers = raw.split(b"\r\n\r\n", 1)[0]
    unfolded = re.sub(rb"\r\n[ \t]", b" ", headers)
    field = next(h for h in unfolded.split(b"\r\n") if h.startswith(b"List-Unsubscribe:"))
    assert b"=?" not in field, field  # no RFC 2047 encoded-word
    match = re.fullmatch(
        rb"List-Unsubscribe: <(https://news\.example\.org/u/s2\.[\w-]+\.[\w-]+)>, "
        rb"<mailto:briefing@example\.org\?subject=unsubscribe>",
        field,
    )
    assert match, field
    assert b"ben@example.net" not in match.group(1)  # the token does not carry the address
    assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" in headers
    message = smtp.handler.received[0].message
    text = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "You get Peace Plan Briefing because ben@example.net subscribed to it." in text
    assert "subscribers@example.org" not in text
    assert "https://news.example.org/p/s2." in text


@pytest.fixture
def smtp_ascii() -> Iterator[SmtpServer]:
    server = SmtpServer(enable_SMTPUTF8=False).start()
    yield server
    server.stop()


def test_international_addresses_go_out_right_or_are_refused_alone(
    project: Path, smtp_ascii: SmtpServer
) -> None:
    smtp = smtp_ascii
    config = configure(project, smtp_port=smtp.port)
    (project / "subscribers.csv").write_text(
        "email,name,sections\nana@exämple.org,Ana,\njosé@example.org,José,\n"
        "not an address,,\nzed@example.com,Zed,\n",
        encoding="utf-8",
    )
    warnings: list[str] = []
    report = deliver_issue(config, built(config), now=NOW, warn=warnings.append, environ=ENV)
    # The IDNA domain is delivered; the non-ASCII local part needs SMTPUTF8, which this
    # server does not offer: that one recipient fails, everyone after it is still sent.
    assert report.sent == 2, report.summary()
    assert [f.email for f in report.failed] == ["josé@example.org"]
    assert "SMTPUTF8" in report.failed[0].reason
    assert sorted(r.recipients[0] for r in smtp.handler.received) == [
        "ana@xn--exmple-cua.org",
        "zed@example.com",
    ]
    ana = next(r for r in smtp.handler.received if r.recipients == ["ana@xn--exmple-cua.org"])
    assert b"To: Ana <ana@xn--exmple-cua.org>" in ana.data
    assert any("'not an address'" in w and "skipped" in w for w in warnings), warnings


def test_smtputf8_is_used_when_the_server_offers_it(project: Path) -> None:
    server = SmtpServer(enable_SMTPUTF8=True).start()
    try:
        config = configure(project, smtp_port=server.port)
        (project / "subscribers.csv").write_text(
            "email,name,sections\njosé@example.org,José,\n", encoding="utf-8"
        )
        report = deliver_issue(config, built(config), now=NOW, warn=lambda _: None, environ=ENV)
        assert report.sent == 1, report.summary()
        received = server.handler.received[0]
        assert received.recipients == ["josé@example.org"]
        assert "To: José <josé@example.org>".encode() in received.data
    finally:
        server.stop()


def test_subscribers_commands_add_list_import_export_remove(project: Path) -> None:
    configure(project)
    (project / "people.csv").write_text(
        "email,name,sections\nana@example.org,Ana,us-plan\nbad@,,\nbo@example.org,Bo,\n",
        encoding="utf-8",
    )
    imported = run_cli("subscribers", "import", "people.csv", cwd=project)
    assert imported.returncode == 0, imported.stderr
    assert "2 added" in imported.stdout
    assert "people.csv:3:" in imported.stderr and "skipped" in imported.stderr
    refused = invoke(project, "subscribers", "add", "not-an-address", code=2)
    assert "nothing was changed" in refused.output
    invoke(project, "subscribers", "remove", "bo@example.org")
    listed = invoke(project, "subscribers", "list").output
    assert "ana@example.org\tactive" in listed and "bo@example.org\tremoved" in listed
    exported = invoke(project, "subscribers", "export").output.splitlines()
    assert exported[0] == "email,name,sections,status,since,how"
    assert [line.split(",")[:3] for line in exported[1:]] == [["ana@example.org", "Ana", "us-plan"]]


def test_a_renamed_newsletter_keeps_its_list_and_its_links(tmp_path: Path) -> None:
    with state.connect(tmp_path / "state") as engine:
        ref = roster.list_id(engine, "Old Briefing", NOW)
        roster.add(engine, ref, address("ana@example.org"), "", None, how="operator",
                   origin="operator", now=NOW)  # fmt: skip
        ana = roster.by_email(engine, ref, "ana@example.org")
        assert ana is not None
        token = subscriber_token(SECRET.encode(), ref, ana.id)
        warnings: list[str] = []
        fresh = roster.list_id(engine, "New Briefing", NOW, warnings.append)
        assert fresh != ref and "rename-list" in warnings[0]  # said, not silently empty
        assert roster.rename_list(engine, "Old Briefing", "New Briefing") is None
        assert roster.list_id(engine, "New Briefing", NOW) == ref
        assert check_token(token, SECRET, roster.list_id(engine, "New Briefing", NOW)) == ana.id
        assert roster.rename_list(engine, "Old Briefing", "New Briefing") is not None
