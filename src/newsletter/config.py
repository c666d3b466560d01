"""newsletter.toml -> a typed, frozen Config.

Every default lives here, once. Any unknown key, wrong type or missing value stops with one
line that names the file, the key and what is expected (``ConfigError``).
"""

from __future__ import annotations

import os
import re
import string
import tomllib
from email.utils import parseaddr
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from newsletter.errors import ConfigError

_SLUG = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
_SUBJECT_FIELDS = {"name", "date", "number", "headline"}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _check_address(value: str) -> str:
    _, address = parseaddr(value)
    if "@" not in address or address.startswith("@") or address.endswith("@"):
        raise ValueError(
            f"expected an email address such as 'Briefing <news@example.org>', got {value!r}"
        )
    return value


def _check_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"expected an IANA time zone such as 'Europe/Kyiv' or 'UTC', got {value!r}"
        ) from None
    return value


class NewsletterSettings(_Model):
    name: Annotated[str, Field(min_length=1)]
    sender: str
    recipient: str
    language: Annotated[str, Field(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")] = "en"
    timezone: str = "UTC"
    slug: Annotated[str, Field(pattern=_SLUG)] | None = None
    subject: str = "{name}: {headline}"

    _addresses = field_validator("sender", "recipient")(_check_address)

    _known_zone = field_validator("timezone")(_check_zone)

    @field_validator("subject")
    @classmethod
    def _known_fields(cls, value: str) -> str:
        names = {f for _, f, _, _ in string.Formatter().parse(value) if f}
        unknown = names - _SUBJECT_FIELDS
        if unknown:
            raise ValueError(
                f"unknown placeholder {{{sorted(unknown)[0]}}}; "
                f"use {', '.join('{' + f + '}' for f in sorted(_SUBJECT_FIELDS))}"
            )
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def folder_slug(self) -> str:
        return self.slug or slugify(self.name)


class SourcesSettings(_Model):
    seeds: str = "seeds"


class FeedSettings(_Model):
    url: Annotated[str, Field(min_length=1)]
    name: Annotated[str, Field(min_length=1)]
    enabled: bool = True
    full_text: bool = False
    # Keep only entries matching any ``include`` word/phrase; drop those matching ``exclude``.
    include: list[Annotated[str, Field(min_length=1)]] = []
    exclude: list[Annotated[str, Field(min_length=1)]] = []
    # Where the feed sits in an OPML list (outermost folder first): `feeds import`/`export`.
    category: list[Annotated[str, Field(min_length=1)]] = []

    @field_validator("url")
    @classmethod
    def _fetchable(cls, value: str) -> str:
        scheme = re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]+):", value)
        if scheme and scheme.group(1).lower() not in ("http", "https", "file"):
            raise ValueError(f"expected an http(s) URL, a file: URL or a local path, got {value!r}")
        return value


class FetchSettings(_Model):
    concurrency: Annotated[int, Field(ge=1, le=256)] = 16
    timeout: Annotated[float, Field(gt=0, le=600)] = 20.0
    deadline: Annotated[float, Field(gt=0, le=3600)] = 60.0
    max_bytes: Annotated[int, Field(ge=1000)] = 10_000_000
    max_entries: Annotated[int, Field(ge=1)] = 1000
    max_redirects: Annotated[int, Field(ge=0, le=20)] = 5
    user_agent: Annotated[str, Field(min_length=1)] | None = None
    unhealthy_after: Annotated[int, Field(ge=1)] = 5
    full_text_max: Annotated[int, Field(ge=0)] = 20
    max_age_days: Annotated[int, Field(ge=0)] = 7  # older entries are left out; 0: no limit
    # URLs from feed content (article pages, redirect targets) may reach private addresses
    allow_private_networks: bool = False
    page_max_bytes: Annotated[int, Field(ge=1000)] = 5_000_000  # one article page
    page_deadline: Annotated[float, Field(gt=0, le=3600)] = 20.0  # one article page, seconds
    max_articles: Annotated[int, Field(ge=1)] = 20_000  # feed articles taken in one run
    # Characters of one entry's HTML (and title) kept before any HTML or sentence work.
    max_entry_chars: Annotated[int, Field(ge=1000)] = 100_000


class SectionSettings(_Model):
    id: Annotated[str, Field(pattern=_SLUG)]
    title: Annotated[str, Field(min_length=1)]
    description: str = ""
    keywords: list[str] = []
    max_items: Annotated[int, Field(ge=1, le=50)] = 6
    max_words: Annotated[int, Field(ge=10, le=2000)] = 120


