"""newsletter: seeds and feeds in, a sectioned, attributed email digest out."""

from __future__ import annotations

import sys

# httpx's package __init__ imports its command-line tool (``httpx._main``: rich, click,
# pygments) whenever those happen to be installed, which another dependency may do: ~0.6 s of
# a 5.5 s import under load, for a tool we never call. Marking the module absent makes httpx
# take its own fallback (a stub ``httpx.main``); nothing else about httpx changes.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

DISTRIBUTION = "newsletter-digest"  # the name on the package index (the command: newsletter)
PROJECT_URL = "https://github.com/newsletter-project/newsletter"


def __getattr__(name: str) -> str:
    """``__version__`` and ``USER_AGENT``, read from the installed metadata on first use: that
    read costs tens of milliseconds, which `newsletter --help` does not pay."""
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version(DISTRIBUTION)
        except PackageNotFoundError:  # running from a source tree that is not installed
            found = "0.0.0"
        globals()["__version__"] = found
        return found
    if name == "USER_AGENT":
        agent = f"newsletter/{__getattr__('__version__')} (+{PROJECT_URL})"
        globals()["USER_AGENT"] = agent
        return agent
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
