"""Delivery: an issue from the outbox to every subscriber over real SMTP (aiosmtpd on
127.0.0.1), personalized, once, through temporary and permanent failures and a crash."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

import legacy_schema
from conftest import cli_env
from newsletter.config import Config, load_config
from newsletter.delivery.send import DeliveryReport, deliver_issue
from newsletter.delivery.unsubscribe import verify_token
from newsletter.errors import ConfigError, DeliveryError
from newsletter.pipeline import run as build
from newsletter.store import state
from smtp_server import SmtpServer

SECRET = "test-secret-0123456789abcdef"
NEWSLETTER = "Peace Plan Briefing"
NOW = datetime(2025, 11, 22, 7, 0, tzinfo=UTC)
TITLES = {
    "us-plan": "THE US PLAN",
    "ukraine-response": "UKRAINE'S RESPONSE",
    "russia-demands": "RUSSIA'S DEMANDS",
}
SUBSCRIBERS = """email,name,sections
alice@example.org,Alice,us-plan
bob@example.net,Bob Builder,russia-demands;ukraine-response
carol@example.com,Carol,
dave@example.org,"Dave, Jr.",ukraine-response
"""


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


def configure(
    project: Path, port: int, subscribers: str = SUBSCRIBERS, **delivery: object
) -> Config:
    toml = project / "newsletter.toml"
    text = toml.read_text(encoding="utf-8").replace(
        "[brand]\n", '[brand]\nunsubscribe_url = "https://example.org/unsubscribe"\n', 1
    )
    settings = {"rate": 1000, "attempts": 3, "backoff": 0.01, **delivery}
    text += "\n[delivery]\n" + "".join(f"{k} = {v}\n" for k, v in settings.items())
    text += f'\n[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\ntimeout = 10\n'
    toml.write_text(text, encoding="utf-8")
    (project / "subscribers.csv").write_text(subscribers, encoding="utf-8")
    return load_config(toml)


def built_issue(config: Config) -> Path:
    result = build(config, now=NOW, warn=lambda _: None)
    assert result.path is not None
    return result.path


def send(
    config: Config, folder: Path, warnings: list[str] | None = None, **options: object
) -> DeliveryReport:
    sink = warnings if warnings is not None else []
    return deliver_issue(
        config,
        folder,
        now=NOW,
        warn=sink.append,
        environ={"NEWSLETTER_UNSUBSCRIBE_SECRET": SECRET},
        **options,  # type: ignore[arg-type]
    )


def text_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def html_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("html",))
    assert body is not None
    return str(body.get_content())


def token_in(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


def test_each_subscriber_gets_one_message_with_own_link_and_sections(
    project: Path, smtp: SmtpServer
) -> None:
    config = configure(project, smtp.port)
    report = send(config, built_issue(config))

    assert report.sent == 4 and not report.failed, report.summary()
    assert smtp.handler.per_recipient() == {
        "alice@example.org": 1,
        "bob@example.net": 1,
        "carol@example.com": 1,
        "dave@example.org": 1,
    }
    wanted = {
        "alice@example.org": {"us-plan"},
        "bob@example.net": {"russia-demands", "ukraine-response"},
        "carol@example.com": set(TITLES),
        "dave@example.org": {"ukraine-response"},
    }
    message_ids = set()
    for received in smtp.handler.received:
        email = received.recipients[0]
        message = received.message
        assert email in message["To"]
        link = message["List-Unsubscribe"].strip("<>")
        assert link.startswith("https://example.org/unsubscribe?token=")
        assert verify_token(token_in(link), SECRET.encode(), NEWSLETTER) == email
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        text, html = text_of(message), html_of(message)
        assert link in text
        assert link.replace("&", "&amp;") in html
        for section, title in TITLES.items():
            assert (title in text) == (section in wanted[email]), (email, title)
        message_ids.add(message["Message-ID"])
    assert len(message_ids) == 4
    # Someone else's token, or a tampered one, does not verify.
    alice = next(r for r in smtp.handler.received if r.recipients == ["alice@example.org"])
    token = token_in(alice.message["List-Unsubscribe"].strip("<>"))
    assert verify_token(token, b"another-secret-0123456789", NEWSLETTER) is None
    assert verify_token(token[:-2] + "AA", SECRET.encode(), NEWSLETTER) is None


def test_second_send_sends_nothing_and_says_so(project: Path, smtp: SmtpServer) -> None:
    config = configure(project, smtp.port)
    folder = built_issue(config)
    send(config, folder)
    again = send(config, folder)
    assert (again.sent, again.skipped, again.failed) == (0, 4, ())
    assert "sent 0, skipped 4 (already sent), failed 0" in again.summary()
    assert smtp.handler.count() == 4


def test_451_then_250_is_retried_and_delivered_once(project: Path, smtp: SmtpServer) -> None:
    config = configure(project, smtp.port)
    smtp.handler.data_replies["bob@example.net"] = ["451 4.3.0 Try again later"]
    smtp.handler.drop_data["carol@example.com"] = 1  # the connection drops mid-transaction
    report = send(config, built_issue(config))
    assert report.sent == 4 and not report.failed, report.summary()
    assert smtp.handler.count("bob@example.net") == 1
    assert smtp.handler.count("carol@example.com") == 1
    with state.connect(config.state_dir) as engine, engine.connect() as conn:
        rows = dict(
            conn.execute(sa.select(state.deliveries.c.email, state.deliveries.c.attempts)).all()
        )
    assert rows["bob@example.net"] == 2
    assert rows["carol@example.com"] == 2
    assert rows["alice@example.org"] == 1


def test_550_for_one_address_is_reported_and_the_others_delivered(
    project: Path, smtp: SmtpServer
) -> None:
    built_issue(configure(project, smtp.port))
    smtp.handler.rcpt_replies["bob@example.net"] = "550 5.1.1 No such user here"
    env = {**cli_env(), "NEWSLETTER_UNSUBSCRIBE_SECRET": SECRET}
    result = subprocess.run(
        [sys.executable, "-m", "newsletter", "send"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stderr
    assert "sent 3, skipped 0 (already sent), failed 1" in result.stdout
    assert "bob@example.net: recipient refused: 550 5.1.1 No such user here" in result.stdout
    assert smtp.handler.per_recipient() == {
        "alice@example.org": 1,
        "carol@example.com": 1,
        "dave@example.org": 1,
    }
    # A refused address is not hammered again by the next run unless asked to.
    config = load_config(project / "newsletter.toml")
    again = send(config, next(p for p in (project / "outbox").iterdir() if p.name[0] != "."))
    assert (again.sent, again.skipped, again.refused_before) == (0, 3, 1)
    assert again.ok


def test_a_send_killed_halfway_resumes_without_duplicates(project: Path, smtp: SmtpServer) -> None:
    emails = [f"reader{i}@example.org" for i in range(8)]
    built_issue(configure(project, smtp.port, "email\n" + "\n".join(emails) + "\n"))
    env = {**cli_env(), "NEWSLETTER_UNSUBSCRIBE_SECRET": SECRET}
    command = [sys.executable, "-m", "newsletter", "send"]

    # Hold the 4th MAIL FROM: the sender only starts message 4 after message 3 was accepted
    # AND recorded as sent, so the kill lands between messages, never inside one.
    smtp.handler.hold_after = 3
    process = subprocess.Popen(
        command, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert smtp.handler.held.wait(30), "the sender never reached the 4th message"
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()  # type: ignore[union-attr]
        process.stderr.close()  # type: ignore[union-attr]
    assert process.returncode == -signal.SIGKILL
    assert smtp.handler.count() == 3
    smtp.handler.hold_after = None
    smtp.handler.release.set()

    again = subprocess.run(
        command, cwd=project, env=env, capture_output=True, text=True, timeout=60
    )
    assert again.returncode == 0, again.stderr
    assert "sent 5, skipped 3 (already sent), failed 0" in again.stdout
    assert "1 re-sent after an interrupted run" in again.stdout  # the one claimed when killed
    assert smtp.handler.per_recipient() == dict.fromkeys(emails, 1)


def test_unreachable_server_stops_the_run_and_a_rerun_delivers(
    project: Path, smtp: SmtpServer
) -> None:
    config = configure(project, smtp.port)
    folder = built_issue(config)
    smtp.stop()
    with pytest.raises(
        DeliveryError,
        match=r"cannot deliver: 127\.0\.0\.1:\d+: Connection refused; stopped after sending 0",
    ):
        send(config, folder)
    server = SmtpServer()
    server.port = smtp.port
    server.controller.port = smtp.port
    server.start()
    try:
        report = send(config, folder)
    finally:
        server.stop()
    assert report.sent == 4, report.summary()
    assert server.handler.count() == 4


def test_csv_problems_are_reported_with_line_numbers(project: Path, smtp: SmtpServer) -> None:
    subscribers = (
        "email,name,sections\n"
        "alice@example.org,Alice,us-plan\n"
        "not-an-address,Nobody,\n"
        "ALICE@example.org,Alice again,\n"
        "bob@example,Bob,\n"
        'carol@example.com,"Carol\nBcc: x@evil.example",us-plan weather\n'
        ",Empty,\n"
        "dave@example.org,Dave,weather\n"
    )
    config = configure(project, smtp.port, subscribers)
    warnings: list[str] = []
    report = send(config, built_issue(config), warnings)
    csv_file = project / "subscribers.csv"
    assert warnings == [
        f"{csv_file}:3: 'not-an-address' is not an email address; skipped",
        f"{csv_file}:4: ALICE@example.org is already on line 2; skipped",
        f"{csv_file}:5: 'bob@example': the domain is not valid (expected e.g. "
        "name@example.org); skipped",
        f"{csv_file}:6: carol@example.com: unknown section 'weather' ignored (this newsletter "
        "has: us-plan, ukraine-response, russia-demands)",
        f"{csv_file}:8: the email column is empty; skipped",
        f"{csv_file}:9: dave@example.org: unknown section 'weather' ignored (this newsletter "
        "has: us-plan, ukraine-response, russia-demands)",
        f"{csv_file}:9: dave@example.org lists no section this newsletter has; skipped",
    ]
    assert report.sent == 2
    assert smtp.handler.per_recipient() == {"alice@example.org": 1, "carol@example.com": 1}
    carol = next(r for r in smtp.handler.received if r.recipients == ["carol@example.com"])
    assert carol.message["Bcc"] is None  # a line break in a name does not make a header
    assert carol.message["To"].addresses[0].display_name == "Carol Bcc: x@evil.example"


def test_dry_run_writes_each_message_and_touches_no_delivery_state(
    project: Path, smtp: SmtpServer
) -> None:
    config = configure(project, smtp.port)
    folder = built_issue(config)
    report = send(config, folder, dry_run=True)
    written = sorted(p.name for p in (folder / "dry-run").iterdir())
    assert written == [
        "alice@example.org.eml",
        "bob@example.net.eml",
        "carol@example.com.eml",
        "dave@example.org.eml",
    ]
    assert "4 messages written" in report.summary()
    assert smtp.handler.count() == 0
    with state.connect(config.state_dir) as engine, engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(state.deliveries)).scalar() == 0
    # A real send afterwards sends the very message the dry run showed.
    send(config, folder)
    bob = next(r for r in smtp.handler.received if r.recipients == ["bob@example.net"]).message
    from email import message_from_bytes, policy

    preview = message_from_bytes(
        (folder / "dry-run" / "bob@example.net.eml").read_bytes(), policy=policy.default
    )
    assert preview["Message-ID"] == bob["Message-ID"]
    assert preview["List-Unsubscribe"] == bob["List-Unsubscribe"]
    # A second dry run replaces the first whole: no file is left from a subscriber who left.
    (project / "subscribers.csv").write_text(SUBSCRIBERS.replace("dave@example.org", "#dave"))
    send(config, folder, dry_run=True)
    assert len(list((folder / "dry-run").iterdir())) == 3
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []


def test_send_refuses_without_the_secret_or_the_password(project: Path, smtp: SmtpServer) -> None:
    built_issue(configure(project, smtp.port))
    env = {k: v for k, v in cli_env().items() if k != "NEWSLETTER_UNSUBSCRIBE_SECRET"}
    result = subprocess.run(
        [sys.executable, "-m", "newsletter", "send"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.startswith(
        "error: the environment variable NEWSLETTER_UNSUBSCRIBE_SECRET is not set"
    )
    toml = project / "newsletter.toml"
    toml.write_text(
        toml.read_text().replace('security = "none"', 'security = "none"\nuser = "bot"')
    )
    config = load_config(toml)
    folder = next(p for p in (project / "outbox").iterdir() if p.name[0] != ".")
    with pytest.raises(
        DeliveryError, match="environment variable NEWSLETTER_SMTP_PASSWORD is empty"
    ):
        send(config, folder)
    assert smtp.handler.count() == 0


def test_unsubscribe_placeholder_and_wrong_smtp_settings(project: Path) -> None:
    from newsletter.delivery.unsubscribe import unsubscribe_link

    assert unsubscribe_link("https://x.org/u/{token}", "v1.a.b") == "https://x.org/u/v1.a.b"
    assert unsubscribe_link("https://x.org/u?list=3", "t") == "https://x.org/u?list=3&token=t"
    assert unsubscribe_link("mailto:leave@x.org", "t") == "mailto:leave@x.org?body=t"
    toml = project / "newsletter.toml"
    toml.write_text(toml.read_text() + '\n[smtp]\nsecurity = "ssl"\n')
    with pytest.raises(ConfigError) as error:
        load_config(toml)
    assert str(error.value) == (
        f"{toml}: key 'smtp.security': Input should be 'starttls', 'tls' or 'none'"
    )


class FakeClock:
    """Time that passes only when the code sleeps: the pace is read off exactly."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_rate_limit_spaces_the_messages(project: Path, smtp: SmtpServer) -> None:
    from newsletter.delivery.send import Pacing

    config = configure(project, smtp.port, rate=2)
    clock = FakeClock()
    report = send(config, built_issue(config), pacing=Pacing(clock.sleep, clock.monotonic))
    assert report.sent == 4
    assert clock.sleeps == pytest.approx([0.5, 0.5, 0.5])  # 4 messages at 2 per second