class SummarySettings(_Model):
    """How the digest is cut: relevance gates, the lead, and the summarizer backend."""

    backend: Literal["extractive", "llm"] = "extractive"
    # Words that say an article is on the newsletter's topic at all (default: every section
    # keyword). An article must mention them in at least this share of its sentences.
    topic_keywords: list[str] = []
    min_relevance: Annotated[float, Field(ge=0.0, le=1.0)] = 0.4
    learn_cues: bool = True
    lead_sentences: Annotated[int, Field(ge=0, le=5)] = 3
    lead_max_words: Annotated[int, Field(ge=10, le=300)] = 75
    llm_url: str | None = None
    llm_model: str | None = None
    llm_timeout: Annotated[float, Field(gt=0, le=600)] = 30.0
    llm_api_key_env: str | None = None
    llm_min_support: Annotated[float, Field(ge=0.0, le=1.0)] = 0.6
    # Past this, summarizing takes no further article and the issue is made from what is done.
    time_budget_seconds: Annotated[float, Field(gt=0, le=86400)] = 120.0

    @field_validator("llm_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://", value):
            raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
        return value

    @model_validator(mode="after")
    def _llm_needs_endpoint(self) -> SummarySettings:
        if self.backend == "llm" and not (self.llm_url and self.llm_model):
            raise ValueError("backend 'llm' needs llm_url and llm_model")
        return self


class OutboxSettings(_Model):
    path: str = "outbox"


def _from_env(data: Any, key: str, env_key: str, table: str) -> Any:
    """``key`` taken from the environment variable named by ``env_key`` (a password stays out
    of newsletter.toml); setting both is an error."""
    if not isinstance(data, dict) or data.get(env_key) is None:
        return data
    name = data[env_key]
    if not isinstance(name, str):
        return data  # the field's own validation says what is wrong
    _check_env_name(name)
    if data.get(key) is not None:
        raise ValueError(f"set {key} or {env_key}, not both")
    value = os.environ.get(name)
    if not value:
        raise ValueError(
            f"{env_key}: the environment variable {name} is not set; set it to the {table} URL"
        )
    return {**data, key: value}


class StateSettings(_Model):
    path: str = ".newsletter"
    url: str | None = None
    url_env: str | None = None  # the name of an environment variable holding ``url``

    @model_validator(mode="before")
    @classmethod
    def _url_from_env(cls, data: Any) -> Any:
        return _from_env(data, "url", "url_env", "database")


class QueueSettings(_Model):
    """``[queue]``: the distributed mode (Celery workers, Redis broker); see docs/scaling.md.

    Without ``broker`` everything runs in one process, as always."""

    broker: Annotated[str, Field(pattern=r"^rediss?://")] | None = None
    broker_env: str | None = None  # the name of an environment variable holding ``broker``
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$")] | None = None  # default: slug
    # A task whose worker died is handed to another worker after this many seconds.
    visibility_timeout: Annotated[int, Field(ge=2, le=86400)] = 600
    send_batch: Annotated[int, Field(ge=1, le=10000)] = 200  # subscribers per send task
    max_retries: Annotated[int, Field(ge=0, le=100)] = 10
    retry_backoff: Annotated[float, Field(gt=0, le=3600)] = 2.0  # seconds, doubled each try
    wait_seconds: Annotated[int, Field(ge=1)] = 3600  # how long 'newsletter run' waits

    @model_validator(mode="before")
    @classmethod
    def _broker_from_env(cls, data: Any) -> Any:
        return _from_env(data, "broker", "broker_env", "broker")


class TemplatesSettings(_Model):
    path: str = "templates"


_COLOUR = Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}$")]


