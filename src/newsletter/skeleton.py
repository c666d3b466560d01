"""The project skeleton: the starter config ``newsletter init`` writes, the example project
``newsletter init --example`` writes (the peace-plan config and the founding seed), and the
default templates every project falls back on.

The repository keeps the example and the templates once, at its top level (``newsletter.toml``,
``seeds/``, ``templates/``); a built wheel carries a copy as ``newsletter/_skeleton/``. An
editable install reads the repository's. The starter config lives beside this module.
"""

from __future__ import annotations

from pathlib import Path

from newsletter.errors import ConfigError, TemplateError

CONFIG_NAME = "newsletter.toml"  # a project's config file, in its folder

_HERE = Path(__file__).resolve().parent
_PACKAGED = _HERE / "_skeleton"
_CHECKOUT = _HERE.parents[1]
_STARTER = _HERE / "starter.toml"


def skeleton_dir() -> Path:
    if (_PACKAGED / "newsletter.toml").is_file():
        return _PACKAGED
    return _CHECKOUT


def default_templates_dir() -> Path:
    return skeleton_dir() / "templates"


def example_seeds_dir() -> Path:
    return skeleton_dir() / "seeds"


def default_config_text() -> str:
    """The example project's config (the peace-plan briefing)."""
    return (skeleton_dir() / CONFIG_NAME).read_text(encoding="utf-8")


def starter_config_text() -> str:
    """The neutral, commented config of a new project."""
    return _STARTER.read_text(encoding="utf-8")


def _copy(source: Path, target: Path) -> None:
    import shutil  # here, not at the top: every command reads CONFIG_NAME at start

    shutil.copyfile(source, target)


def create_project(directory: Path, *, example: bool) -> Path:
    """A new project in ``directory``: its config, ``seeds/`` (with the founding seed for the
    example) and ``outbox/``. No template is copied: the defaults serve until one is copied
    (``copy_template``). Returns the config's path; refuses to replace an existing config."""
    target = directory / CONFIG_NAME
    if target.exists():
        raise ConfigError(f"{target} already exists; nothing was changed")
    seeds = directory / "seeds"
    seeds.mkdir(parents=True, exist_ok=True)
    (directory / "outbox").mkdir(exist_ok=True)
    if example:
        for seed in sorted(example_seeds_dir().iterdir()):
            if seed.suffix in (".txt", ".md") and not (seeds / seed.name).exists():
                _copy(seed, seeds / seed.name)
    text = default_config_text() if example else starter_config_text()
    target.write_text(text, encoding="utf-8")
    return target


def template_names() -> list[str]:
    """Every default template, as a path relative to the templates folder."""
    root = default_templates_dir()
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.j2") if p.is_file())


def copy_template(name: str, templates_dir: Path) -> Path:
    """Copy the default template ``name`` (``issue.mjml.j2``, ``partials/item.mjml.j2``, or a
    partial's bare file name) into a project's templates folder, never over an existing file."""
    names = template_names()
    matches = [n for n in names if n == name] or [n for n in names if Path(n).name == name]
    if len(matches) != 1:
        raise TemplateError(f"no default template {name!r}; the templates: {', '.join(names)}")
    target = templates_dir / matches[0]
    if target.exists():
        raise TemplateError(f"{target} already exists; nothing was changed")
    target.parent.mkdir(parents=True, exist_ok=True)
    _copy(default_templates_dir() / matches[0], target)
    return target