def test_backoff_doubles_between_temporary_failures(project: Path, smtp: SmtpServer) -> None:
    from newsletter.delivery.send import Pacing

    config = configure(project, smtp.port, attempts=3, backoff=1.5)
    smtp.handler.data_replies["alice@example.org"] = ["421 4.3.2 busy", "452 4.3.1 full", "451 x"]
    clock = FakeClock()
    report = send(config, built_issue(config), pacing=Pacing(clock.sleep, clock.monotonic))
    assert [s for s in clock.sleeps if s >= 1] == [1.5, 3.0]  # the rest: the rate limit
    assert [f.email for f in report.failed] == ["alice@example.org"]
    assert "gave up after retries" in report.failed[0].reason
    assert report.sent == 3 and smtp.handler.count("alice@example.org") == 0


def test_starttls_not_offered_stops_with_a_clear_line(project: Path, smtp: SmtpServer) -> None:
    config = configure(project, smtp.port)
    toml = project / "newsletter.toml"
    toml.write_text(toml.read_text().replace('security = "none"', 'security = "starttls"'))
    config = load_config(toml)
    with pytest.raises(DeliveryError, match=r"STARTTLS extension not supported by server; check"):
        send(config, built_issue(config))
    assert smtp.handler.count() == 0


def test_a_database_from_before_deliveries_gains_the_table(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'state.db'}")
    legacy_schema.migrate(engine, (1, 2, 3))  # made before migration 4 existed
    engine.dispose()
    with state.connect(tmp_path) as engine, engine.connect() as conn:
        assert sa.inspect(conn).has_table("deliveries")
        versions = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars()
        assert list(versions) == [state.SCHEMA_VERSION]


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_tls_and_login(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, security: str
) -> None:
    from smtp_server import Logins, self_signed_certificate, server_tls

    cert, key = self_signed_certificate(tmp_path)
    logins = Logins("bot", "s3cret pass")
    tls = server_tls(cert, key)
    options = {"tls_context": tls} if security == "starttls" else {"ssl_context": tls}
    # aiosmtpd counts only STARTTLS as TLS for AUTH; with implicit TLS the whole session is.
    server = SmtpServer(authenticator=logins, auth_require_tls=security == "starttls", **options)
    server.start()
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # trust the test's own certificate
    try:
        config = configure(project, server.port)
        toml = project / "newsletter.toml"
        toml.write_text(
            toml.read_text().replace('security = "none"', f'security = "{security}"\nuser = "bot"')
        )
        config = load_config(toml)
        folder = built_issue(config)
        environ = {"NEWSLETTER_UNSUBSCRIBE_SECRET": SECRET, "NEWSLETTER_SMTP_PASSWORD": "wrong"}
        with pytest.raises(DeliveryError, match="rejected the login for 'bot': 535"):
            deliver_issue(config, folder, now=NOW, warn=print, environ=environ)
        environ["NEWSLETTER_SMTP_PASSWORD"] = "s3cret pass"
        report = deliver_issue(config, folder, now=NOW, warn=print, environ=environ)
    finally:
        server.stop()
    assert report.sent == 4, report.summary()
    assert server.handler.count() == 4
    # smtplib tries each mechanism the server offers before giving up on a password
    assert set(logins.tries[:-1]) == {(b"bot", b"wrong")}
    assert logins.tries[-1] == (b"bot", b"s3cret pass")