class BrandSettings(_Model):
    accent_color: _COLOUR = "#1a4d8f"
    text_color: _COLOUR = "#1f2328"
    muted_color: _COLOUR = "#57606a"
    background_color: _COLOUR = "#f4f5f7"
    card_color: _COLOUR = "#ffffff"
    divider_color: _COLOUR = "#d0d7de"
    # Dark mode (Apple Mail, iOS, Outlook.com and others that honour prefers-color-scheme).
    dark_background_color: _COLOUR = "#0d1117"
    dark_card_color: _COLOUR = "#161b22"
    dark_text_color: _COLOUR = "#e6edf3"
    dark_muted_color: _COLOUR = "#9da7b3"
    dark_accent_color: _COLOUR = "#79b8ff"
    dark_divider_color: _COLOUR = "#30363d"
    font_family: str = "-apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"
    logo_url: str | None = None
    tagline: str = ""
    postal_address: str = ""
    unsubscribe_url: str | None = None

    @field_validator("logo_url", "unsubscribe_url")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^(https://|http://|mailto:)", value):
            raise ValueError(f"expected an https://, http:// or mailto: URL, got {value!r}")
        return value


class ScheduleSettings(_Model):
    """One ``[[schedule]]``: when ``newsletter schedule`` makes an issue (see cron.py)."""

    cron: Annotated[str, Field(min_length=1)]
    timezone: str | None = None  # None: the newsletter's time zone
    name: Annotated[str, Field(pattern=_SLUG)] | None = None
    send: bool = False  # hand the written issue to delivery (runner.Deliver)

    _zone = field_validator("timezone")(lambda v: v if v is None else _check_zone(v))

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        from newsletter.schedule.cron import parse_cron

        parse_cron(value, ZoneInfo("UTC"))
        return value


class SchedulerSettings(_Model):
    """``[scheduler]``: how ``newsletter schedule`` treats late slots, its lock and empty days."""

    grace_seconds: Annotated[int, Field(ge=1, le=7 * 86400)] = 3600
    lease_seconds: Annotated[int, Field(ge=3, le=3600)] = 60  # the lock is checked every 1/3
    skip_when_nothing_new: bool = True
    stop_timeout_seconds: Annotated[int, Field(ge=0, le=3600)] = 30


def _check_env_name(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
        raise ValueError(
            f"expected the name of an environment variable such as 'SMTP_PASSWORD', got {value!r}"
        )
    return value


class DeliverySettings(_Model):
    """``newsletter send``: who gets the issue and how fast; see delivery.py."""

    subscribers: Annotated[str, Field(min_length=1)] = "subscribers.csv"
    rate: Annotated[float, Field(gt=0, le=1000)] = 5.0  # messages per second
    attempts: Annotated[int, Field(ge=1, le=20)] = 5  # tries per message on temporary errors
    backoff: Annotated[float, Field(ge=0, le=600)] = 2.0  # seconds before the first retry
    secret_env: str = "NEWSLETTER_UNSUBSCRIBE_SECRET"
    # DKIM signing (delivery/dkim.py): a PEM RSA private key file, its DNS selector, and the
    # signing domain (default: the sender's).
    dkim_key: Annotated[str, Field(min_length=1)] | None = None
    dkim_selector: (
        Annotated[str, Field(pattern=r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$")] | None
    ) = None
    dkim_domain: Annotated[str, Field(pattern=r"^[A-Za-z0-9.-]+$")] | None = None

    _env = field_validator("secret_env")(_check_env_name)

    @model_validator(mode="after")
    def _dkim_complete(self) -> DeliverySettings:
        if self.dkim_key and not self.dkim_selector:
            raise ValueError("dkim_key needs dkim_selector (the name of its DNS record)")
        return self


class SmtpSettings(_Model):
    host: Annotated[str, Field(min_length=1)] = "localhost"
    port: Annotated[int, Field(ge=1, le=65535)] | None = None  # default: 587, 465 or 25
    security: Literal["starttls", "tls", "none"] = "starttls"
    user: str | None = None
    password_env: str = "NEWSLETTER_SMTP_PASSWORD"
    timeout: Annotated[float, Field(gt=0, le=600)] = 30.0
    # "xoauth2" (Gmail, Outlook): the secret is an OAuth2 access token, printed by
    # token_command before each connection (tokens expire within the hour), else password_env.
    auth: Literal["password", "xoauth2"] = "password"
    token_command: (
        Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)] | None
    ) = None

    _env = field_validator("password_env")(_check_env_name)

    @model_validator(mode="after")
    def _oauth_complete(self) -> SmtpSettings:
        if self.auth == "xoauth2" and not self.user:
            raise ValueError('auth = "xoauth2" needs user (the mailbox the token is for)')
        if self.token_command and self.auth != "xoauth2":
            raise ValueError('token_command is used only with auth = "xoauth2"; set it or remove')
        return self

    @property
    def effective_port(self) -> int:
        return self.port or {"starttls": 587, "tls": 465, "none": 25}[self.security]


class WebSettings(_Model):
    """``[web]``: the subscribers' web service (``newsletter serve``); see docs/web.md."""

    # The public address of the service (behind the reverse proxy), e.g. https://news.example.org.
    # Set, it is where every message's List-Unsubscribe and preferences links point.
    base_url: Annotated[str, Field(pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$")] | None = None
    host: Annotated[str, Field(min_length=1)] = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8080
    # Sign-ups answered per hour before 429: per client address, and per email address.
    signups_per_client: Annotated[int, Field(ge=1, le=100_000)] = 10
    signups_per_address: Annotated[int, Field(ge=1, le=1000)] = 3
    confirm_hours: Annotated[int, Field(ge=1, le=24 * 30)] = 48  # a confirmation link's life
    # Client addresses of reverse proxies whose X-Forwarded-For is believed.
    trusted_proxies: list[str] = ["127.0.0.1", "::1"]


class Config(_Model):
    newsletter: NewsletterSettings
    sources: SourcesSettings = SourcesSettings()
    feeds: list[FeedSettings] = []
    fetch: FetchSettings = FetchSettings()
    sections: Annotated[list[SectionSettings], Field(min_length=1)]
    summary: SummarySettings = SummarySettings()
    outbox: OutboxSettings = OutboxSettings()
    state: StateSettings = StateSettings()
    templates: TemplatesSettings = TemplatesSettings()
    queue: QueueSettings = QueueSettings()
    brand: BrandSettings = BrandSettings()
    schedule: list[ScheduleSettings] = []
    scheduler: SchedulerSettings = SchedulerSettings()
    delivery: DeliverySettings = DeliverySettings()
    smtp: SmtpSettings = SmtpSettings()
    web: WebSettings = WebSettings()
    # Where the config file lives: every relative path in it is relative to this folder.
    root: Path = Field(default=Path("."), exclude=True)

    @model_validator(mode="after")
    def _unique_sections(self) -> Config:
        seen: set[str] = set()
        for section in self.sections:
            if section.id in seen:
                raise ValueError(f"section id {section.id!r} is used twice; ids must be unique")
            seen.add(section.id)
        names = [s.name for s in self.schedule if s.name]
        if len(names) != len(set(names)):
            raise ValueError("two [[schedule]] tables have the same name; names must be unique")
        return self

    def schedule_name(self, index: int) -> str:
        """The schedule's name, or ``schedule-N`` (1-based) when it has none."""
        return self.schedule[index].name or f"schedule-{index + 1}"

    def schedule_zone(self, index: int) -> ZoneInfo:
        return ZoneInfo(self.schedule[index].timezone or self.newsletter.timezone)

    @model_validator(mode="after")
    def _unique_feeds(self) -> Config:
        seen: set[str] = set()
        for i, feed in enumerate(self.feeds):
            if feed.url in seen:
                raise ValueError(f"feeds[{i + 1}]: url {feed.url!r} is listed twice")
            seen.add(feed.url)
        return self

    @model_validator(mode="after")
    def _shared_state(self) -> Config:
        if self.queue.broker and not (self.state.url or "").startswith("postgresql"):
            raise ValueError(
                "[queue] broker needs a database every worker shares: set [state] url = "
                '"postgresql+psycopg://user@host/db"'
            )
        return self

    @property
    def distributed(self) -> bool:
        """True when ``[queue] broker`` is set: Celery workers do the work."""
        return self.queue.broker is not None

    @property
    def queue_name(self) -> str:
        return self.queue.name or f"newsletter-{self.newsletter.folder_slug}"

    def path(self, relative: str) -> Path:
        return (self.root / relative).resolve()

    @property
    def seeds_dir(self) -> Path:
        return self.path(self.sources.seeds)

    @property
    def outbox_dir(self) -> Path:
        return self.path(self.outbox.path)

    @property
    def state_dir(self) -> Path:
        return self.path(self.state.path)

    @property
    def templates_dir(self) -> Path:
        return self.path(self.templates.path)

    @property
    def subscribers_file(self) -> Path:
        return self.path(self.delivery.subscribers)


def slugify(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug or "newsletter"


def load_config(path: Path) -> Config:
    """Read and validate a newsletter.toml; raise ConfigError with one clear line."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such file; run 'newsletter init DIR' to create a project "
            "or pass --config PATH"
        ) from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from e
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text; save it as UTF-8") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML: {e}") from None
    return parse_config(data, path)


def parse_config(data: dict[str, Any], path: Path) -> Config:
    try:
        return Config.model_validate({**data, "root": path.resolve().parent}, strict=False)
    except ValidationError as e:
        raise ConfigError(f"{path}: {_describe(e, data)}") from None


def _describe(error: ValidationError, data: dict[str, Any]) -> str:
    first = error.errors()[0]
    loc = tuple(part for part in first["loc"] if part not in ("function-after",))
    key = _key_name(loc)
    kind = first["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        return f"unknown key '{key}'; allowed here: {', '.join(allowed)}"
    if kind == "missing":
        return f"missing required key '{key}'"
    message = first["msg"].removeprefix("Value error, ")
    if kind.endswith("_type") or kind == "list_type":
        message = f"expected {_expected(kind)}, got {first['input']!r}"
    if key:
        return f"key '{key}': {message}"
    return message


def _key_name(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts[-1] = f"{parts[-1]}[{part + 1}]" if parts else f"[{part + 1}]"
        else:
            parts.append(str(part))
    return ".".join(parts)


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    model: type[BaseModel] = Config
    for part in loc:
        if isinstance(part, int):
            continue
        annotation = model.model_fields[str(part)].annotation
        model = _model_in(annotation) or model
    return [name for name in model.model_fields if name != "root"]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found:
            return found
    return None


def _expected(kind: str) -> str:
    names = {
        "string_type": "a string",
        "int_type": "an integer",
        "bool_type": "true or false",
        "list_type": "a list",
        "float_type": "a number",
        "model_type": "a table",
        "dict_type": "a table",
    }
    return names.get(kind, kind.removesuffix("_type").replace("_", " "))
