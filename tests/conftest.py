"""Shared test helpers: temporary newsletter projects built from the real skeleton and seed,
and the CLI run as a real subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
FOUNDING_SEED = REPO / "seeds" / "us-peace-plan-ukraine-russia.txt"


def shared_data(relative: str) -> Path:
    """A path under ../shared/data; the test is skipped with a reason when it is absent."""
    path = SHARED / "data" / relative
    if not path.exists():
        pytest.skip(f"{path} is absent: the shared test data sits beside the repository in CI")
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A newsletter project: the default config and templates and the founding seed."""
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(REPO / "newsletter.toml", root / "newsletter.toml")
    shutil.copytree(REPO / "templates", root / "templates")
    (root / "seeds").mkdir()
    shutil.copy(FOUNDING_SEED, root / "seeds" / FOUNDING_SEED.name)
    return root


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "src"), env.get("PYTHONPATH")]))
    return env


def run_cli(
    *args: str, cwd: Path, check: bool = False, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``newsletter ARGS`` in a real subprocess, as an operator would run it."""
    return subprocess.run(
        [sys.executable, "-m", "newsletter", *args],
        cwd=cwd,
        env=cli_env(),
        capture_output=True,
        text=True,
        check=check,
        timeout=timeout,
    )


@pytest.fixture
def cli(project: Path) -> Iterator[object]:
    def call(*args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, cwd=project, check=check)

    yield call