def test_a_connection_that_keeps_dropping_stops_the_run_and_the_rerun_goes_on(
    project: Path, smtp: SmtpServer
) -> None:
    config = configure(project, smtp.port, attempts=3)
    folder = built_issue(config)
    smtp.handler.drop_data["carol@example.com"] = 3  # every attempt this run
    with pytest.raises(DeliveryError) as error:
        send(config, folder)
    assert "closed the connection" in str(error.value)
    assert "stopped after sending 2 (failed 0): run 'newsletter send' again" in str(error.value)
    assert smtp.handler.per_recipient() == {"alice@example.org": 1, "bob@example.net": 1}
    report = send(config, folder)
    assert (report.sent, report.skipped, report.resent) == (2, 2, 0)  # carol was never accepted
    assert smtp.handler.per_recipient() == dict.fromkeys(
        ["alice@example.org", "bob@example.net", "carol@example.com", "dave@example.org"], 1
    )


def test_which_issue_send_picks(project: Path, smtp: SmtpServer) -> None:
    from newsletter.delivery.send import find_issue

    config = configure(project, smtp.port)
    first = built_issue(config)
    second = build(config, now=NOW, warn=print, new_edition=True, allow_empty=True).path
    assert second is not None and second != first
    assert find_issue(config, None) == second  # the latest
    assert find_issue(config, "1") == first
    assert find_issue(config, str(first)) == first
    with pytest.raises(DeliveryError, match="issue #3 is not in the outbox"):
        find_issue(config, "3")
    with pytest.raises(DeliveryError, match="not an issue folder"):
        find_issue(config, str(project))


