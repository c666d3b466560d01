"""Email-client compatibility against caniemail data (npm @jsx-email/doiuse-email, offline).

MJML's own output already uses features some clients lack (media queries, MSO conditionals,
role attributes), so "no findings" is impossible and meaningless. tests/data/
email-compat-baseline.json lists every accepted feature, the clients it is flagged for, and
why it is harmless for Gmail, Outlook and Apple Mail; this test fails when a template change
brings in a feature, or a client for a feature, that the baseline does not accept.

After a deliberate change, regenerate with ``python tests/test_email_compat.py`` (keeps the
reasons; a new feature gets a TODO reason, which fails the test until someone writes why).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
BASELINE = TESTS / "data" / "email-compat-baseline.json"
SCRIPT = TESTS / "compat" / "doiuse.mjs"
NODE_HOME = REPO / ".ci"  # .ci/run installs the package into .ci/node_modules
PACKAGE = NODE_HOME / "node_modules" / "@jsx-email" / "doiuse-email"

Findings = dict[str, dict[str, set[str]]]  # feature -> "errors"/"warnings" -> clients


def doiuse(html: str) -> Findings:
    node = shutil.which("node")
    if node is None or not PACKAGE.is_dir():
        reason = (
            "node or @jsx-email/doiuse-email is absent; .ci/run installs it into "
            ".ci/node_modules (npm install --prefix .ci @jsx-email/doiuse-email@1.0.4)"
        )
        if os.environ.get("NEWSLETTER_REQUIRE_EMAIL_TOOLS"):
            pytest.fail(reason)
        pytest.skip(reason)
    result = subprocess.run(
        [node, str(SCRIPT), str(NODE_HOME)],
        input=html,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if result.returncode != 0:
        pytest.fail(f"doiuse-email failed (reinstall .ci/node_modules?): {result.stderr[-600:]}")
    report = json.loads(result.stdout)
    findings: Findings = {}
    for level in ("errors", "warnings"):
        for line in report[level]:
            feature, client = re.findall(r"`([^`]*)`", line)[:2]
            findings.setdefault(feature, {}).setdefault(level, set()).add(client)
    return findings


def sample_html() -> str:
    """The founding issue, with a logo so the image markup is checked too."""
    import tempfile

    sys.path.insert(0, str(TESTS))
    from emailkit import new_project, rendered, set_in_config

    with tempfile.TemporaryDirectory() as folder:
        project = new_project(Path(folder) / "project")
        set_in_config(project, "brand", "logo_url", "https://example.org/logo.png")
        set_in_config(project, "brand", "unsubscribe_url", "https://example.org/unsubscribe")
        return rendered(project).html


def test_no_email_feature_outside_the_baseline() -> None:
    findings = doiuse(sample_html())
    baseline = json.loads(BASELINE.read_text(encoding="utf-8"))["features"]
    new = []
    for feature, levels in sorted(findings.items()):
        accepted = baseline.get(feature, {})
        for level, clients in sorted(levels.items()):
            extra = sorted(clients - set(accepted.get(level, [])))
            if extra:
                new.append(f"{feature} ({level}: {', '.join(extra)})")
    assert not new, (
        "the email now uses features caniemail flags that the baseline does not accept: "
        + "; ".join(new)
        + ". Avoid them, or add them to tests/data/email-compat-baseline.json with the "
        "reason they are harmless (python tests/test_email_compat.py regenerates it)."
    )
    todo = [name for name, entry in baseline.items() if entry["reason"].startswith("TODO")]
    assert not todo, f"baseline features without a reason: {todo}"


def update_baseline() -> None:
    old = json.loads(BASELINE.read_text(encoding="utf-8")) if BASELINE.exists() else {}
    reasons = {k: v["reason"] for k, v in old.get("features", {}).items()}
    findings = doiuse(sample_html())
    document = {
        "about": old.get("about", "Features caniemail flags in our email, accepted with why."),
        "clients": ["gmail.*", "outlook.*", "apple-mail.*"],
        "features": {
            feature: {
                "reason": reasons.get(feature, "TODO: say why this is harmless"),
                **{level: sorted(clients) for level, clients in sorted(levels.items())},
            }
            for feature, levels in sorted(findings.items())
        },
    }
    BASELINE.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", "utf-8")
    print(f"wrote {BASELINE} ({len(findings)} features)")


if __name__ == "__main__":
    sys.path.insert(0, str(REPO / "src"))
    update_baseline()
