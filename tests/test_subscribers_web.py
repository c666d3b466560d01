"""`newsletter serve` as a real process on loopback, with aiosmtpd receiving its mail: a reader
signs up in the real headless Chromium, confirms from the received mail, picks sections; the
next `send` honours it. Then plain HTTP: one-click unsubscribe, forged tokens, no address
enumeration, the rate limit, CSRF, the archive and its Atom feed."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from browser import Browser, Page, chromium_path
from conftest import start_cli
from emailkit import build_issue, new_project
from newsletter.config import load_config
from newsletter.delivery import roster
from newsletter.delivery.send import deliver_issue
from newsletter.delivery.unsubscribe import make_token
from newsletter.pipeline import run as build
from newsletter.store import state
from smtp_server import SmtpServer, free_port

SECRET = "web-test-secret-0123456789abcdef"
ENV = {"NEWSLETTER_UNSUBSCRIBE_SECRET": SECRET}
NOW = datetime(2025, 11, 22, 7, 0, tzinfo=UTC)


@dataclass
class Service:
    project: Path
    base: str
    smtp: SmtpServer
    process: subprocess.Popen[str]

    def status(self, email: str) -> str | None:
        config = load_config(self.project / "newsletter.toml")
        with state.connect(config.state_dir, config.state.url) as engine:
            ref = roster.list_id(engine, config.newsletter.name, NOW)
            member = roster.by_email(engine, ref, email)
        return None if member is None else member.status

    def mail_to(self, email: str, count: int = 1, timeout: float = 60) -> str:
        """The text of the ``count``-th message the service sent to ``email``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [r for r in self.smtp.handler.received if r.recipients == [email]]
            if len(found) >= count:
                body = found[count - 1].message.get_body(preferencelist=("plain",))
                assert body is not None
                return str(body.get_content())
            time.sleep(0.05)
        raise AssertionError(f"no mail #{count} to {email}")


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    project = new_project(tmp_path / "project")
    smtp = SmtpServer().start()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with (project / "newsletter.toml").open("a", encoding="utf-8") as toml:
        toml.write(
            f'\n[web]\nbase_url = "{base}"\nsignups_per_client = 6\nsignups_per_address = 2\n'
            f'\n[smtp]\nhost = "127.0.0.1"\nport = {smtp.port}\nsecurity = "none"\n'
            "\n[delivery]\nrate = 1000\n"
        )
    build_issue(project)
    process = start_cli(project, "serve", "--port", str(port), env=ENV)
    try:
        _wait_healthy(base, process)
        yield Service(project, base, smtp, process)
    finally:
        process.terminate()
        try:
            process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
        smtp.stop()


def _wait_healthy(base: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 90  # a loaded CI machine imports slowly
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"newsletter serve exited: {process.communicate()[1]}")
        try:
            if httpx.get(f"{base}/health", timeout=2).json() == {"status": "ok"}:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("newsletter serve did not answer /health")


def _open(page: Page, url: str) -> None:
    page.resize(600, 900)
    page.send("Page.navigate", {"url": url})
    _wait(page, f"location.href === {url!r} && document.readyState === 'complete'", url)


