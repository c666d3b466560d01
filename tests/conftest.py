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


def without_feeds(config: Path) -> Path:
    """``config`` with its [[feeds]] removed (comments and the rest kept): the example lists
    real public feeds, and no test may depend on the network."""
    import tomlkit

    document = tomlkit.parse(config.read_text(encoding="utf-8"))
    document.pop("feeds", None)
    config.write_text(tomlkit.dumps(document), encoding="utf-8")
    return config


def example_config_text() -> str:
    """The repository's newsletter.toml without its real feeds (see without_feeds)."""
    import tomlkit

    document = tomlkit.parse((REPO / "newsletter.toml").read_text(encoding="utf-8"))
    document.pop("feeds", None)
    return tomlkit.dumps(document)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A newsletter project: the default config (without its real feeds) and templates and
    the founding seed."""
    root = tmp_path / "project"
    root.mkdir()
    without_feeds(Path(shutil.copy(REPO / "newsletter.toml", root / "newsletter.toml")))
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


def start_cli(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """``newsletter ARGS`` started in a real subprocess, output piped, not waited for."""
    return subprocess.Popen(
        [sys.executable, "-m", "newsletter", *args],
        cwd=cwd,
        env={**cli_env(), **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def cli(project: Path) -> Iterator[object]:
    def call(*args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, cwd=project, check=check)

    yield call


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL server for the whole test session (skips with the reason if unavailable)."""
    from servers import postgres_server, postgres_unavailable

    reason = postgres_unavailable()
    if reason:
        pytest.skip(reason)
    with postgres_server() as url:
        yield url


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A Redis server for the whole test session (skips with the reason if unavailable)."""
    from servers import redis_server, redis_unavailable

    reason = redis_unavailable()
    if reason:
        pytest.skip(reason)
    with redis_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | None]:
    """The state database under test: the embedded SQLite file, then PostgreSQL.

    Each PostgreSQL test gets its own fresh database so tests never see each other's rows."""
    if request.param == "sqlite":
        yield None
        return
    import sqlalchemy as sa

    base = request.getfixturevalue("postgres_url")
    name = f"t_{os.getpid()}_{abs(hash(request.node.nodeid)) % 10**8}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    admin.dispose()
    yield base.rsplit("/", 1)[0] + "/" + name


# The longest tests (real fleets of processes, a wheel build, whole benchmark runs) start
# first, so that on `-n 2` no worker is left alone with one of them at the end of the suite.
_LONG_FIRST = (
    "test_fleet.py",
    "test_fleet_rate.py",
    "test_benchmarks.py",
    "test_wheel.py",
    "test_delivery.py",
    "test_schedule_daemon.py",
    "test_crash_safety.py",
)


def pytest_configure(config: pytest.Config) -> None:
    """Compile the package's bytecode once, before the workers start: the tests run the CLI
    in hundreds of subprocesses, and where PYTHONDONTWRITEBYTECODE is set (the development
    machines set it) each of them would otherwise compile every module it imports from
    source, about 0.3-1 s a process."""
    if hasattr(config, "workerinput"):  # an xdist worker: the controller has done it
        return
    import compileall

    compileall.compile_dir(str(Path(__file__).parent.parent / "src"), quiet=1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return _LONG_FIRST.index(name) if name in _LONG_FIRST else len(_LONG_FIRST)

    items.sort(key=rank)  # stable: the order within each file is kept
