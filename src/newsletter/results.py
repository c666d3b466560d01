"""What ``run --json``, ``send --json`` and ``check --json`` print: one JSON document each,
with the command, its result, its counts and the paths it wrote or read.

Every document has ``command``, ``result`` and ``ok`` (the exit status as a boolean); a
failure adds ``error``, the same line the command prints on stderr.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from newsletter.delivery.send import DeliveryReport
from newsletter.pipeline import RunResult

ISSUE_FILES = ("issue.html", "issue.txt", "issue.eml", "issue.json")


def run_document(result: RunResult) -> dict[str, Any]:
    folder = result.path
    return {
        "command": "run",
        "result": result.status,
        "ok": True,
        "issue": result.number,
        "slot": result.slot.isoformat(),
        "message": result.message,
        "counts": {"articles_in": result.articles_in, "items_out": result.items_out},
        "paths": {
            "folder": str(folder) if folder else None,
            "files": [str(folder / name) for name in ISSUE_FILES if (folder / name).is_file()]
            if folder
            else [],
        },
    }


def send_document(report: DeliveryReport) -> dict[str, Any]:
    return {
        "command": "send",
        "result": "dry-run" if report.dry_run else "sent" if report.ok else "failed",
        "ok": report.ok,
        "issue": report.number,
        "counts": {
            "sent": report.sent,
            "skipped": report.skipped,
            "failed": len(report.failed),
            "refused_before": report.refused_before,
            "busy": report.busy,
            "resent": report.resent,
            "written": len(report.written),
        },
        "failures": [
            {"email": f.email, "reason": f.reason, "permanent": f.permanent} for f in report.failed
        ],
        "paths": {"folder": str(report.folder), "files": [str(p) for p in report.written]},
        "message": report.summary(),
    }


def check_document(config: Path, problems: list[str], warnings: list[str]) -> dict[str, Any]:
    return {
        "command": "check",
        "result": "problems" if problems else "ok",
        "ok": not problems,
        "counts": {"problems": len(problems), "warnings": len(warnings)},
        "problems": problems,
        "warnings": warnings,
        "paths": {"config": str(config)},
    }


def queued_document(
    command: str, message: str, queue: str, counts: dict[str, int], **found: Any
) -> dict[str, Any]:
    """The distributed mode's ``--no-wait``: what was enqueued, on which queue."""
    return {
        "command": command,
        "result": "queued",
        "ok": True,
        **found,
        "queue": queue,
        "counts": counts,
        "message": message,
    }


def failed_document(command: str, error: str) -> dict[str, Any]:
    return {"command": command, "result": "failed", "ok": False, "error": error}
