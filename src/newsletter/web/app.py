"""``newsletter serve``: the subscribers' web service (Starlette, served by uvicorn).

Pages (paths relative to ``[web] base_url``):

- ``/`` the archive, ``/issues/N/`` each issue's web version, ``/feed.atom`` its Atom feed;
- ``/subscribe`` sign-up with double opt-in; ``/confirm/TOKEN`` the link mailed to confirm;
- ``/u/TOKEN`` one-click unsubscribe (RFC 8058): a POST with ``List-Unsubscribe=One-Click``
  unsubscribes at once, with no cookie and no CSRF token (mail providers send it); a GET only
  shows a button, because mail scanners fetch links; ``/unsubscribe?token=`` is the same for
  links made for a ``[brand] unsubscribe_url`` pointing here;
- ``/p/TOKEN`` preferences: sections, name, unsubscribe;
- ``/health`` for load balancers (checks the database).

Stateless: everything that matters is in the state database (subscribers, confirmations,
rate-limit windows); CSRF tokens are signed, bound to a cookie of the browser. Any number of
processes can serve one newsletter behind a load balancer on a shared PostgreSQL.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from itsdangerous import BadData, URLSafeTimedSerializer
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from newsletter.config import Config
from newsletter.delivery import roster
from newsletter.delivery.addresses import Address, parse_address
from newsletter.delivery.notices import NoticeKind, notice, send_notice
from newsletter.delivery.send import smtp_password, smtp_transport
from newsletter.delivery.transport import Transport
from newsletter.delivery.unsubscribe import (
    check_confirm_token,
    check_token,
    confirm_token,
    secret_from_env,
    subscriber_token,
    token_subscriber,
    verify_token,
)
from newsletter.errors import NewsletterError
from newsletter.store import state
from newsletter.web.archive import FEED_NAME, atom_feed, entries, index_html, web_version

log = logging.getLogger("newsletter.web")
CSRF_COOKIE = "newsletter_csrf"
CSRF_MAX_AGE = 24 * 3600
PAGES = Path(__file__).with_name("templates")


def pages_environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(str(PAGES)),
        autoescape=select_autoescape(default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


@dataclass(frozen=True)
class Service:
    config: Config
    engine: Engine
    secret: bytes
    list_ref: str
    pages: Environment
    transport: Callable[[], Transport]
    clock: Callable[[], datetime]

    @property
    def newsletter(self) -> str:
        return self.config.newsletter.name

    def base(self, request: Request) -> str:
        """The service's public URL, without a trailing slash."""
        return (self.config.web.base_url or str(request.base_url)).rstrip("/")

    def page(self, template: str, code: int = 200, /, **values: Any) -> HTMLResponse:
        html = self.pages.get_template(template).render(
            newsletter=self.newsletter, language=self.config.newsletter.language, **values
        )
        return HTMLResponse(html, status_code=code, headers=_PRIVATE)

    def message(
        self, heading: str, *lines: str, status: int = 200, link: tuple[str, str] | None = None
    ) -> HTMLResponse:
        shown = {"href": link[0], "text": link[1]} if link else None
        return self.page("message.html", status, heading=heading, lines=lines, link=shown)

    def member(self, token: str) -> roster.Member | None:
        """The subscriber a genuine token names (opaque, or the first v1 form), or None."""
        subscriber_id = token_subscriber(token)
        if subscriber_id is not None:
            found = roster.by_id(self.engine, subscriber_id)
            if found is None or found.list_id != self.list_ref:
                return None
            return found if check_token(token, self.secret, self.list_ref) else None
        email = verify_token(token, self.secret, self.newsletter)
        return None if email is None else roster.by_email(self.engine, self.list_ref, email)

    # --- CSRF: a random cookie, and a signed copy of it in each form -----------------------

    def _csrf_signer(self) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self.secret, salt="newsletter-csrf")

    def csrf(self, request: Request) -> tuple[str, str | None]:
        """The form's token, and a new cookie value when the browser has none yet."""
        cookie = request.cookies.get(CSRF_COOKIE)
        fresh = None
        if not cookie or len(cookie) > 100:
            cookie = fresh = secrets.token_urlsafe(18)
        return str(self._csrf_signer().dumps(cookie)), fresh

    def csrf_ok(self, request: Request, form: FormData) -> bool:
        cookie = request.cookies.get(CSRF_COOKIE)
        field = form.get("csrf")
        if not cookie or not isinstance(field, str):
            return False
        try:
            signed = self._csrf_signer().loads(field, max_age=CSRF_MAX_AGE)
        except BadData:
            return False
        return isinstance(signed, str) and secrets.compare_digest(signed, cookie)

    def with_cookie(self, response: Response, fresh: str | None) -> Response:
        if fresh:
            secure = (self.config.web.base_url or "").startswith("https://")
            response.set_cookie(
                CSRF_COOKIE, fresh, httponly=True, samesite="lax", secure=secure, path="/"
            )
        return response

    def client(self, request: Request) -> str:
        """The client's address; behind a trusted proxy, the nearest untrusted hop of
        X-Forwarded-For."""
        host = request.client.host if request.client else "unknown"
        trusted = set(self.config.web.trusted_proxies)
        if host in trusted:
            hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",")]
            for hop in reversed([h for h in hops if h]):
                if hop not in trusted:
                    return hop
        return host


