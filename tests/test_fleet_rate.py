"""The fleet on its libraries' features, with real workers (PostgreSQL, Redis, aiosmtpd started
by the tests): two workers together keep one `[delivery] rate`, and under `--log-format json`
every line a worker writes, Celery's own included, is a JSON object."""

from __future__ import annotations

import json
import statistics
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner

from fleet import fresh_database, make_distributed, workers
from newsletter import pipeline
from newsletter.cli import main
from newsletter.config import load_config
from newsletter.distributed.status import queue_depth
from smtp_server import SmtpServer

# Low enough that four pool processes keep it on a 2-core CI machine under full load (there one
# message, rendered, claimed and sent, has taken a process up to ~0.7 s: together ~6/s), high
# enough that without the shared limit they would send at several times it (measured: 21/s
# for a rate of 8 on a quieter machine).
MESSAGES = 12
RATE = 4.0
BATCH = 2
SECRET = {"NEWSLETTER_UNSUBSCRIBE_SECRET": "fleet-rate-secret-0123456789"}


def test_two_workers_keep_one_rate_and_log_json(
    project: Path, postgres_url: str, redis_url: str
) -> None:
    url = fresh_database(postgres_url)
    smtp = SmtpServer().start()
    queue = make_distributed(project, url, redis_url, extra=f"send_batch = {BATCH}")
    config = project / "newsletter.toml"
    text = config.read_text(encoding="utf-8").replace(
        "[brand]\n", '[brand]\nunsubscribe_url = "https://example.org/u"\n', 1
    )
    text += f'\n[delivery]\nrate = {RATE}\n[smtp]\nhost = "127.0.0.1"\nport = {smtp.port}\n'
    config.write_text(text + 'security = "none"\n', encoding="utf-8")
    emails = [f"reader{i}@example.org" for i in range(MESSAGES)]
    (project / "subscribers.csv").write_text("email\n" + "".join(f"{e}\n" for e in emails))
    built = pipeline.run(load_config(config), now=datetime.now(UTC), warn=lambda _: None)
    assert built.status == "written"

    env = {**SECRET, "NEWSLETTER_LOG_FORMAT": "json"}
    try:
        with workers(project, 2, concurrency=2, env=env) as started:
            sent = CliRunner().invoke(main, ["send", "--config", str(config), "--json"], env=SECRET)
            assert queue_depth(redis_url, queue) == (0, 0)
    finally:
        smtp.stop()
    assert sent.exit_code == 0, sent.output
    document = json.loads(sent.stdout)  # the embedded send's document
    assert document["result"] == "sent" and document["counts"]["sent"] == MESSAGES, document
    assert sorted(smtp.handler.per_recipient()) == sorted(emails)

    # The rate the server saw: the least-squares slope of arrival number over arrival time
    # (each message reaches the server after its moment plus its own render time, so first
    # and last alone would measure that jitter, not the rate).
    times = sorted(r.at for r in smtp.handler.received)
    rate = 1 / statistics.linear_regression(range(len(times)), times).slope
    assert abs(rate - RATE) <= RATE * 0.10, f"{rate:.1f} messages/s for a rate of {RATE:g}"

    senders = 0
    for worker in started:
        lines = worker.log.read_text(encoding="utf-8").splitlines()
        # Every line is JSON (stdout and stderr both), Celery's SIGTERM line too.
        records = [json.loads(line) for line in lines if line.strip()]
        assert any(r["logger"].startswith("celery") for r in records)  # Celery's own lines
        assert any(r["event"] == "worker: warm shutdown on SIGTERM" for r in records), lines
        senders += any(f"batch of {BATCH}" in r["event"] for r in records)
    assert senders == 2, "both workers sent"
