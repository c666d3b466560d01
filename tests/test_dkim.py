"""DKIM: every message handed to the SMTP server carries a signature that dkimpy verifies
against the operator's public key; the key never shows in a log line; a missing key is one
line naming the file."""

from __future__ import annotations

import base64
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import dkim
import pytest

from newsletter.errors import DeliveryError
from smtp_server import SmtpServer
from test_delivery import built_issue, configure, send


@pytest.fixture(scope="module")
def key_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    """A fresh 2048-bit RSA key (openssl, as an operator makes one) and its DNS TXT record."""
    folder = tmp_path_factory.mktemp("dkim")
    private = folder / "dkim.pem"
    subprocess.run(
        ["openssl", "genrsa", "-traditional", "-out", str(private), "2048"],
        check=True,
        capture_output=True,
    )
    der = subprocess.run(
        ["openssl", "rsa", "-in", str(private), "-pubout", "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)
    return private, record


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


def test_each_message_sent_is_signed_and_verifies(
    project: Path, smtp: SmtpServer, key_pair: tuple[Path, bytes]
) -> None:
    private, record = key_pair
    config = configure(
        project,
        smtp.port,
        dkim_key=f'"{private}"',
        dkim_selector='"news2025"',
        dkim_domain='"example.org"',
    )
    warnings: list[str] = []
    report = send(config, built_issue(config), warnings)
    assert report.sent == 4 and len(smtp.handler.received) == 4

    def dns(name: bytes, timeout: int = 5) -> bytes | None:
        return record if name == b"news2025._domainkey.example.org." else None

    key_text = private.read_text()
    for received in smtp.handler.received:
        assert received.data.startswith(b"DKIM-Signature:")
        signature = received.message["DKIM-Signature"]
        assert "d=example.org" in signature and "s=news2025" in signature
        assert re.search(r"h=[^;]*list-unsubscribe", signature, re.IGNORECASE)
        assert dkim.verify(received.data, dnsfunc=dns)
        tampered = received.data.replace(b"Subject: ", b"Subject: Re: ", 1)
        assert not dkim.verify(tampered, dnsfunc=dns)
    body = key_text.splitlines()[1]
    assert all(body not in w for w in warnings)


def test_a_missing_key_is_one_line_naming_the_file(project: Path, smtp: SmtpServer) -> None:
    config = configure(
        project, smtp.port, dkim_key='"keys/missing.pem"', dkim_selector='"news2025"'
    )
    with pytest.raises(DeliveryError) as caught:
        send(config, built_issue(config))
    message = str(caught.value)
    assert "dkim_key" in message and "missing.pem" in message and "\n" not in message
    assert smtp.handler.received == []