# The service's own pages: not cached (they carry tokens), no Referer leaking a token to a
# linked site, no framing (clickjacking an unsubscribe button), forms post only to us.
_PRIVATE = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' https: data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
}


def _sections(config: Config, chosen: list[str]) -> frozenset[str] | None:
    """The chosen known sections; all of them (or none ticked, on sign-up) is "every
    section", which includes sections added later."""
    known = [s.id for s in config.sections]
    picked = frozenset(c for c in chosen if c in known)
    return None if not picked or picked == frozenset(known) else picked


def _section_boxes(config: Config, wanted: frozenset[str] | None) -> list[dict[str, Any]]:
    return [
        {"id": s.id, "title": s.title, "checked": wanted is None or s.id in wanted}
        for s in config.sections
    ]


def _text(form: FormData, name: str, limit: int = 320) -> str:
    value = form.get(name)
    return " ".join(value.split())[:limit] if isinstance(value, str) else ""


# --- Sign-up ---------------------------------------------------------------------------


def signup_form(
    svc: Service, request: Request, *, problem: str = "", email: str = "", name: str = ""
) -> Response:
    token, fresh = svc.csrf(request)
    status = 200 if not problem else 400
    response = svc.page(
        "subscribe.html",
        status,
        action=f"{svc.base(request)}/subscribe",
        csrf=token,
        email=email,
        name=name,
        sections=_section_boxes(svc.config, None),
        problem=problem,
    )
    return svc.with_cookie(response, fresh)


def signup_done(svc: Service) -> Response:
    """The one answer to every accepted sign-up, whoever the address belongs to."""
    return svc.message(
        "Check your inbox",
        "If the address can receive it, an email with a confirmation link is on its way.",
        f"Nothing else is sent to it until the link is opened; the link works for "
        f"{svc.config.web.confirm_hours} hours.",
    )


def too_many(svc: Service) -> Response:
    response = svc.message(
        "Too many attempts",
        "Too many sign-ups came from here or for this address in the last hour; please try "
        "again later.",
        status=429,
    )
    response.headers["Retry-After"] = "3600"
    return response


def signup(
    svc: Service,
    request: Request,
    client: str,
    email: str,
    name: str,
    chosen: list[str],
    honeypot: bool,
) -> Response:
    web, now = svc.config.web, svc.clock()
    if roster.over_limit(svc.engine, f"client:{client}", web.signups_per_client, now):
        return too_many(svc)
    address = parse_address(email)
    if not isinstance(address, Address):
        return signup_form(svc, request, problem=f"{address}.", email=email, name=name)
    key = f"address:{svc.list_ref}:{address.key}"
    if roster.over_limit(svc.engine, key, web.signups_per_address, now):
        return too_many(svc)
    if honeypot:
        log.info("sign-up from %s dropped: the hidden field was filled", client)
        return signup_done(svc)
    sections = _sections(svc.config, chosen)
    started = roster.start_signup(
        svc.engine, svc.list_ref, address, name, sections, now=now, detail=f"from {client}"
    )
    member = started.member
    if started.kind == "silent" or member is None:
        return signup_done(svc)
    base = svc.base(request)
    if started.kind == "confirm" and started.nonce:
        link = f"{base}/confirm/{confirm_token(svc.secret, svc.list_ref, member.id, started.nonce)}"
    else:
        link = f"{base}/p/{subscriber_token(svc.secret, svc.list_ref, member.id)}"
    kind: NoticeKind = "confirm" if started.kind == "confirm" else "already"
    data = notice(svc.config, kind, address.email, name, link, now, web.confirm_hours)
    try:
        send_notice(svc.config, svc.transport(), address.email, data)
    except NewsletterError as e:
        log.warning("sign-up of %s: the %s email was not sent: %s", address.email, kind, e)
    return signup_done(svc)


# --- Handlers ----------------------------------------------------------------------------


def _svc(request: Request) -> Service:
    svc: Service = request.app.state.service
    return svc


