"""SMTP transport: one connection, reused across messages, reopened when it drops.

Every smtplib outcome is sorted into one of three errors the delivery loop acts on:
``TemporaryFailure`` (4xx, dropped or refused connections, timeouts: try again later),
``PermanentFailure`` (5xx for this recipient or this message: record it, go on with the
others) and ``FatalFailure`` (the server refuses us as a whole: bad login, sender refused,
TLS failure: stop the run, nothing more can succeed).
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
import subprocess
from typing import Literal, Protocol, overload

from newsletter.config import SmtpSettings
from newsletter.delivery.addresses import wire_address
from newsletter.errors import DeliveryError


class TemporaryFailure(DeliveryError):
    def __init__(self, reason: str, kind: Literal["server", "connection"]) -> None:
        super().__init__(reason)
        self.kind = kind


class PermanentFailure(DeliveryError):
    pass


class FatalFailure(DeliveryError):
    pass


class Transport(Protocol):
    def send(self, sender: str, recipient: str, data: bytes) -> None:
        """Hand one message to the server; raise one of the failures above if it is not
        accepted. Returning means the server accepted it (250 after DATA)."""

    def close(self) -> None: ...


def _reply(code: int, message: bytes | str) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
    return f"{code} {' '.join(text.split())}"


class SmtpTransport:
    def __init__(self, settings: SmtpSettings, password: str | None) -> None:
        self.settings = settings
        self.password = password
        self._smtp: smtplib.SMTP | None = None

    @property
    def where(self) -> str:
        return f"{self.settings.host}:{self.settings.effective_port}"

    def send(self, sender: str, recipient: str, data: bytes) -> None:
        """An internationalized recipient goes with its domain in IDNA; one whose part
        before the @ is not ASCII needs SMTPUTF8, and a server without it refuses that
        recipient alone (PermanentFailure)."""
        to, source = wire_address(recipient), wire_address(sender)
        options = ["SMTPUTF8"] if to.smtputf8 or source.smtputf8 else []
        try:
            connection = self._connection()
            if options and not connection.has_extn("smtputf8"):
                raise PermanentFailure(
                    f"{self.where} does not offer SMTPUTF8, which {recipient} needs "
                    "(its part before the @ is not ASCII)"
                )
            connection.sendmail(source.wire, [to.wire], data, mail_options=options)
        except UnicodeError as e:
            raise PermanentFailure(f"{recipient}: cannot be written on the wire: {e}") from e
        except smtplib.SMTPRecipientsRefused as e:
            code, message = e.recipients.get(to.wire, (550, b"recipient refused"))
            self._classified(code, message, "recipient refused")
        except smtplib.SMTPSenderRefused as e:
            if 400 <= e.smtp_code < 500:
                self._classified(e.smtp_code, e.smtp_error, "sender refused")
            raise FatalFailure(
                f"{self.where} refuses the sender {e.sender}: {_reply(e.smtp_code, e.smtp_error)}"
            ) from e
        except smtplib.SMTPAuthenticationError as e:
            self.close()
            raise FatalFailure(
                f"{self.where} rejected the login for {self.settings.user!r}: "
                f"{_reply(e.smtp_code, e.smtp_error)}; check [smtp] user and {self._secret}"
            ) from e
        except smtplib.SMTPNotSupportedError as e:
            self.close()
            raise FatalFailure(f"{self.where}: {str(e).rstrip('.')}; check [smtp] security") from e
        except smtplib.SMTPServerDisconnected as e:
            self.close()
            raise TemporaryFailure(f"{self.where} closed the connection: {e}", "connection") from e
        except smtplib.SMTPResponseException as e:
            self._classified(e.smtp_code, e.smtp_error, "refused")
        except ssl.SSLError as e:
            self.close()
            raise FatalFailure(
                f"{self.where}: TLS failed ({e.reason or e}); check [smtp] security and port"
            ) from e
        except (OSError, smtplib.SMTPException) as e:  # refused, reset, timed out, no route
            self.close()
            reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e) or repr(e)
            raise TemporaryFailure(f"{self.where}: {reason}", "connection") from e

    @property
    def _secret(self) -> str:
        s = self.settings
        if s.auth == "password":
            return f"the password in {s.password_env}"
        source = "[smtp] token_command" if s.token_command else s.password_env
        return f"the OAuth2 access token from {source} (expired? wrong scope?)"

    def _classified(self, code: int, message: bytes | str, what: str) -> None:
        reply = _reply(code, message)
        if 400 <= code < 500:
            self.close()  # after a 4xx (421 above all) start afresh on the next attempt
            raise TemporaryFailure(f"{what}: {reply}", "server")
        raise PermanentFailure(f"{what}: {reply}")

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is None:
            self._smtp = self._connect()
        return self._smtp

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        port, timeout = s.effective_port, s.timeout
        smtp: smtplib.SMTP
        if s.security == "tls":
            smtp = smtplib.SMTP_SSL(
                s.host, port, timeout=timeout, context=ssl.create_default_context()
            )
        else:
            smtp = smtplib.SMTP(s.host, port, timeout=timeout)
        try:
            smtp.ehlo()
            if s.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if s.user and s.auth == "xoauth2":
                token = oauth_token(s, self.password)
                smtp.auth("XOAUTH2", _XOAuth2(s.user, token), initial_response_ok=True)
            elif s.user:
                smtp.login(s.user, self.password or "")
        except BaseException:
            _quietly_close(smtp)
            raise
        return smtp

    def close(self) -> None:
        if self._smtp is not None:
            smtp, self._smtp = self._smtp, None
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                _quietly_close(smtp)


def oauth_token(settings: SmtpSettings, fallback: str | None) -> str:
    """A fresh access token: the output of ``[smtp] token_command`` (run now: tokens expire
    within the hour and a send may last longer), else the one from the environment."""
    command = settings.token_command
    if not command:
        return fallback or ""
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=settings.timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise FatalFailure(f"[smtp] token_command {command[0]!r} could not run: {e}") from e
    token = done.stdout.strip()
    if done.returncode != 0 or not token or "\n" in token:
        said = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise FatalFailure(
            f"[smtp] token_command {command[0]!r} exited {done.returncode} ({said}); it must "
            "print one access token on stdout"
        )
    return token


class _XOAuth2:
    """smtplib's auth object for XOAUTH2 (Google's and Microsoft's SASL mechanism): the
    initial response, then an empty answer to the server's error challenge so it says 535."""

    def __init__(self, user: str, token: str) -> None:
        self.initial = f"user={user}\x01auth=Bearer {token}\x01\x01"

    @overload
    def __call__(self, challenge: None = None, /) -> str | None: ...
    @overload
    def __call__(self, challenge: bytes, /) -> str: ...
    def __call__(self, challenge: bytes | None = None, /) -> str | None:
        return "" if challenge else self.initial


def _quietly_close(smtp: smtplib.SMTP) -> None:
    with contextlib.suppress(OSError):
        smtp.close()
