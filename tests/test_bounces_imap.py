"""`newsletter bounces --imap-host` against a real IMAP server (Dovecot on 127.0.0.1, IMAPS with
its own certificate; one server for the module): the RFC 3464 and RFC 5965 samples of
tests/data/bounces delivered to its mailbox are read once, the hard bounce and the complaint
are never mailed again, the soft bounce is only reported, and bad settings get one clear line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from conftest import REPO
from imap_server import Imap, dovecot_server, dovecot_unavailable
from newsletter.cli import main
from newsletter.delivery.bounces import ImapSource, imap_messages
from newsletter.delivery.send import deliver_issue
from newsletter.errors import DeliveryError
from smtp_server import SmtpServer
from test_bounces_archive import statuses
from test_subscriber_list import ENV, NOW, built, configure, invoke

SAMPLES = REPO / "tests" / "data" / "bounces"
# A folder as the mail program shows it, with a space (sent quoted), non-ASCII letters and "&"
# (sent in modified UTF-7), and as the server stores it (RFC 3501, 5.1.3).
FOLDER = "Rückläufer & Co"
STORED = "R&APw-ckl&AOQ-ufer &- Co"


@pytest.fixture(scope="module")
def imap() -> Iterator[Imap]:
    reason = dovecot_unavailable()
    if reason:
        pytest.skip(reason)
    with dovecot_server() as server:
        yield server


def bounces(project: Path, imap: Imap, *args: str, password: str | None = None) -> Result:
    """``newsletter bounces`` on the test server's folder, in this process."""
    command = ["bounces", "--imap-host", "127.0.0.1", "--imap-port", str(imap.port)]
    command += ["--imap-user", imap.user, *args, "--config", str(project / "newsletter.toml")]
    env = {"NEWSLETTER_IMAP_PASSWORD": imap.password if password is None else password}
    return CliRunner().invoke(main, command, env=env)


def test_reports_in_an_imap_folder_stop_the_mail_to_bounced_and_complaining_readers(
    project: Path, imap: Imap, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(imap.cert))  # trust the server's own certificate
    (project / "people.csv").write_text(
        "email,name,sections\nhard@example.net,,\nsoft@example.net,,\n"
        "complainer@example.net,,\nfine@example.net,,\n",
        encoding="utf-8",
    )
    invoke(project, "subscribers", "import", str(project / "people.csv"))
    imap.clear(STORED)
    for sample in sorted(SAMPLES.glob("*.eml")):
        imap.deliver(STORED, sample.read_bytes())
    imap.deliver(STORED, b"From: someone@example.com\r\nSubject: hello\r\n\r\nnot a report\r\n")
    # Read before by a person: a seen message is not the tool's to read.
    seen_hard = b"From: MAILER-DAEMON@example.com\r\nSubject: seen\r\n\r\nhard@example.net\r\n"
    imap.deliver(STORED, seen_hard, flags="(\\Seen)")

    first = bounces(project, imap, "--imap-folder", FOLDER)
    assert first.exit_code == 0, first.output
    lines = first.output.splitlines()
    assert "hard bounce: hard@example.net: marked bounced (DSN 5.1.1" in first.output
    assert "complaint: complainer@example.net: marked complained" in first.output
    assert "soft bounce: soft@example.net: still mailed (DSN 4.2.2" in first.output
    assert lines[-1] == (
        "4 message(s): 1 bounced, 1 complained, 0 unsubscribed by mail, 1 soft bounce(s), "
        "0 already recorded"
    )
    assert statuses(project) == {
        "hard@example.net": "bounced",
        "soft@example.net": "active",
        "complainer@example.net": "complained",
        "fine@example.net": "active",
    }
    assert imap.seen(STORED) == [True] * 5  # every report read is marked seen on the server
    again = bounces(project, imap, "--imap-folder", FOLDER)
    assert again.exit_code == 0, again.output
    assert again.output.splitlines() == [
        "0 message(s): 0 bounced, 0 complained, 0 unsubscribed by mail, 0 soft bounce(s), "
        "0 already recorded"
    ]

    # The next issue goes to the soft bounce and the others, never to the two marked.
    invoke(project, "subscribers", "import", str(project / "people.csv"))  # no way back
    server = SmtpServer().start()
    try:
        config = configure(project, smtp_port=server.port)
        report = deliver_issue(config, built(config), now=NOW, warn=lambda _: None, environ=ENV)
        mailed = sorted(r for m in server.handler.received for r in m.recipients)
    finally:
        server.stop()
    assert report.sent == 2, report.summary()
    assert mailed == ["fine@example.net", "soft@example.net"]


def test_a_run_that_stops_half_way_leaves_the_unread_reports_unseen(
    imap: Imap, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(imap.cert))
    imap.clear("INBOX")
    for sample in sorted(SAMPLES.glob("*.eml")):
        imap.deliver("INBOX", sample.read_bytes())
    source = ImapSource("127.0.0.1", imap.user, "INBOX", imap.port)
    messages = imap_messages(source, {"NEWSLETTER_IMAP_PASSWORD": imap.password})
    first, _ = next(messages)
    assert first["Subject"]
    assert imap.seen("INBOX") == [False, False, False]  # fetched, not yet handled
    next(messages)  # asking for the next one means the first was handled
    messages.close()  # a crash: the second was fetched but never handled
    assert imap.seen("INBOX") == [True, False, False]
    rest = list(imap_messages(source, {"NEWSLETTER_IMAP_PASSWORD": imap.password}))
    assert len(rest) == 2 and imap.seen("INBOX") == [True, True, True]


def test_bad_imap_settings_get_one_clear_line_and_read_nothing(
    project: Path, imap: Imap, monkeypatch: pytest.MonkeyPatch
) -> None:
    imap.clear("INBOX")
    imap.deliver("INBOX", (SAMPLES / "dsn-hard.eml").read_bytes())
    # No trust in the server's self-signed certificate: the password is never sent to it.
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    untrusted = bounces(project, imap)
    assert untrusted.exit_code == 1
    assert "its TLS certificate is not trusted" in untrusted.output
    assert "SSL_CERT_FILE" in untrusted.output

    monkeypatch.setenv("SSL_CERT_FILE", str(imap.cert))
    wrong = bounces(project, imap, password="not-the-password")
    assert wrong.exit_code == 1
    assert f"login as {imap.user} refused" in wrong.output
    assert "NEWSLETTER_IMAP_PASSWORD" in wrong.output
    missing = bounces(project, imap, "--imap-folder", "No such folder")
    assert missing.exit_code == 1
    assert "no folder 'No such folder'" in missing.output
    empty = bounces(project, imap, password="")
    assert empty.exit_code == 1
    assert "NEWSLETTER_IMAP_PASSWORD is empty" in empty.output
    for result in (untrusted, wrong, missing, empty):
        assert "Traceback" not in result.output and len(result.output.splitlines()) == 1
    assert imap.seen("INBOX") == [False]  # nothing was read


def test_an_unreachable_server_is_one_clear_error() -> None:
    from servers import free_port

    source = ImapSource("127.0.0.1", "u", port=free_port())
    with pytest.raises(DeliveryError, match="cannot connect"):
        list(imap_messages(source, {"NEWSLETTER_IMAP_PASSWORD": "x"}))
