"""Where the project skeleton (default newsletter.toml and templates) lives.

The repository keeps it once, at its top level (``newsletter.toml``, ``templates/``); a built
wheel carries a copy as ``newsletter/_skeleton/``. An editable install reads the repository's.
"""

from __future__ import annotations

from pathlib import Path

CONFIG_NAME = "newsletter.toml"  # a project's config file, in its folder

_PACKAGED = Path(__file__).resolve().parent / "_skeleton"
_CHECKOUT = Path(__file__).resolve().parents[2]


def skeleton_dir() -> Path:
    if (_PACKAGED / "newsletter.toml").is_file():
        return _PACKAGED
    return _CHECKOUT


def default_templates_dir() -> Path:
    return skeleton_dir() / "templates"


def default_config_text() -> str:
    return (skeleton_dir() / "newsletter.toml").read_text(encoding="utf-8")
