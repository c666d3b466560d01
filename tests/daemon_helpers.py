"""Helpers for the scheduling tests: real `newsletter` processes on a real SQLite state file."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import start_cli

SECOND_SEED = """+++
title = "Talks resume in Geneva"
outlet = "Example Wire"
url = "https://wire.example/geneva"
published = 2025-11-23
+++
Ukrainian and U.S. delegations met in Geneva on Sunday to revise the draft plan. Kyiv said the
talks were productive. Russia said it had not been told of any changes to the proposal.
"""


def add_schedule(project: Path, text: str) -> None:
    """Append TOML (``[[schedule]]``/``[scheduler]`` tables) to the project's config."""
    config = project / "newsletter.toml"
    config.write_text(config.read_text(encoding="utf-8") + "\n" + text, encoding="utf-8")


def add_seed(project: Path, name: str = "geneva.md", text: str = SECOND_SEED) -> None:
    """Add a seed in one step (a running daemon must never read half of it)."""
    partial = project / "seeds" / (name + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.rename(project / "seeds" / name)


def issue_folders(project: Path) -> list[Path]:
    outbox = project / "outbox"
    if not outbox.is_dir():
        return []
    return sorted(p for p in outbox.iterdir() if not p.name.startswith("."))


def assert_complete(folder: Path) -> None:
    assert sorted(p.name for p in folder.iterdir()) == [
        "issue.eml",
        "issue.html",
        "issue.json",
        "issue.txt",
    ], folder


def query(project: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    db = project / ".newsletter" / "state.db"
    if not db.exists():
        return []
    with sqlite3.connect(db, timeout=10) as conn:
        try:
            return conn.execute(sql, params).fetchall()
        except sqlite3.OperationalError as e:
            if "no such table" in str(e):
                return []
            raise


def start(project: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return start_cli(project, *args, env=env)


def wait_for(condition: Callable[[], Any], timeout: float = 20, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}")


def read_until(process: subprocess.Popen[str], needle: str, timeout: float = 20) -> str:
    """Read the process's stderr line by line until a line contains ``needle``."""
    assert process.stderr is not None
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        seen.append(line)
        if needle in line:
            return "".join(seen)
    raise AssertionError(f"{needle!r} never appeared on stderr:\n{''.join(seen)}")


def stop(
    process: subprocess.Popen[str], timeout: float = 20, signum: int = signal.SIGTERM
) -> tuple[int, str]:
    """SIGTERM (or ``signum``), then the exit status and the rest of stderr."""
    process.send_signal(signum)
    try:
        _out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()  # never leave a daemon behind a failed test
        process.communicate()
        raise
    return process.returncode, err


def runs(project: Path) -> list[tuple[Any, ...]]:
    """(slot, trigger, result, issue_number) for every run, oldest first."""
    return query(project, "SELECT slot, trigger, result, issue_number FROM runs ORDER BY id")
