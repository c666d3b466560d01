"""Subscriber tokens: an HMAC-SHA256 signature that a subscriber's link is genuine.

Two forms, both accepted for good:

- ``s2.<subscriber id>.<signature>`` (with ``[web] base_url``): the opaque id of the
  subscriber's row and an HMAC over it and the list's stable id. It reveals no address, and
  renaming the newsletter breaks no link. Checking it needs the database (``check_token``).
- ``v1.<address>.<signature>`` (the first form, still made for a ``[brand] unsubscribe_url``
  page of the operator's own): the address in base64url and an HMAC over it and the
  newsletter's name; ``verify_token`` checks it without a database.

Confirmation links for sign-ups are itsdangerous timed signatures (``confirm_token``): they
expire. The secret comes only from the environment (``[delivery] secret_env``), never from
newsletter.toml.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Mapping
from typing import Literal
from urllib.parse import quote, urlsplit

from itsdangerous import BadData, SignatureExpired, URLSafeTimedSerializer

from newsletter.config import Config
from newsletter.errors import DeliveryError

_VERSION = "v1"
MIN_SECRET_LENGTH = 16


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret: bytes, newsletter: str, email: str) -> bytes:
    message = f"{_VERSION}\0{newsletter}\0{email.lower()}".encode()
    return hmac.new(secret, message, hashlib.sha256).digest()


def make_token(secret: bytes, newsletter: str, email: str) -> str:
    """The token for ``email``'s subscription to ``newsletter`` (addresses compare lowercased)."""
    signature = _signature(secret, newsletter, email)
    return f"{_VERSION}.{_b64(email.lower().encode())}.{_b64(signature)}"


def verify_token(token: str, secret: bytes | str, newsletter: str) -> str | None:
    """The address a genuine v1 token was made for, or None (constant-time compare).

    ``secret`` may be given as the environment holds it (``str``) or as bytes."""
    if isinstance(secret, str):
        secret = secret.encode("utf-8")
    version, _, rest = token.partition(".")
    address_part, _, signature_part = rest.partition(".")
    if version != _VERSION or not address_part or not signature_part:
        return None
    try:
        email = _unb64(address_part).decode("utf-8")
        signature = _unb64(signature_part)
    except (binascii.Error, ValueError):
        return None
    if "\0" in email:
        return None
    expected = _signature(secret, newsletter, email)
    return email if hmac.compare_digest(expected, signature) else None


_OPAQUE = "s2"


def _opaque_signature(secret: bytes, list_id: str, subscriber_id: str) -> bytes:
    message = f"{_OPAQUE}\0{list_id}\0{subscriber_id}".encode()
    return hmac.new(secret, message, hashlib.sha256).digest()[:16]


def subscriber_token(secret: bytes, list_id: str, subscriber_id: str) -> str:
    """The opaque token of a subscriber of the list ``list_id``."""
    return f"{_OPAQUE}.{subscriber_id}.{_b64(_opaque_signature(secret, list_id, subscriber_id))}"


def token_subscriber(token: str) -> str | None:
    """The subscriber id an opaque token names (not yet checked: see ``check_token``)."""
    version, _, rest = token.partition(".")
    subscriber_id, _, signature = rest.partition(".")
    if version != _OPAQUE or not subscriber_id or not signature or len(token) > 200:
        return None
    return subscriber_id


def check_token(token: str, secret: bytes | str, list_id: str) -> str | None:
    """The subscriber id of a genuine opaque token of the list ``list_id``, or None."""
    if isinstance(secret, str):
        secret = secret.encode("utf-8")
    subscriber_id = token_subscriber(token)
    if subscriber_id is None:
        return None
    try:
        signature = _unb64(token.rsplit(".", 1)[1])
    except (binascii.Error, ValueError):
        return None
    expected = _opaque_signature(secret, list_id, subscriber_id)
    return subscriber_id if hmac.compare_digest(expected, signature) else None


def _confirm_serializer(secret: bytes, list_id: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=f"newsletter-confirm:{list_id}")


def confirm_token(secret: bytes, list_id: str, subscriber_id: str, nonce: str) -> str:
    """A sign-up's confirmation token: signed, timestamped, good for one nonce."""
    return str(_confirm_serializer(secret, list_id).dumps([subscriber_id, nonce]))


def check_confirm_token(
    token: str, secret: bytes, list_id: str, max_age: int
) -> tuple[str, str] | Literal["expired", "invalid"]:
    """(subscriber id, nonce) of a genuine confirmation token younger than ``max_age`` s."""
    try:
        data = _confirm_serializer(secret, list_id).loads(token, max_age=max_age)
    except SignatureExpired:
        return "expired"
    except BadData:
        return "invalid"
    if (
        not isinstance(data, list)
        or len(data) != 2
        or not all(isinstance(part, str) for part in data)
    ):
        return "invalid"
    return data[0], data[1]


def unsubscribe_link(base: str, token: str) -> str:
    """``base`` with the token: in place of ``{token}``, else as a ``token`` query parameter
    (for a ``mailto:`` link, as the message body)."""
    if "{token}" in base:
        return base.replace("{token}", quote(token, safe=""))
    name = "body" if base.startswith("mailto:") else "token"
    fragment = ""
    if "#" in base:
        base, _, fragment = base.partition("#")
        fragment = "#" + fragment
    joiner = "&" if urlsplit(base).query else "?"
    if base.endswith(("?", "&")):
        joiner = ""
    return f"{base}{joiner}{name}={quote(token, safe='')}{fragment}"


def secret_from_env(config: Config, environ: Mapping[str, str] | None = None) -> bytes:
    """The signing secret, or a DeliveryError saying which variable to set."""
    name = config.delivery.secret_env
    value = (os.environ if environ is None else environ).get(name, "")
    if not value:
        raise DeliveryError(
            f"the environment variable {name} is not set: it holds the secret that signs each "
            f"subscriber's unsubscribe link; set it (e.g. {name}=$(openssl rand -hex 32)) and "
            "keep it stable, or links already sent stop working"
        )
    if len(value) < MIN_SECRET_LENGTH:
        raise DeliveryError(
            f"the environment variable {name} is too short ({len(value)} characters): use at "
            f"least {MIN_SECRET_LENGTH}, e.g. $(openssl rand -hex 32)"
        )
    return value.encode("utf-8")


def base_url(config: Config) -> str:
    """The configured unsubscribe page; sending personalized links needs one."""
    url = config.brand.unsubscribe_url
    if not url:
        raise DeliveryError(
            "[brand] unsubscribe_url is not set in newsletter.toml: each subscriber's link is "
            "that URL with a signed ?token=...; set it to the page (or mailto:) that handles "
            "unsubscribes"
        )
    return url
