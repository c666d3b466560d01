"""Unsubscribe tokens: an HMAC-SHA256 signature that a subscriber's link is genuine.

A token is ``v1.<address>.<signature>``, both parts unpadded base64url, so the page behind
``[brand] unsubscribe_url`` can tell who asked to leave without a database lookup, and nobody
can forge a link for someone else's address without the secret. The secret comes only from the
environment (``[delivery] secret_env``), never from newsletter.toml.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Mapping
from urllib.parse import quote, urlsplit

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


def verify_token(token: str, secret: bytes, newsletter: str) -> str | None:
    """The address a genuine token was made for, or None; the signature compare is constant-time."""
    version, _, rest = token.partition(".")
    address_part, _, signature_part = rest.partition(".")
    if version != _VERSION or not address_part or not signature_part:
        return None
    try:
        email = _unb64(address_part).decode("utf-8")
        signature = _unb64(signature_part)
    except (binascii.Error, ValueError):
        return None
    expected = _signature(secret, newsletter, email)
    return email if hmac.compare_digest(expected, signature) else None


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
