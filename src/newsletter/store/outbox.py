"""The outbox: one folder per issue, written atomically.

Files are written and fsynced in a staging folder on the same file system, then the folder is
renamed into place in one step: a crash leaves either the whole issue or nothing in the outbox.
A finished issue is never overwritten.

Staging lives in ``outbox/.staging`` because a rename is only atomic within one file system; the
outbox's readers skip names that start with a dot. A run that died leaves its staging folder
behind: the next run that claims the same issue removes it (``clean_staging(outbox, name)``), and
any run removes staging folders older than an hour.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from newsletter.errors import OutboxError

STAGING = ".staging"
STALE_STAGING_SECONDS = 3600


def issue_folder_name(date_iso: str, slug: str, edition: int) -> str:
    return f"{date_iso}-{slug}" if edition <= 1 else f"{date_iso}-{slug}-{edition}"


def write_issue(
    outbox: Path,
    name: str,
    files: Mapping[str, bytes],
    before_rename: Callable[[], None] = lambda: None,
) -> Path:
    """Write ``files`` into ``outbox/name/`` atomically; refuse if it already exists.

    ``before_rename`` runs when every file is staged and synced (a progress/test checkpoint)."""
    final = outbox / name
    if final.exists():
        raise OutboxError(f"{final}: already exists; a finished issue is never overwritten")
    staging = outbox / STAGING / f"{name}.{uuid.uuid4().hex[:8]}"
    try:
        staging.mkdir(parents=True)
        for filename, data in files.items():
            _write_synced(staging / filename, data)
        _fsync_dir(staging)
        before_rename()
        os.rename(staging, final)
        _fsync_dir(outbox)
    except BaseException as e:
        shutil.rmtree(staging, ignore_errors=True)
        if not isinstance(e, OSError):
            raise
        if e.errno in (errno.EEXIST, errno.ENOTEMPTY):
            raise OutboxError(
                f"{final}: already exists; a finished issue is never overwritten"
            ) from e
        raise OutboxError(f"{final}: cannot write the issue: {e.strerror or e}") from e
    return final


def clean_staging(
    outbox: Path, older_than: float = STALE_STAGING_SECONDS, *, name: str | None = None
) -> int:
    """Remove staging folders left by runs that died; returns how many were removed.

    ``name``: the caller holds the claim for that issue, so any staging of it is a dead run's."""
    root = outbox / STAGING
    if not root.is_dir():
        return 0
    removed = 0
    for entry in root.iterdir():
        mine = name is not None and entry.name.rpartition(".")[0] == name
        try:
            old = time.time() - entry.stat().st_mtime > older_than
        except OSError:
            continue  # removed by another run meanwhile
        if mine or old:
            shutil.rmtree(entry, ignore_errors=True)
            removed += 1
    return removed


def read_issue_json(folder: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((folder / "issue.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
