"""How long rendering takes and how big the HTML gets: the founding issue, a 45-item issue
(15 sections x 3 items) and an oversized issue that must be trimmed under Gmail's clip size.

Run: PYTHONPATH=src python benchmarks/render_email.py
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import time
from datetime import date
from pathlib import Path

from newsletter.config import load_config, parse_config
from newsletter.email.render import load_templates, render_issue
from newsletter.model import Item, Section, Source
from newsletter.preview import render_in_memory, sample_issue

REPO = Path(__file__).resolve().parents[1]
TODAY = date(2025, 11, 21)


def timed(label: str, build: object, runs: int = 20) -> None:
    start = time.perf_counter()
    for _ in range(runs):
        rendered = build()  # type: ignore[operator]
    ms = (time.perf_counter() - start) / runs * 1000
    size = len(rendered.html.encode())
    print(f"{label:44} {ms:7.1f} ms  {size / 1000:6.1f} KB HTML  omitted {rendered.omitted_count}")


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        shutil.copy(REPO / "newsletter.toml", root / "newsletter.toml")
        shutil.copytree(REPO / "seeds", root / "seeds")
        config = load_config(root / "newsletter.toml")
        templates = load_templates(REPO / "templates")
        timed("founding issue (seed -> summary -> HTML)", lambda: render_in_memory(config, TODAY))

        data = config.model_dump(exclude={"root"})
        data["sections"] = [
            {"id": f"s{n}", "title": f"Section {n}", "max_items": 50} for n in range(15)
        ]
        wide = parse_config(data, root / "newsletter.toml")
        source = Source("A wire story", "https://wire.example/story", "Example Wire", None)
        sentence = "A typical news sentence of about thirty words " + "word " * 22 + "end."

        def issue(sections: int, items: int) -> object:
            return dataclasses.replace(
                sample_issue(wide, TODAY),
                sections=tuple(
                    Section(
                        f"s{n}",
                        f"Section {n}",
                        "",
                        tuple(Item(sentence, (source,), float(k)) for k in range(items)),
                    )
                    for n in range(sections)
                ),
            )

        forty_five = issue(15, 3)
        timed("45 items (15 sections x 3)", lambda: render_issue(forty_five, wide, templates))
        big = issue(15, 40)
        label = "600 items, trimmed under 100,000 bytes"
        timed(label, lambda: render_issue(big, wide, templates), 5)


if __name__ == "__main__":
    main()
