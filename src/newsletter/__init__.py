"""newsletter: seeds and feeds in, a sectioned, attributed email digest out."""

import sys
from importlib.metadata import PackageNotFoundError, version

# httpx's package __init__ imports its command-line tool (``httpx._main``: rich, click,
# pygments) whenever those happen to be installed, which another dependency may do: ~0.6 s of
# a 5.5 s import under load, for a tool we never call. Marking the module absent makes httpx
# take its own fallback (a stub ``httpx.main``); nothing else about httpx changes.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

try:
    __version__ = version("newsletter")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

PROJECT_URL = "https://github.com/newsletter-project/newsletter"
USER_AGENT = f"newsletter/{__version__} (+{PROJECT_URL})"
