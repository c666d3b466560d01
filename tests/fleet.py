"""Helpers for the distributed-mode tests: a project pointed at PostgreSQL and Redis, and real
``newsletter worker`` processes that a test can SIGKILL (each in its own process group, so the
pool's children die with it, as when a machine goes away)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import sqlalchemy as sa

from conftest import cli_env


def fresh_database(base_url: str) -> str:
    """A new, empty database on the test PostgreSQL server; its SQLAlchemy URL."""
    name = f"d_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    admin.dispose()
    return base_url.rsplit("/", 1)[0] + "/" + name


def make_distributed(
    project: Path, state_url: str, broker: str, extra: str = "", visibility: int = 4
) -> str:
    """Point the project at a shared database and the broker; returns its queue's name."""
    queue = f"q-{uuid.uuid4().hex[:8]}"
    config = project / "newsletter.toml"
    text = config.read_text(encoding="utf-8")
    text = text.replace('[state]\npath = ".newsletter"', f'[state]\nurl = "{state_url}"')
    text += (
        f'\n[queue]\nbroker = "{broker}"\nname = "{queue}"\nvisibility_timeout = {visibility}\n'
        f"retry_backoff = 0.2\n{extra}\n"
    )
    config.write_text(text, encoding="utf-8")
    return queue


class Worker:
    def __init__(
        self,
        project: Path,
        concurrency: int,
        env: dict[str, str] | None = None,
        pool: str = "prefork",
    ) -> None:
        self.log = project / f"worker-{uuid.uuid4().hex[:6]}.log"
        self._handle = open(self.log, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "newsletter",
                "worker",
                f"--concurrency={concurrency}",
                f"--pool={pool}",
            ],
            cwd=project,
            env={**cli_env(), **(env or {})},
            stdout=self._handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if b" ready." in self.log.read_bytes():
                return
            if self.process.poll() is not None:
                raise AssertionError(f"worker exited: {self.log.read_text(errors='replace')}")
            time.sleep(0.05)
        raise AssertionError(f"worker not ready: {self.log.read_text(errors='replace')}")

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes at once: nothing gets to clean up."""
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        self._handle.close()


@contextmanager
def workers(
    project: Path,
    count: int,
    concurrency: int = 2,
    env: dict[str, str] | None = None,
    pool: str = "prefork",
) -> Iterator[list[Worker]]:
    started = [Worker(project, concurrency, env, pool) for _ in range(count)]
    try:
        for worker in started:
            worker.wait_ready()
        yield started
    finally:
        for worker in started:
            worker.stop()


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)
