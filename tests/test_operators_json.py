"""JSON everywhere: run, send and check print one document (result, counts, paths); status
and feeds describe feed health in one shape."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from conftest import FOUNDING_SEED, REPO, example_config_text
from newsletter.cli import main
from smtp_server import SmtpServer

SECRET = "s" * 32
RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Local wire</title><link>https://wire.example/</link>
<item><title>Talks resume</title><link>https://wire.example/a</link>
<description>Negotiators met again on Tuesday.</description></item>
</channel></rss>
"""


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, smtp: SmtpServer) -> Path:
    root = tmp_path_factory.mktemp("json") / "project"
    root.mkdir()
    text = example_config_text()
    text = text.replace("[brand]\n", '[brand]\nunsubscribe_url = "https://example.org/u"\n', 1)
    text += '\n[[feeds]]\nname = "Local wire"\nurl = "wire.xml"\n'
    text += '\n[delivery]\nsubscribers = "subscribers.csv"\nrate = 1000\n'
    text += f'\n[smtp]\nhost = "127.0.0.1"\nport = {smtp.port}\nsecurity = "none"\n'
    (root / "newsletter.toml").write_text(text, encoding="utf-8")
    (root / "wire.xml").write_text(RSS, encoding="utf-8")
    (root / "subscribers.csv").write_text(
        "email,name,sections\na@example.org,A,\nb@example.org,B,\n"
    )
    shutil.copytree(REPO / "templates", root / "templates")
    (root / "seeds").mkdir()
    shutil.copy(FOUNDING_SEED, root / "seeds" / FOUNDING_SEED.name)
    return root


def invoke(project: Path, *args: str) -> Result:
    return CliRunner().invoke(
        main,
        [*args, "--config", str(project / "newsletter.toml")],
        env={"NEWSLETTER_UNSUBSCRIBE_SECRET": SECRET},
    )


def document(result: Result) -> Any:
    return json.loads(result.stdout)  # stdout is the document and nothing else


def test_run_send_and_check_print_one_document_each(project: Path) -> None:
    built = invoke(project, "run", "--json")
    assert built.exit_code == 0, built.output
    run = document(built)
    assert (run["command"], run["result"], run["ok"], run["issue"]) == ("run", "written", True, 1)
    assert run["counts"]["articles_in"] >= 1 and run["counts"]["items_out"] > 0
    folder = Path(run["paths"]["folder"])
    assert sorted(Path(f).name for f in run["paths"]["files"]) == [
        "issue.eml",
        "issue.html",
        "issue.json",
        "issue.txt",
    ]
    assert all(Path(f).parent == folder and Path(f).is_file() for f in run["paths"]["files"])

    again = document(invoke(project, "run", "--json"))
    assert (again["result"], again["issue"], again["ok"]) == ("exists", 1, True)

    sent = invoke(project, "send", "--json")
    assert sent.exit_code == 0, sent.output
    report = document(sent)
    assert (report["command"], report["result"], report["issue"]) == ("send", "sent", 1)
    assert report["counts"]["sent"] == 2 and report["counts"]["failed"] == 0
    assert report["paths"]["folder"] == str(folder)
    resent = document(invoke(project, "send", "--json"))
    assert (resent["counts"]["sent"], resent["counts"]["skipped"]) == (0, 2)

    checked = invoke(project, "check", "--json")
    assert checked.exit_code == 0, checked.output
    check = document(checked)
    assert (check["command"], check["result"], check["ok"], check["problems"]) == (
        "check",
        "ok",
        True,
        [],
    )


def test_a_failure_is_a_document_too(project: Path) -> None:
    failed = invoke(project, "send", "99", "--json")
    assert failed.exit_code == 1
    report = document(failed)
    assert (report["command"], report["result"], report["ok"]) == ("send", "failed", False)
    assert report["error"] in failed.stderr


def test_status_and_feeds_share_one_feed_health_shape(project: Path) -> None:
    assert invoke(project, "run", "--json").exit_code == 0  # the feed has been read
    status = invoke(project, "status", "--json")
    feeds = invoke(project, "feeds", "--json")
    assert status.exit_code == feeds.exit_code == 0, status.output + feeds.output
    (from_status,) = document(status)["feeds"]
    (from_feeds,) = document(feeds)
    assert from_status == from_feeds
    assert from_feeds["name"] == "Local wire" and from_feeds["health"] == "ok"
    for key in (
        "url",
        "last_status",
        "last_error",
        "consecutive_failures",
        "last_fetched",
        "last_success",
        "retry_after",
        "retired",
        "entries_seen",
        "unhealthy",
    ):
        assert key in from_feeds, key  # status --json's old keys and feeds --json's
    assert "." not in from_feeds["last_fetched"]  # whole seconds