async def subscribe(request: Request) -> Response:
    svc = _svc(request)
    if request.method == "GET":
        return signup_form(svc, request)
    form = await request.form()
    email, name = _text(form, "email"), _text(form, "name", 200)
    if not svc.csrf_ok(request, form):
        # A form from another page (an embedded <form>) or an expired one: nothing happens;
        # the same details come back in a form of ours, to send with one more press.
        response = signup_form(
            svc,
            request,
            problem="Please press Subscribe once more to confirm this sign-up.",
            email=email,
            name=name,
        )
        response.status_code = 403
        return response
    chosen = [c for c in form.getlist("sections") if isinstance(c, str)]
    honeypot = bool(_text(form, "website"))
    client = svc.client(request)
    return await run_in_threadpool(signup, svc, request, client, email, name, chosen, honeypot)


async def confirm(request: Request) -> Response:
    svc = _svc(request)
    token = request.path_params["token"]
    max_age = svc.config.web.confirm_hours * 3600
    checked = check_confirm_token(token, svc.secret, svc.list_ref, max_age)
    subscribe_link = (f"{svc.base(request)}/subscribe", "Sign up again")
    if checked == "expired":
        return svc.message(
            "This link has expired",
            "Confirmation links work for a limited time; nothing was changed.",
            status=400,
            link=subscribe_link,
        )
    if checked == "invalid":
        return svc.message(
            "This link is not valid",
            "It may be truncated: open the whole link from the email. Nothing was changed.",
            status=400,
            link=subscribe_link,
        )
    subscriber_id, nonce = checked
    if request.method == "GET":
        csrf, fresh = svc.csrf(request)
        response = svc.page(
            "confirm.html",
            heading=f"Confirm your subscription to {svc.newsletter}",
            text="One more step: press the button to start receiving it.",
            action=f"{svc.base(request)}/confirm/{token}",
            fields=[("csrf", csrf)],
            button="Confirm my subscription",
        )
        return svc.with_cookie(response, fresh)
    form = await request.form()
    if not svc.csrf_ok(request, form):
        return svc.message(
            "Please confirm from the page",
            "Open the link from the email again and press the button; nothing was changed.",
            status=403,
        )
    result = await run_in_threadpool(
        roster.confirm,
        svc.engine,
        subscriber_id,
        nonce,
        now=svc.clock(),
        detail=f"from {svc.client(request)}",
    )
    preferences = (
        f"{svc.base(request)}/p/{subscriber_token(svc.secret, svc.list_ref, subscriber_id)}"
    )
    if result == "confirmed":
        return svc.message(
            "You are subscribed",
            f"The next issue of {svc.newsletter} will be in your inbox.",
            link=(preferences, "Choose your sections"),
        )
    if result == "already":
        return svc.message(
            "Already confirmed",
            "This subscription was confirmed before; nothing was changed.",
            link=(preferences, "Your preferences"),
        )
    return svc.message(
        "This link is no longer valid",
        "It was used already or replaced by a newer sign-up; nothing was changed.",
        status=400,
        link=subscribe_link,
    )


def _invalid_link(svc: Service) -> Response:
    return svc.message(
        "This link is not valid",
        "It may be truncated: open the whole link from the email. Nothing was changed.",
        status=400,
    )


def _token(request: Request) -> str:
    token = request.path_params.get("token") or request.query_params.get("token") or ""
    return str(token)[:300]


async def unsubscribe(request: Request) -> Response:
    svc = _svc(request)
    token = _token(request)
    member = await run_in_threadpool(svc.member, token)
    if member is None:
        return _invalid_link(svc)
    action = f"{svc.base(request)}{request.url.path}"
    if request.url.query:
        action += f"?{request.url.query}"
    if request.method == "GET":  # never unsubscribes: mail scanners fetch every link
        if member.status != "active":
            return svc.message("You are not subscribed", f"{member.email} gets no more issues.")
        return svc.page(
            "confirm.html",
            heading=f"Unsubscribe from {svc.newsletter}?",
            text=f"{member.email} will get no more issues.",
            action=action,
            fields=[("List-Unsubscribe", "One-Click")],
            button="Unsubscribe",
        )
    form = await request.form()
    if form.get("List-Unsubscribe") != "One-Click":
        return svc.message(
            "Nothing was changed",
            "An unsubscribe request carries List-Unsubscribe=One-Click (RFC 8058).",
            status=400,
        )
    await run_in_threadpool(
        roster.set_status,
        svc.engine,
        member.id,
        "unsubscribed",
        how="one-click",
        now=svc.clock(),
        detail=f"from {svc.client(request)}",
        unless=("bounced", "complained", "removed"),
    )
    return svc.message(
        "You are unsubscribed",
        f"{member.email} will get no more issues of {svc.newsletter}.",
        link=(f"{svc.base(request)}/subscribe", "Changed your mind? Subscribe again"),
    )


