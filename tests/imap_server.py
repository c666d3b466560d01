"""A real IMAP server for tests: Dovecot (Debian's dovecot-imapd), started as the test's own
process on 127.0.0.1 with IMAPS on a free port, a throwaway certificate, one passwd-file user
and a maildir, everything under temporary folders.

Dovecot refuses to run its login processes or to touch mail as root: as root, logins run as
``nobody`` and mail belongs to ``nobody`` (``default_login_user``, ``mail_uid``/``mail_gid``);
otherwise everything runs as the current user. A test that cannot start it is skipped with the
reason; CI installs the package (see .ci/run).
"""

from __future__ import annotations

import grp
import imaplib
import os
import pwd
import shutil
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from servers import free_port
from smtp_server import self_signed_certificate

USER = "bounces@example.org"
PASSWORD = "imap-test-password"


def dovecot_binary() -> str | None:
    return shutil.which("dovecot") or shutil.which("dovecot", path="/usr/sbin:/sbin")


def dovecot_unavailable() -> str | None:
    if dovecot_binary() is None:
        return "dovecot not found (Debian package 'dovecot-imapd'; .ci/run installs it)"
    if shutil.which("openssl") is None:
        return "openssl not found (it makes the server's certificate)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("nobody")
        except KeyError:
            return "running as root without a 'nobody' user for Dovecot's login and mail"
    return None


@dataclass(frozen=True)
class Imap:
    port: int
    cert: Path  # the server's self-signed certificate: trust it with SSL_CERT_FILE
    user: str = USER
    password: str = PASSWORD

    @contextmanager
    def client(self) -> Iterator[imaplib.IMAP4_SSL]:
        context = ssl.create_default_context(cafile=str(self.cert))
        client = imaplib.IMAP4_SSL("127.0.0.1", self.port, ssl_context=context, timeout=30)
        client.login(self.user, self.password)
        try:
            yield client
        finally:
            client.logout()

    def deliver(self, folder: str, raw: bytes, flags: str | None = None) -> None:
        """Put one message into FOLDER (created if missing), as a mail server delivers it."""
        with self.client() as client:
            client.create(f'"{folder}"')  # NO when it exists: harmless
            status, answer = client.append(f'"{folder}"', flags, None, raw)
            assert status == "OK", answer

    def seen(self, folder: str) -> list[bool]:
        """Whether each message in FOLDER is flagged \\Seen, in order."""
        with self.client() as client:
            client.select(f'"{folder}"', readonly=True)
            _, found = client.uid("SEARCH", "ALL")
            out = []
            for uid in (found[0] or b"").split():
                _, data = client.uid("FETCH", uid.decode(), "(FLAGS)")
                out.append(isinstance(data[0], bytes) and b"\\Seen" in data[0])
            return out

    def clear(self, folder: str) -> None:
        with self.client() as client:
            status, count = client.select(f'"{folder}"')
            if status == "OK" and count[0] != b"0":
                client.store("1:*", "+FLAGS", "(\\Deleted)")
                client.expunge()


@contextmanager
def dovecot_server() -> Iterator[Imap]:
    binary = dovecot_binary()
    assert binary
    root = Path(tempfile.mkdtemp(prefix="nl-dovecot-"))
    mail = Path(tempfile.mkdtemp(prefix="nl-dovecot-mail-"))
    me = pwd.getpwuid(os.geteuid()).pw_name
    group = grp.getgrgid(os.getegid()).gr_name
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        os.chown(mail, nobody.pw_uid, nobody.pw_gid)
        login, mail_user, mail_group = "nobody", "nobody", grp.getgrgid(nobody.pw_gid).gr_name
        first_uid = nobody.pw_uid
    else:
        login, mail_user, mail_group, first_uid = me, me, group, os.geteuid()
    cert, key = self_signed_certificate(root)
    (root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n", encoding="utf-8")
    port = free_port()
    (root / "dovecot.conf").write_text(
        f"""base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
auth_failure_delay = 0
listen = 127.0.0.1
ssl = required
ssl_cert = <{cert}
ssl_key = <{key}
default_internal_user = {me}
default_internal_group = {group}
default_login_user = {login}
mail_uid = {mail_user}
mail_gid = {mail_group}
first_valid_uid = {first_uid}
first_valid_gid = 0
mail_location = maildir:{mail}/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {root}/passwd
}}
userdb {{
  driver = static
  args = home={mail}/%u
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service imap-login {{
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    port = {port}
    ssl = yes
  }}
}}
""",
        encoding="utf-8",
    )
    process = subprocess.Popen(
        [binary, "-F", "-c", str(root / "dovecot.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for_imaps(process, port, cert, root / "dovecot.log")
        yield Imap(port, cert)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(mail, ignore_errors=True)


def _wait_for_imaps(process: subprocess.Popen[bytes], port: int, cert: Path, log: Path) -> None:
    deadline = time.monotonic() + 20
    context = ssl.create_default_context(cafile=str(cert))
    while time.monotonic() < deadline:
        if process.poll() is not None:
            err = process.stderr.read().decode() if process.stderr else ""
            logged = log.read_text() if log.exists() else ""
            raise RuntimeError(f"dovecot exited with {process.returncode}: {err}{logged}")
        try:
            imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=context, timeout=5).logout()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"dovecot did not answer on 127.0.0.1:{port}")
