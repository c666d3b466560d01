"""`newsletter schedule` and `worker`: the scheduler daemon and the distributed mode's workers."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from newsletter.cli.common import (
    EXIT_FAILED,
    EXIT_LOCKED,
    EXIT_USAGE,
    _load,
    _now,
    _test_pause,
    _warn,
    config_option,
    log,
)
from newsletter.errors import NewsletterError

if TYPE_CHECKING:
    from newsletter.logs import LogFormat


@click.command("schedule")
@config_option
@click.option(
    "--standby",
    is_flag=True,
    help="Distributed mode ([queue] broker): wait while another scheduler holds the database's "
    "scheduler lock, and take over when it stops or dies.",
)
def schedule(config_path: Path, standby: bool) -> None:
    """Run the scheduler in the foreground: one issue per [[schedule]] slot, until stopped.

    Stops cleanly on SIGTERM or SIGINT (exit 0). Refuses to start (exit 3) while another
    scheduler runs on the same state database."""
    from newsletter.delivery.send import deliver_after_build
    from newsletter.schedule.daemon import serve
    from newsletter.schedule.lock import LockHeld, on_postgresql

    config = _load(config_path)
    if not config.schedule:
        log().error(f'{config_path}: no [[schedule]] table; add one, e.g. cron = "0 7 * * MON-FRI"')
        sys.exit(EXIT_USAGE)
    if standby and not config.distributed:
        log().error(f"{config_path}: --standby needs the distributed mode ([queue] broker)")
        sys.exit(EXIT_USAGE)
    take_lock = None  # the lock file beside the SQLite database
    sweep = None
    if config.distributed or on_postgresql(config.state.url):  # the advisory lock (and in the
        # distributed mode, slots enqueued for the workers)
        from newsletter.distributed.orchestrate import stall_seconds
        from newsletter.distributed.scheduling import sweeper
        from newsletter.distributed.scheduling import take_lock as distributed_lock

        take_lock = distributed_lock(config, standby=standby)
        if config.distributed:  # slots whose messages were lost are enqueued again
            sweep = (sweeper(config, clock=_now), stall_seconds(config) / 2)
    try:
        # Each issue written for a schedule with send = true goes straight to its subscribers.
        deliver = deliver_after_build(config, warn=_warn, inform=log().info, clock=_now)
        code = serve(
            config,
            clock=_now,
            warn=_warn,
            deliver=deliver,
            checkpoint=_test_pause(),
            take_lock=take_lock,
            sweep=sweep,
        )
    except LockHeld as e:
        log().error(str(e))
        sys.exit(EXIT_LOCKED)
    except NewsletterError as e:
        log().error(str(e))
        sys.exit(EXIT_FAILED)
    sys.exit(code)


@click.command("worker")
@config_option
@click.option(
    "--concurrency",
    type=click.IntRange(1, 512),
    help="Tasks run at once (pool processes); default: the number of CPUs.",
)
@click.option(
    "--pool",
    type=click.Choice(["prefork", "threads"]),
    default="prefork",
    show_default=True,
    help="Processes (CPU-bound work: parsing, rendering) or threads (mostly waiting on "
    "the network: many fetches at once, cheaply).",
)
@click.option("--loglevel", default="INFO", show_default=True, help="DEBUG, INFO, WARNING...")
def worker(config_path: Path, concurrency: int | None, pool: str, loglevel: str) -> None:
    """Work for the distributed mode ([queue] broker): fetch feeds, build issues, send
    batches. Run any number, on any number of machines; SIGTERM stops one cleanly."""
    from newsletter.distributed.commands import worker_command

    config = _load(config_path)
    error = lambda line: click.echo(f"error: {line}", err=True)  # noqa: E731
    log_format: LogFormat = click.get_current_context().obj or "text"  # main's --log-format
    sys.exit(
        worker_command(
            config,
            concurrency=concurrency,
            pool=pool,
            loglevel=loglevel,
            error=error,
            log_format=log_format,
        )
    )
