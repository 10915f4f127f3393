"""Who is calling the console API, and what they may see.

Every ``/console/api`` request resolves to a :class:`Viewer`:

* a valid ``Authorization: Bearer`` token is checked by the store whatever
  ``auth.mode`` says (as the admin API does): the admin key gives the
  ``admin`` role (every key's usage, key management), any other active key
  the ``key`` role (only that key's own usage);
* no token: with ``auth.mode: keys`` the request is refused (401); with
  ``auth.mode: off`` (loopback only, the local default) it is the ``local``
  user, who sees the unauthenticated ("anonymous") traffic, which is what
  the gateway records for every request while auth is off;
* a wrong, revoked or expired token is always refused (401), never demoted
  to the local user, so a typo does not silently show other data.

Bench reports open in an iframe, which cannot send an Authorization header:
the page asks for a short-lived *ticket* (``POST .../ticket``) bound to one
run and to the caller's key, and the report URL carries it. A ticket is an
HMAC keyed by the key's stored secret hash, so it is checked the same way on
every worker and dies with the key (revocation, expiry).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from dataclasses import dataclass
from typing import Any, Literal

from starlette.requests import Request

from tandem.errors import AuthenticationError, PermissionDenied

__all__ = ["ANONYMOUS", "TICKET_SECONDS", "Viewer", "check_ticket", "make_ticket", "resolve", "store_of"]

Role = Literal["admin", "key", "local"]
#: The ledger's key id for requests served while auth is off.
ANONYMOUS = "anonymous"
#: How long a report ticket stays valid.
TICKET_SECONDS = 300
_MAX_TOKEN = 512


@dataclass(frozen=True, slots=True)
class Viewer:
    """The caller of a console endpoint."""

    role: Role
    #: The key's id ("admin" for the admin key, None for the local user).
    key_id: str | None
    name: str
    prefix: str | None = None

    @property
    def is_admin(self) -> bool:
        """Whether this is the admin key."""
        return self.role == "admin"

    @property
    def scope(self) -> str | None:
        """The ledger ``key_id`` this viewer is limited to; None: every key."""
        if self.role == "admin":
            return None
        if self.role == "local":
            return ANONYMOUS
        return self.key_id

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready identity (no secrets)."""
        return {"role": self.role, "key_id": self.key_id, "name": self.name, "prefix": self.prefix}


def store_of(request: Request) -> Any:
    """The app's store, or None when no keys/ledger store is configured."""
    store = getattr(request.app.state, "store", None)
    return store if store is not None and hasattr(store, "verify") else None


def auth_mode(request: Request) -> str:
    """``off`` or ``keys``, from the app's config."""
    mode: str = request.app.state.config.auth.mode
    return mode


def bearer(request: Request) -> str | None:
    """The bearer token of the request, if any."""
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthenticationError("use 'Authorization: Bearer <key>'")
    return token


async def resolve(request: Request) -> Viewer:
    """The :class:`Viewer` for this request; raises 401 for a missing or bad key."""
    token = bearer(request)
    store = store_of(request)
    if token is None:
        if auth_mode(request) == "off":
            return Viewer("local", None, "local user")
        raise AuthenticationError("sign in with an API key: send 'Authorization: Bearer <key>'")
    if store is None:
        raise AuthenticationError("this server keeps no keys, so it cannot check one")
    info = await store.verify(token)
    if info.is_admin:
        return Viewer("admin", info.id, "admin")
    rec = store.keys.by_id.get(info.id)
    return Viewer("key", info.id, info.name, rec.prefix if rec is not None else None)


def require_admin(viewer: Viewer) -> None:
    """Raise 403 unless the viewer holds the admin key."""
    if not viewer.is_admin:
        raise PermissionDenied("this needs the admin key")


# --- report tickets ----------------------------------------------------------


def _ticket_secret(request: Request, holder: str) -> bytes | None:
    """The HMAC key for tickets of ``holder``: derived from the key's stored
    hash (or the admin key's), so every worker can check it and a revoked or
    expired key's tickets stop working."""
    store = store_of(request)
    if store is None:
        return None
    if holder == "admin":
        secret = os.environ.get(request.app.state.config.auth.admin_key_env)
        if not secret:
            return None
        digest = hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()
    else:
        rec = store.keys.by_id.get(holder)
        if rec is None or not rec.is_active(time.time()):
            return None
        digest = rec.secret_hash
    return hashlib.sha256(b"tandem-console-ticket|" + digest.encode()).digest()


def _mac(secret: bytes, holder: str, run_id: str, expires: int) -> str:
    msg = f"{holder}|{run_id}|{expires}".encode()
    return hmac.new(secret, msg, hashlib.sha256).hexdigest()[:40]


def make_ticket(request: Request, viewer: Viewer, run_id: str, now: float | None = None) -> str | None:
    """A ticket letting the holder open ``run_id``'s report for a few minutes
    (None for the local user, who needs none)."""
    if viewer.key_id is None:
        return None
    secret = _ticket_secret(request, viewer.key_id)
    if secret is None:
        raise AuthenticationError("this key cannot be used any more")
    expires = int(now if now is not None else time.time()) + TICKET_SECONDS
    return f"{viewer.key_id}.{expires}.{_mac(secret, viewer.key_id, run_id, expires)}"


def check_ticket(request: Request, ticket: str, run_id: str) -> None:
    """Raise 401 unless ``ticket`` is a valid, unexpired ticket for ``run_id``."""
    parts = ticket.split(".")
    if len(ticket) > _MAX_TOKEN or len(parts) != 3 or not parts[1].isdigit():
        raise AuthenticationError("invalid or expired report link")
    holder, expires_text, mac = parts
    expires = int(expires_text)
    secret = _ticket_secret(request, holder)
    good = _mac(secret, holder, run_id, expires) if secret is not None else "0" * 40
    if not hmac.compare_digest(good, mac) or secret is None or time.time() > expires:
        raise AuthenticationError("invalid or expired report link")
