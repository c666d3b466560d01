"""Config errors: one line naming the file, the key and what is expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import REPO, run_cli
from newsletter.config import load_config
from newsletter.errors import ConfigError


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "newsletter.toml"
    path.write_text(text, encoding="utf-8")
    return path


MINIMAL = """
[newsletter]
name = "Test"
sender = "news@example.org"
recipient = "list@example.org"

[[sections]]
id = "one"
title = "One"
"""


def error_for(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(tmp_path, text))
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(str(tmp_path / "newsletter.toml") + ": ")
    return message


def test_default_config_has_the_three_sections_in_order() -> None:
    config = load_config(REPO / "newsletter.toml")
    assert [(s.id, s.title) for s in config.sections] == [
        ("us-plan", "The US plan"),
        ("ukraine-response", "Ukraine's response"),
        ("russia-demands", "Russia's demands"),
    ]
    assert config.newsletter.language == "en"
    assert config.outbox_dir == REPO / "outbox"


def test_minimal_config_gets_defaults(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, MINIMAL))
    assert config.newsletter.timezone == "UTC"
    assert config.seeds_dir == tmp_path / "seeds"
    assert config.state_dir == tmp_path / ".newsletter"
    assert config.sections[0].max_words == 120


def test_unknown_key_is_named_with_the_allowed_ones(tmp_path: Path) -> None:
    message = error_for(tmp_path, MINIMAL.replace('title = "One"', 'title = "One"\ncolour = 1'))
    assert "unknown key 'sections[1].colour'" in message
    assert "keywords" in message  # the allowed keys are listed


def test_wrong_type_names_key_and_expectation(tmp_path: Path) -> None:
    message = error_for(tmp_path, MINIMAL + 'keywords = "NATO"\n')
    assert "key 'sections[1].keywords'" in message
    assert "expected a list" in message


def test_missing_required_value(tmp_path: Path) -> None:
    message = error_for(tmp_path, MINIMAL.replace('sender = "news@example.org"\n', ""))
    assert "missing required key 'newsletter.sender'" in message


def test_bad_timezone_and_address(tmp_path: Path) -> None:
    message = error_for(
        tmp_path, MINIMAL.replace('name = "Test"', 'name = "Test"\ntimezone = "Mars"')
    )
    assert "newsletter.timezone" in message and "IANA" in message
    message = error_for(tmp_path, MINIMAL.replace("news@example.org", "nobody"))
    assert "newsletter.sender" in message and "email address" in message


def test_duplicate_section_ids(tmp_path: Path) -> None:
    message = error_for(tmp_path, MINIMAL + '\n[[sections]]\nid = "one"\ntitle = "Again"\n')
    assert "'one' is used twice" in message


def test_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    assert "invalid TOML" in error_for(tmp_path, "[newsletter\n")
    with pytest.raises(ConfigError, match=r"no such file.*newsletter init"):
        load_config(tmp_path / "absent.toml")


def test_cli_prints_one_line_and_exits_2(tmp_path: Path) -> None:
    write_config(tmp_path, MINIMAL + "max_items = 0\n")
    result = run_cli("run", cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "sections[1].max_items" in lines[0] and "newsletter.toml" in lines[0]
    assert not (tmp_path / "outbox").exists()
