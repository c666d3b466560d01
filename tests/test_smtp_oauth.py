"""Sending through Gmail or Outlook with OAuth2 (XOAUTH2): the access token comes from
`[smtp] token_command`, run before each connection, or from the environment; a rejected or
missing token stops the send with one line that says where the token came from."""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult

from newsletter.config import load_config
from newsletter.delivery.send import deliver_issue
from newsletter.errors import ConfigError, DeliveryError
from smtp_server import Handler, SmtpServer
from test_delivery import NOW, SECRET, built_issue, configure

# Prints the token in the file it is given, as `oauth2l fetch` or `az account get-access-token`
# would print a fresh one; exits 1 when there is none.
TOKEN_COMMAND = (
    "import pathlib, sys; p = pathlib.Path(sys.argv[1]); "
    "sys.exit('no token: run the login first') if not p.exists() else print(p.read_text())"
)


@dataclass
class OAuthHandler(Handler):
    """Answers XOAUTH2 as Gmail does: 235 for the good token, else a base64 JSON challenge,
    then 535 once the client answers it."""

    token: str = "good-token"
    tries: list[str] = field(default_factory=list)

    async def auth_XOAUTH2(self, server: Any, args: list[str]) -> AuthResult:
        said = base64.b64decode(args[1]).decode()
        self.tries.append(said)
        if said == f"user=bot@example.org\x01auth=Bearer {self.token}\x01\x01":
            return AuthResult(success=True)
        error = json.dumps({"status": "401", "schemes": "bearer"})
        await server.challenge_auth(error, encode_to_b64=True)
        return AuthResult(success=False, handled=False)


def oauth_project(project: Path, port: int, smtp: str) -> Path:
    configure(project, port)
    toml = project / "newsletter.toml"
    text = toml.read_text().replace('security = "none"', 'security = "none"\n' + smtp)
    toml.write_text(text)
    return toml


@pytest.fixture
def oauth_smtp() -> Iterator[SmtpServer]:
    server = SmtpServer(OAuthHandler(), auth_require_tls=False)
    server.start()
    yield server
    server.stop()


def test_token_command_is_asked_at_each_send_and_a_bad_token_stops_it(
    project: Path, oauth_smtp: SmtpServer
) -> None:
    token = project / "token.txt"
    command = json.dumps([sys.executable, "-c", TOKEN_COMMAND, str(token)])
    smtp = f'user = "bot@example.org"\nauth = "xoauth2"\ntoken_command = {command}\n'
    config = load_config(oauth_project(project, oauth_smtp.port, smtp))
    folder = built_issue(config)
    environ = {"NEWSLETTER_UNSUBSCRIBE_SECRET": SECRET}
    with pytest.raises(DeliveryError, match=r"exited 1 \(no token: run the login first\)"):
        deliver_issue(config, folder, now=NOW, warn=print, environ=environ)
    token.write_text("expired-token\n")
    with pytest.raises(DeliveryError) as rejected:
        deliver_issue(config, folder, now=NOW, warn=print, environ=environ)
    token.write_text("good-token\n")
    report = deliver_issue(config, folder, now=NOW, warn=print, environ=environ)
    assert "rejected the login for 'bot@example.org': 535" in str(rejected.value)
    assert "OAuth2 access token from [smtp] token_command" in str(rejected.value)
    assert report.sent == 4 and oauth_smtp.handler.count() == 4
    assert isinstance(oauth_smtp.handler, OAuthHandler)
    assert oauth_smtp.handler.tries[-1].endswith("auth=Bearer good-token\x01\x01")


def test_token_from_the_environment(project: Path, oauth_smtp: SmtpServer) -> None:
    toml = oauth_project(project, oauth_smtp.port, 'user = "bot@example.org"\nauth = "xoauth2"\n')
    config = load_config(toml)
    folder = built_issue(config)
    environ = {"NEWSLETTER_UNSUBSCRIBE_SECRET": SECRET}
    with pytest.raises(
        DeliveryError, match="NEWSLETTER_SMTP_PASSWORD is empty: set it to the OAuth2 access token"
    ):
        deliver_issue(config, folder, now=NOW, warn=print, environ=environ)
    environ["NEWSLETTER_SMTP_PASSWORD"] = "good-token"
    report = deliver_issue(config, folder, now=NOW, warn=print, environ=environ)
    assert report.sent == 4 and oauth_smtp.handler.count() == 4


@pytest.mark.parametrize(
    ("smtp", "said"),
    [
        ('auth = "xoauth2"\n', 'auth = "xoauth2" needs user'),
        (
            'user = "bot"\ntoken_command = ["x"]\n',
            'token_command is used only with auth = "xoauth2"',
        ),
        ('user = "bot"\nauth = "oauth"\n', "auth"),
    ],
)
def test_oauth_settings_are_checked(project: Path, smtp: str, said: str) -> None:
    toml = oauth_project(project, 2525, smtp)
    with pytest.raises(ConfigError) as error:
        load_config(toml)
    assert said in str(error.value) and "newsletter.toml" in str(error.value)
