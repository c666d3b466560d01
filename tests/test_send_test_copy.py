"""`newsletter send --to ADDRESS`: one personalized test copy over real SMTP (aiosmtpd on
127.0.0.1), to an address not on the list, and nothing recorded anywhere."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from newsletter.cli import main
from smtp_server import SmtpServer
from test_delivery import SECRET, TITLES, built_issue, configure, html_of, text_of

TESTER = "editor@example.com"  # not in test_delivery.SUBSCRIBERS


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


def newsletter(project: Path, *args: str, code: int = 0) -> Result:
    result = CliRunner().invoke(
        main,
        [*args, "--config", str(project / "newsletter.toml")],
        env={"NEWSLETTER_UNSUBSCRIBE_SECRET": SECRET},
    )
    assert result.exit_code == code, result.output
    return result


def deliveries(project: Path) -> list[tuple[object, ...]]:
    engine = sa.create_engine(f"sqlite:///{project / '.newsletter' / 'state.db'}")
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("deliveries"):
                return []
            return list(conn.execute(sa.text("SELECT * FROM deliveries")))
    finally:
        engine.dispose()


def test_a_test_copy_goes_to_one_address_with_every_section_and_records_nothing(
    project: Path, smtp: SmtpServer
) -> None:
    config = configure(project, smtp.port)
    built_issue(config)

    result = newsletter(project, "send", "--to", TESTER)

    assert "test copy sent to editor@example.com; nothing recorded" in result.output
    assert smtp.handler.per_recipient() == {TESTER: 1}
    message = smtp.handler.received[0].message
    assert TESTER in message["To"]
    assert message["X-Newsletter-Test"] == "test copy; nothing recorded"
    link = message["List-Unsubscribe"].strip("<>")
    assert link == "https://example.org/unsubscribe?token=test-send"
    text, html = text_of(message), html_of(message)
    for title in TITLES.values():
        assert title in text
    assert TESTER in text and link in text and link in html
    assert deliveries(project) == []

    # The real send afterwards: every subscriber gets theirs, the tester nothing more.
    newsletter(project, "send")
    assert smtp.handler.count(TESTER) == 1
    assert smtp.handler.count() == 1 + 4
    assert TESTER not in {str(row[2]) for row in deliveries(project)}
    real = [r.message["Message-ID"] for r in smtp.handler.received[1:]]
    assert message["Message-ID"] not in real


def test_a_bad_address_or_a_refused_one_is_one_line(project: Path, smtp: SmtpServer) -> None:
    config = configure(project, smtp.port)
    built_issue(config)
    smtp.handler.rcpt_replies["nobody@example.com"] = "550 5.1.1 no such user"

    bad = newsletter(project, "send", "--to", "not-an-address", code=1)
    refused = newsletter(project, "send", "--to", "nobody@example.com", code=1)

    assert bad.output.startswith("error: --to: 'not-an-address' is not a valid email address")
    assert refused.output.startswith("error: ") and "550" in refused.output
    assert bad.output.count("\n") == refused.output.count("\n") == 1
    assert smtp.handler.count() == 0 and deliveries(project) == []
