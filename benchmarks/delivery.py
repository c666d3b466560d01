"""How fast ``newsletter send`` goes: N subscribers to an aiosmtpd server on 127.0.0.1.

Run from the repository root: ``PYTHONPATH=src:tests python benchmarks/delivery.py [N]``.
Prints the time to personalize (render + MIME) one message, and the end-to-end rate with the
rate limit lifted (render, ledger claim + mark, SMTP transaction per message); then a re-run,
which sends nothing.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO / "tests")]

from newsletter.config import load_config  # noqa: E402
from newsletter.delivery.send import deliver_issue  # noqa: E402
from newsletter.pipeline import run  # noqa: E402
from smtp_server import SmtpServer  # noqa: E402

SECRET = {"NEWSLETTER_UNSUBSCRIBE_SECRET": "benchmark-secret-0123456789"}


def main(count: int) -> None:
    server = SmtpServer().start()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shutil.copy(REPO / "newsletter.toml", root / "newsletter.toml")
        shutil.copytree(REPO / "templates", root / "templates")
        shutil.copytree(REPO / "seeds", root / "seeds")
        toml = root / "newsletter.toml"
        text = toml.read_text().replace(
            "[brand]\n", '[brand]\nunsubscribe_url = "https://example.org/u"\n', 1
        )
        text += f'\n[delivery]\nrate = 1000\n[smtp]\nhost = "127.0.0.1"\nport = {server.port}\n'
        text += 'security = "none"\n'
        toml.write_text(text)
        sections = ["", "us-plan", "russia-demands;ukraine-response"]
        rows = [f"reader{i}@example.org,Reader {i},{sections[i % 3]}" for i in range(count)]
        (root / "subscribers.csv").write_text("email,name,sections\n" + "\n".join(rows) + "\n")
        config = load_config(toml)
        now = datetime.now(UTC)
        folder = run(config, now=now, warn=lambda _: None).path
        assert folder is not None

        start = time.perf_counter()
        deliver_issue(config, folder, now=now, warn=print, dry_run=True, environ=SECRET)
        dry = time.perf_counter() - start
        print(f"dry run, {count} messages: {dry:.2f} s ({dry / count * 1000:.1f} ms per message)")

        start = time.perf_counter()
        report = deliver_issue(config, folder, now=now, warn=print, environ=SECRET)
        sent = time.perf_counter() - start
        print(report.summary())
        print(f"send, {count} messages: {sent:.2f} s ({count / sent:.0f} messages/s)")

        start = time.perf_counter()
        again = deliver_issue(config, folder, now=now, warn=print, environ=SECRET)
        print(f"re-run: {again.summary()} in {time.perf_counter() - start:.2f} s")
        assert server.handler.count() == count
    server.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
