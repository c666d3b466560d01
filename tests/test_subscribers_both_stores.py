"""The subscriber journey on the embedded SQLite file and on PostgreSQL (the shared state of
several `newsletter serve` instances): sign-up with double opt-in, one-click unsubscribe, an
import that never re-activates who left, bounces, and a `send` that mails active readers only.

The web service runs in this process (Starlette's test client drives the real application,
with its real state database and real SMTP to aiosmtpd): the same app `newsletter serve` runs,
without a process start per store. tests/test_subscribers_web.py runs it as a real process."""

from __future__ import annotations

import mailbox
import re
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import REPO
from emailkit import new_project, set_in_config
from newsletter.config import Config, load_config
from newsletter.delivery import roster
from newsletter.delivery.send import deliver_issue
from newsletter.delivery.unsubscribe import subscriber_token
from newsletter.pipeline import run as build
from newsletter.store import state
from newsletter.web.app import create_app
from smtp_server import SmtpServer
from test_subscriber_list import ENV, NOW, SECRET, invoke

# Starlette's test client over httpx is deprecated in favour of httpx2, not installed here.
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")

BASE = "http://testserver"  # the test client's host: the links in the mails point here


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


def _project(root: Path, state_url: str | None, smtp_port: int) -> Config:
    project = new_project(root)
    with (project / "newsletter.toml").open("a", encoding="utf-8") as toml:
        toml.write(
            f'\n[web]\nbase_url = "{BASE}"\n'
            f'\n[smtp]\nhost = "127.0.0.1"\nport = {smtp_port}\nsecurity = "none"\n'
            "\n[delivery]\nrate = 1000\n"
        )
    if state_url:
        set_in_config(project, "state", "url", state_url)
    return load_config(project / "newsletter.toml")


def _statuses(config: Config) -> dict[str, str]:
    with state.connect(config.state_dir, config.state.url) as engine:
        ref = roster.list_id(engine, config.newsletter.name, NOW)
        return {m.email: m.status for m in roster.members(engine, ref)}


def _mail_to(smtp: SmtpServer, email: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [r for r in smtp.handler.received if r.recipients == [email]]
        if found:
            body = found[0].message.get_body(preferencelist=("plain",))
            assert body is not None
            return str(body.get_content())
        time.sleep(0.05)
    raise AssertionError(f"no mail to {email}")


def _csrf(page: str) -> str:
    token = re.search(r'name="csrf" value="([^"]+)"', page)
    assert token, page
    return token.group(1)


def test_sign_up_one_click_import_bounce_and_send_on_sqlite_and_postgresql(
    tmp_path: Path, state_url: str | None, smtp: SmtpServer
) -> None:
    config = _project(tmp_path / "project", state_url, smtp.port)
    project = config.root
    (project / "subscribers.csv").write_text(
        "email,name,sections\nana@example.org,Ana,\nleaver@example.org,,\nhard@example.net,,\n",
        encoding="utf-8",
    )
    invoke(project, "subscribers", "import", str(project / "subscribers.csv"))

    with TestClient(create_app(config, environ=ENV, clock=lambda: NOW)) as client:
        # Sign-up: pending until the link in the mail is confirmed (GET shows, POST confirms).
        form = client.get("/subscribe")
        answer = client.post(
            "/subscribe", data={"csrf": _csrf(form.text), "email": "new@example.org", "name": ""}
        )
        assert answer.status_code == 200
        assert _statuses(config)["new@example.org"] == "pending"
        link = re.search(rf"({re.escape(BASE)}/confirm/\S+)", _mail_to(smtp, "new@example.org"))
        assert link
        shown = client.get(link.group(1))
        assert shown.status_code == 200 and _statuses(config)["new@example.org"] == "pending"
        assert client.post(link.group(1), data={"csrf": _csrf(shown.text)}).status_code == 200
        assert _statuses(config)["new@example.org"] == "active"

        # One-click (RFC 8058) with the link `send` puts in List-Unsubscribe: no cookie, no CSRF.
        with state.connect(config.state_dir, config.state.url) as engine:
            ref = roster.list_id(engine, config.newsletter.name, NOW)
            leaver = roster.by_email(engine, ref, "leaver@example.org")
        assert leaver is not None
        one_click = f"/u/{subscriber_token(SECRET.encode(), ref, leaver.id)}"
        assert client.get(one_click).status_code == 200  # a prefetch changes nothing
        assert _statuses(config)["leaver@example.org"] == "active"
        client.cookies.clear()
        for _ in range(2):  # idempotent
            answer = client.post(one_click, data={"List-Unsubscribe": "One-Click"})
            assert answer.status_code == 200
        assert _statuses(config)["leaver@example.org"] == "unsubscribed"

    # A hard bounce, read from a maildir by `newsletter bounces`.
    box = mailbox.Maildir(tmp_path / "bounces", create=True)
    box.add((REPO / "tests" / "data" / "bounces" / "dsn-hard.eml").read_bytes())
    invoke(project, "bounces", "--maildir", str(tmp_path / "bounces"))

    # The same CSV again (and the import every `send` makes of it): nobody who left is back.
    again = invoke(project, "subscribers", "import", str(project / "subscribers.csv")).output
    assert "leaver@example.org" in again and "hard@example.net" in again
    assert _statuses(config) == {
        "ana@example.org": "active",
        "leaver@example.org": "unsubscribed",
        "hard@example.net": "bounced",
        "new@example.org": "active",
    }
    smtp.handler.received.clear()
    result = build(config, now=NOW, warn=lambda _: None, allow_empty=True)
    assert result.path is not None
    report = deliver_issue(config, result.path, now=NOW, warn=lambda _: None, environ=ENV)
    assert report.sent == 2, report.summary()
    mailed = sorted(r for m in smtp.handler.received for r in m.recipients)
    assert mailed == ["ana@example.org", "new@example.org"]
