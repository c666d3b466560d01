"""Health for monitoring: `status --check` exits 1 with one line per problem; `metrics`
prints the Prometheus text format, and `newsletter serve` the same at /metrics."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import uvicorn
from click.testing import CliRunner, Result
from prometheus_client.parser import text_string_to_metric_families

from conftest import FOUNDING_SEED, REPO, example_config_text
from newsletter.cli import main
from newsletter.config import load_config
from newsletter.web.app import create_app
from smtp_server import free_port

SECRET = "s" * 32


def invoke(project: Path, *args: str) -> Result:
    return CliRunner().invoke(
        main,
        [*args, "--config", str(project / "newsletter.toml")],
        env={"NEWSLETTER_UNSUBSCRIBE_SECRET": SECRET},
    )


def new_project(root: Path, extra: str = "") -> Path:
    root.mkdir()
    text = example_config_text()
    text = text.replace("[brand]\n", '[brand]\nunsubscribe_url = "https://example.org/u"\n', 1)
    (root / "newsletter.toml").write_text(text + extra, encoding="utf-8")
    shutil.copytree(REPO / "templates", root / "templates")
    (root / "seeds").mkdir()
    shutil.copy(FOUNDING_SEED, root / "seeds" / FOUNDING_SEED.name)
    return root


BROKEN_FEED = (
    '\n[[feeds]]\nname = "Gone wire"\nurl = "missing.xml"\n\n[fetch]\nunhealthy_after = 1\n'
)


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One issue written from the seed; its one feed (a missing file) unhealthy."""
    project = new_project(tmp_path_factory.mktemp("health") / "project", BROKEN_FEED)
    result = invoke(project, "run")
    assert result.exit_code == 0, result.output
    return project


def test_a_healthy_project_checks_ok(tmp_path: Path) -> None:
    project = new_project(tmp_path / "project")
    assert invoke(project, "run").exit_code == 0
    result = invoke(project, "status", "--check")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("ok: ") and result.stderr == ""
    assert invoke(project, "-q", "status", "--check").output == ""


def test_a_stopped_scheduler_and_a_failed_run_are_one_line_each(tmp_path: Path) -> None:
    project = new_project(tmp_path / "project", '\n[[schedule]]\ncron = "0 7 * * *"\n')
    (project / "outbox").write_text("a file where the outbox folder should be")
    assert invoke(project, "run").exit_code == 1
    result = invoke(project, "status", "--check")
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 2, result.stderr
    assert lines[0].startswith("error: the scheduler is not running")
    assert lines[1].startswith("error: the last run (slot ") and " failed: " in lines[1]
    assert "cannot write the issue" in lines[1] and "newsletter run --slot" in lines[1]
    assert result.stdout == ""


def test_an_unhealthy_feed_fails_the_check(broken: Path) -> None:
    result = invoke(broken, "status", "--check")
    assert result.exit_code == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: feed 'Gone wire' is unhealthy: ") and "missing.xml" in line
    document = invoke(broken, "status", "--check", "--json")
    assert document.exit_code == 1 and '"problems": [' in document.stdout


def _families(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "newsletter"))
            found.setdefault(sample.name, {})[labels] = sample.value
    return found


def _check_figures(text: str) -> None:
    found = _families(text)
    assert found["newsletter_issues_total"] == {(): 1.0}
    assert found["newsletter_items_published_total"][()] > 0
    assert found["newsletter_articles_published_total"][()] >= 1
    assert found["newsletter_messages"] == {(("status", "failed"),): 0, (("status", "sent"),): 0}
    assert found["newsletter_feed_unhealthy"] == {(("feed", "Gone wire"),): 1.0}
    assert found["newsletter_feed_consecutive_failures"][(("feed", "Gone wire"),)] >= 1
    (last,) = found["newsletter_last_success_timestamp_seconds"].items()
    assert last[0] == (("schedule", "-"),)
    assert abs(last[1] - datetime.now(UTC).timestamp()) < 600


def test_metrics_parse_with_the_prometheus_parser(broken: Path) -> None:
    result = invoke(broken, "metrics")
    assert result.exit_code == 0, result.output
    _check_figures(result.stdout)


@pytest.fixture
def served(broken: Path) -> Iterator[str]:
    config = load_config(broken / "newsletter.toml")
    app = create_app(config, environ={"NEWSLETTER_UNSUBSCRIBE_SECRET": SECRET})
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_serve_exposes_the_same_at_metrics(served: str) -> None:
    response = httpx.get(f"{served}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    _check_figures(response.text)