def _wait(page: Page, check: str, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if page.evaluate(check):
                return
        except RuntimeError:
            pass  # the page is navigating: its context went away mid-evaluation
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _click_and_wait(page: Page, selector: str, text: str) -> None:
    page.evaluate(f"document.querySelector({selector!r}).click()")
    check = (
        f"document.readyState === 'complete' && !!document.body && "
        f"document.body.innerText.includes({text!r})"
    )
    _wait(page, check, repr(text))


def test_a_reader_signs_up_confirms_and_picks_sections_in_a_browser_then_send_honours_it(
    service: Service, tmp_path: Path
) -> None:
    chromium_path()  # skips with the reason when Chromium is absent
    browser = Browser(tmp_path / "chromium-profile")
    try:
        page = browser.page()
        _open(page, f"{service.base}/subscribe")
        page.evaluate(
            "document.querySelector('#email').value = 'reader@example.org';"
            "document.querySelector('#name').value = 'Rea Der';"
        )
        _click_and_wait(page, "form button[type=submit]", "Check your inbox")
        assert service.status("reader@example.org") == "pending"
        mail = service.mail_to("reader@example.org")
        link = re.search(r"(http://127\.0\.0\.1:\d+/confirm/\S+)", mail)
        assert link, mail
        _open(page, link.group(1))
        assert service.status("reader@example.org") == "pending"  # opening it is not enough
        _click_and_wait(page, "#confirm", "You are subscribed")
        assert service.status("reader@example.org") == "active"
        _open(page, page.evaluate("document.querySelector('main a').href"))
        page.evaluate(
            "document.querySelector('input[value=\"russia-demands\"]').checked = false;"
            "document.querySelector('input[value=\"us-plan\"]').checked = false;"
            "document.querySelector('#name').value = 'Rea';"
        )
        _click_and_wait(page, "#save", "Saved")
    finally:
        browser.close()

    config = load_config(service.project / "newsletter.toml")
    folder = sorted((service.project / "outbox").glob("2*"))[0]
    report = deliver_issue(config, folder, now=NOW, warn=lambda _: None, environ=ENV)
    assert report.sent == 1, report.summary()
    issue = service.smtp.handler.received[-1]
    assert issue.recipients == ["reader@example.org"]
    assert "Rea <reader@example.org>" in issue.message["To"]
    text = str(issue.message.get_body(preferencelist=("plain",)).get_content())  # type: ignore[union-attr]
    assert "UKRAINE'S RESPONSE" in text
    assert "RUSSIA'S DEMANDS" not in text and "THE US PLAN" not in text
    assert "because reader@example.org subscribed" in text
    assert f"{service.base}/p/s2." in text


def _form(client: httpx.Client, base: str) -> str:
    page = client.get(f"{base}/subscribe")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token
    return token.group(1)


def _signup(client: httpx.Client, base: str, email: str, **extra: str) -> httpx.Response:
    data = {"csrf": _form(client, base), "email": email, "name": "", **extra}
    return client.post(f"{base}/subscribe", data=data)


def test_one_click_forged_tokens_enumeration_rate_limit_csrf_and_archive(
    service: Service,
) -> None:
    base = service.base
    with (service.project / "subscribers.csv").open("w", encoding="utf-8") as csv:
        csv.write("email,name,sections\nknown@example.org,Known,\nleaver@example.org,,\n")
    config = load_config(service.project / "newsletter.toml")
    folder = sorted((service.project / "outbox").glob("2*"))[0]
    deliver_issue(config, folder, now=NOW, warn=lambda _: None, environ=ENV)
    sent = next(r for r in service.smtp.handler.received if r.recipients == ["leaver@example.org"])
    one_click = sent.message["List-Unsubscribe"].split(",")[0].strip().strip("<>")
    assert one_click.startswith(f"{base}/u/s2.")

    with httpx.Client(timeout=10) as client:
        # A GET (a mail scanner following the link) shows a button and changes nothing.
        shown = client.get(one_click)
        assert shown.status_code == 200 and "Unsubscribe" in shown.text
        assert service.status("leaver@example.org") == "active"
        # A forged or truncated token changes nothing.
        forged = one_click[:-4] + ("AAAA" if not one_click.endswith("AAAA") else "BBBB")
        for bad in (forged, one_click[:-10], f"{base}/u/v1.a2lt.bad"):
            answer = client.post(bad, data={"List-Unsubscribe": "One-Click"})
            assert answer.status_code == 400
        assert service.status("leaver@example.org") == "active"
        # RFC 8058: the POST alone, no cookie, no CSRF token; twice is harmless.
        for _ in range(2):
            answer = httpx.post(one_click, data={"List-Unsubscribe": "One-Click"}, timeout=10)
            assert answer.status_code == 200
            assert service.status("leaver@example.org") == "unsubscribed"

        # A link of the first form (made for a [brand] unsubscribe_url page) still resolves.
        old = make_token(SECRET.encode(), config.newsletter.name, "known@example.org")
        shown = client.get(f"{base}/unsubscribe", params={"token": old})
        assert shown.status_code == 200 and "known@example.org will get no more" in shown.text

        # The same answer, byte for byte, for a subscriber and a stranger.
        known = _signup(client, base, "known@example.org")
        stranger = _signup(client, base, "stranger@example.org")
        assert known.status_code == stranger.status_code == 200
        assert known.content == stranger.content
        # A form without its CSRF token (another site's, or forged) changes nothing.
        bare = httpx.post(f"{base}/subscribe", data={"email": "csrf@example.org"}, timeout=10)
        assert bare.status_code == 403 and 'name="csrf"' in bare.text
        assert service.status("csrf@example.org") is None
        # The honeypot: the same answer, and nothing recorded or mailed.
        trap = _signup(client, base, "bot@example.org", website="http://spam.example")
        assert trap.content == stranger.content and service.status("bot@example.org") is None
        # Per address (2 an hour here), then per client (6 an hour here): 429.
        assert _signup(client, base, "stranger@example.org").status_code == 200
        assert _signup(client, base, "stranger@example.org").status_code == 429
        assert _signup(client, base, "fresh@example.org").status_code == 200
        assert _signup(client, base, "fresher@example.org").status_code == 429

        # The archive: index with its feed announced, a web version with no personal link.
        index = client.get(f"{base}/")
        assert '<link rel="alternate" type="application/atom+xml"' in index.text
        feed = client.get(f"{base}/feed.atom")
        assert feed.headers["content-type"].startswith("application/atom+xml")
        assert f"<id>{base}/issues/1/</id>" in feed.text
        web = client.get(f"{base}/issues/1/").text
        assert "The US plan" in web and "/u/" not in web and "/p/" not in web
        assert "subscribers@example.org" not in web and f"{base}/subscribe" in web

    # The next issue goes to the one left on the list; the CSV still lists the leaver, and
    # the import that each send makes of it does not bring them back.
    service.smtp.handler.received.clear()
    result = build(config, now=NOW, warn=lambda _: None, new_edition=True, allow_empty=True)
    assert result.path is not None
    report = deliver_issue(config, result.path, now=NOW, warn=lambda _: None, environ=ENV)
    assert report.sent == 1, report.summary()
    assert [r.recipients for r in service.smtp.handler.received] == [["known@example.org"]]
