"""The built wheel is a whole product: installed (not editable) into a fresh environment, it
carries the example project, its seed and the templates, so `newsletter init --example x`
then `newsletter run` in x builds the Peace Plan Briefing with nothing from the checkout.

The wheel is built once, by the hatchling of the dev extra (no build environment to fetch, so a
few seconds and no network); its dependencies are not installed again: the fresh
venv sees this venv's site-packages through a path file (which adds the folder, not the
editable install's own path file, so `newsletter` comes from the wheel)."""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import zipfile
from pathlib import Path

from conftest import REPO, without_feeds

PIP = (sys.executable, "-m", "pip")


def test_the_wheel_installs_and_builds_the_example_project(tmp_path: Path) -> None:
    built = subprocess.run(
        [
            *PIP,
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-qw",
            str(tmp_path),
            str(REPO),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("newsletter_digest-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "newsletter/_skeleton/seeds/us-peace-plan-ukraine-russia.txt" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)

    fresh = tmp_path / "fresh"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(fresh)], check=True)
    python = fresh / "bin" / "python"
    installed = subprocess.run(
        [
            *PIP,
            "--python",
            str(python),
            "install",
            "--no-deps",
            "--no-index",
            "--no-compile",
            "-q",
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert installed.returncode == 0, installed.stderr
    (purelib,) = (fresh / "lib").glob("python3*/site-packages")
    (purelib / "_dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NEWSLETTER_CONFIG")}
    newsletter = str(fresh / "bin" / "newsletter")
    where = subprocess.run(
        [str(python), "-c", "import newsletter; print(newsletter.__file__)"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(fresh)

    made = subprocess.run(
        [newsletter, "init", "--example", "x"], cwd=tmp_path, env=env, capture_output=True
    )
    assert made.returncode == 0, made.stderr
    project = tmp_path / "x"
    assert (project / "newsletter.toml").read_text() == (REPO / "newsletter.toml").read_text()
    without_feeds(project / "newsletter.toml")  # its real public feeds: no test uses the network
    ran = subprocess.run(
        [newsletter, "run"], cwd=project, env=env, capture_output=True, text=True, timeout=120
    )
    assert ran.returncode == 0, ran.stderr
    (folder,) = [p for p in (project / "outbox").iterdir() if not p.name.startswith(".")]
    issue = json.loads((folder / "issue.json").read_text())
    assert issue["newsletter"] == "Peace Plan Briefing"
    assert all(section["items"] for section in issue["sections"])