def test_the_scheduler_hook_sends_a_written_issue_and_never_raises(
    project: Path, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from newsletter.delivery.send import deliver_after_build

    config = configure(project, smtp.port)
    result = build(config, now=NOW, warn=print)
    warnings: list[str] = []
    lines: list[str] = []
    hook = deliver_after_build(config, warn=warnings.append, inform=lines.append)

    monkeypatch.delenv("NEWSLETTER_UNSUBSCRIBE_SECRET", raising=False)
    hook(result)
    assert warnings[0].startswith(f"sending {result.path.name} failed: the environment variable")

    monkeypatch.setenv("NEWSLETTER_UNSUBSCRIBE_SECRET", SECRET)
    hook(result)
    assert lines == ["Issue #1: sent 4, skipped 0 (already sent), failed 0"]
    assert smtp.handler.count() == 4


def test_a_schedule_with_send_true_delivers_each_issue_it_writes(
    project: Path, smtp: SmtpServer
) -> None:
    from daemon_helpers import add_schedule, start, stop, wait_for

    configure(project, smtp.port)
    add_schedule(project, '[[schedule]]\nname = "fast"\ncron = "*/2 * * * * *"\nsend = true\n')
    daemon = start(project, "schedule", env={"NEWSLETTER_UNSUBSCRIBE_SECRET": SECRET})
    try:
        wait_for(lambda: smtp.handler.count() == 4, what="the issue delivered to 4 subscribers")
        time.sleep(2.5)  # the next slots find nothing new: no second issue, no second message
    finally:
        code, err = stop(daemon)
    assert code == 0, err
    assert "Issue #1: sent 4, skipped 0 (already sent), failed 0" in err
    assert smtp.handler.per_recipient() == {
        "alice@example.org": 1,
        "bob@example.net": 1,
        "carol@example.com": 1,
        "dave@example.org": 1,
    }
