"""Secrets and files kept private: the state database and dry-run messages are the operator's
alone, passwords can stay out of newsletter.toml, and the preview answers only to loopback
names (a DNS-rebinding page cannot read it)."""

from __future__ import annotations

import http.client
import os
import stat
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from conftest import run_cli
from emailkit import TODAY
from newsletter.config import load_config
from newsletter.delivery.send import deliver_issue
from newsletter.errors import ConfigError
from newsletter.web.preview import PreviewState, make_server


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_state_database_and_dry_run_messages_are_private(project: Path) -> None:
    previous = os.umask(0o022)  # the usual umask: readable by everyone unless created otherwise
    try:
        built = run_cli("run", cwd=project)
        assert built.returncode == 0, built.stderr
        (project / "subscribers.csv").write_text("email\nreader@example.org\n", encoding="utf-8")
        toml = project / "newsletter.toml"
        toml.write_text(
            toml.read_text().replace(
                "[brand]\n", '[brand]\nunsubscribe_url = "https://news.example/unsubscribe"\n'
            ),
            encoding="utf-8",
        )
        config = load_config(project / "newsletter.toml")
        (folder,) = [p for p in (project / "outbox").iterdir() if not p.name.startswith(".")]
        report = deliver_issue(
            config,
            folder,
            now=datetime.now(UTC),
            warn=print,
            dry_run=True,
            environ={"NEWSLETTER_UNSUBSCRIBE_SECRET": "s" * 32},
        )
        assert report.written
    finally:
        os.umask(previous)
    state = project / ".newsletter"
    assert mode(state) == 0o700
    for name in ("state.db", "state.db-wal", "state.db-shm"):
        if (state / name).exists():
            assert mode(state / name) == 0o600, name
    (dry,) = list(project.glob("outbox/*/dry-run"))
    assert mode(dry) == 0o700
    emls = list(dry.glob("*.eml"))
    assert emls and all(mode(p) == 0o600 for p in emls)


def test_a_readable_state_database_left_by_an_older_version_is_tightened(project: Path) -> None:
    state = project / ".newsletter"
    assert run_cli("db", "upgrade", cwd=project).returncode == 0
    os.chmod(state / "state.db", 0o644)  # as a version before 0600 left it
    assert run_cli("run", cwd=project).returncode == 0
    assert mode(state / "state.db") == 0o600


def test_database_and_broker_urls_come_from_the_environment(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = project / "newsletter.toml"
    path.write_text(
        path.read_text().replace("[state]\n", '[state]\nurl_env = "NL_DB_URL"\n')
        + '\n[queue]\nbroker_env = "NL_BROKER"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("NL_DB_URL", "postgresql+psycopg://news:s3cret@db.internal/news")
    monkeypatch.setenv("NL_BROKER", "redis://:s3cret@redis.internal:6379/0")
    config = load_config(path)
    assert config.state.url == "postgresql+psycopg://news:s3cret@db.internal/news"
    assert config.queue.broker == "redis://:s3cret@redis.internal:6379/0"
    assert config.distributed

    monkeypatch.delenv("NL_BROKER")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert "NL_BROKER" in message and "broker_env" in message and "\n" not in message


def test_the_preview_answers_only_loopback_host_names(project: Path) -> None:
    server = make_server(PreviewState(project / "newsletter.toml", today=lambda: TODAY), port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]

    def status(host: str) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.putrequest("GET", "/version", skip_host=True)
        connection.putheader("Host", host)
        connection.endheaders()
        answer = connection.getresponse()
        answer.read()
        connection.close()
        return answer.status

    try:
        assert status(f"127.0.0.1:{port}") == 200
        assert status(f"localhost:{port}") == 200
        assert status(f"attacker.example:{port}") == 421
        assert status("127.0.0.1.attacker.example") == 421
    finally:
        server.shutdown()
        server.server_close()