async def preferences(request: Request) -> Response:
    svc = _svc(request)
    token = _token(request)
    member = await run_in_threadpool(svc.member, token)
    if member is None:
        return _invalid_link(svc)
    problem, saved, status = "", False, 200
    if request.method == "POST":
        form = await request.form()
        if not svc.csrf_ok(request, form):
            problem, status = "The form had expired; nothing was changed. Please save again.", 403
        elif member.status != "active":
            problem, status = "This address is not subscribed; nothing was changed.", 400
        else:
            chosen = [c for c in form.getlist("sections") if isinstance(c, str)]
            if not [c for c in chosen if c in {s.id for s in svc.config.sections}]:
                problem, status = "Choose at least one section, or unsubscribe below.", 400
            else:
                name = _text(form, "name", 200)
                sections = _sections(svc.config, chosen)
                await run_in_threadpool(
                    roster.set_preferences, svc.engine, member.id, name, sections, svc.clock()
                )
                member = roster.by_id(svc.engine, member.id) or member
                saved = True
    csrf, fresh = svc.csrf(request)
    base = svc.base(request)
    response = svc.page(
        "preferences.html",
        status,
        email=member.email,
        name=member.name,
        active=member.status == "active",
        status=member.status,
        sections=_section_boxes(svc.config, member.sections),
        csrf=csrf,
        action=f"{base}/p/{token}",
        unsubscribe_action=f"{base}/u/{token}",
        subscribe_url=f"{base}/subscribe",
        saved=saved,
        problem=problem,
    )
    return svc.with_cookie(response, fresh)


async def archive_index(request: Request) -> Response:
    svc = _svc(request)
    found = await run_in_threadpool(entries, svc.config)
    html = index_html(svc.config, svc.pages, found, "subscribe")
    return HTMLResponse(html)


async def archive_issue(request: Request) -> Response:
    svc = _svc(request)
    number = request.path_params["number"]
    found = [e for e in await run_in_threadpool(entries, svc.config) if e.number == number]
    if not found:
        return svc.message("No such issue", f"Issue #{number} is not in the archive.", status=404)
    subscribe_url = f"{svc.base(request)}/subscribe"
    html = await run_in_threadpool(web_version, svc.config, found[0], subscribe_url)
    return HTMLResponse(html)


async def feed(request: Request) -> Response:
    svc = _svc(request)
    found = await run_in_threadpool(entries, svc.config)
    data = atom_feed(svc.config, found, svc.base(request) + "/")
    return Response(data, media_type="application/atom+xml")


async def health(request: Request) -> Response:
    svc = _svc(request)

    def probe() -> None:
        with svc.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    try:
        await run_in_threadpool(probe)
    except sa.exc.SQLAlchemyError as e:
        log.warning("health: the state database does not answer: %s", e)
        return JSONResponse({"status": "unavailable", "database": "down"}, status_code=503)
    return JSONResponse({"status": "ok"})


async def metrics(request: Request) -> Response:
    """The same figures as ``newsletter metrics``, for a Prometheus scrape."""
    from newsletter.metrics import CONTENT_TYPE, exposition

    svc = _svc(request)
    try:
        body = await run_in_threadpool(exposition, svc.config, svc.engine)
    except sa.exc.SQLAlchemyError as e:
        log.warning("metrics: the state database does not answer: %s", e)
        return Response("the state database does not answer\n", status_code=503)
    return Response(body, media_type=CONTENT_TYPE)


def create_app(
    config: Config,
    *,
    environ: Mapping[str, str] | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Starlette:
    """The service for ``config``'s newsletter. Raises NewsletterError (one line) when it
    cannot start: no secret, no state database, an SMTP login without its password."""
    import os

    env = os.environ if environ is None else environ
    secret = secret_from_env(config, env)
    password = smtp_password(config, env, lambda line: log.warning(line))
    engine = state.open_engine(config.state_dir, config.state.url)
    try:
        list_ref = roster.list_id(engine, config.newsletter.name, clock(), log.warning)
    except BaseException:
        engine.dispose()
        raise
    service = Service(
        config=config,
        engine=engine,
        secret=secret,
        list_ref=list_ref,
        pages=pages_environment(),
        transport=lambda: smtp_transport(config, password),
        clock=clock,
    )

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        engine.dispose()

    methods = ["GET", "POST"]
    app = Starlette(
        routes=[
            Route("/", archive_index),
            Route("/issues/{number:int}/", archive_issue),
            Route(f"/{FEED_NAME}", feed),
            Route("/health", health),
            Route("/metrics", metrics),
            Route("/subscribe", subscribe, methods=methods),
            Route("/confirm/{token}", confirm, methods=methods),
            Route("/u/{token}", unsubscribe, methods=methods),
            Route("/unsubscribe", unsubscribe, methods=methods),
            Route("/p/{token}", preferences, methods=methods),
        ],
        lifespan=lifespan,
    )
    app.state.service = service
    return app
