"""newsletter: seeds and feeds in, a sectioned, attributed email digest out."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("newsletter-digest")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

PROJECT_URL = "https://github.com/newsletter-project/newsletter"
USER_AGENT = f"newsletter/{__version__} (+{PROJECT_URL})"
