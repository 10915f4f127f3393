"""Typed records of the store: keys, key specs and updates, usage rows.

:class:`KeySpec` and :class:`KeyUpdate` validate input from every door (the
admin API, the CLI, Python callers) the same way, so a name or a tag is
checked once, here. Strings are stored verbatim through bound parameters;
validation only bounds their size and refuses control characters.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tandem.call import KeyInfo

__all__ = [
    "SECRET_PREFIX",
    "KeyRecord",
    "KeySpec",
    "KeyUpdate",
    "PrivacyPolicy",
    "UsageRow",
    "hash_secret",
    "new_key_id",
    "new_secret",
]

SECRET_PREFIX = "tk-"
#: Characters of the secret kept (and shown) as its prefix: "tk-" + 8.
PREFIX_LEN = 11
PrivacyPolicy = Literal["allow", "redact", "local-only", "block"]

Name = Annotated[str, Field(min_length=1, max_length=200)]
Money = Annotated[float, Field(ge=0, le=1e9)]
PerMinute = Annotated[int, Field(ge=1, le=10**9)]


def new_secret() -> str:
    """A fresh key secret: ``tk-`` and 43 URL-safe characters (256 random bits)."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def new_key_id() -> str:
    """A public, non-secret key id (``key_`` and 16 hex digits)."""
    return "key_" + secrets.token_hex(8)


def hash_secret(secret: str) -> str:
    """SHA-256 of the secret, hex. Enough for 256-bit random secrets: no
    dictionary to attack, so a slow password hash would only cost latency."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def _clean(value: str) -> str:
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("must not contain control characters")
    return value


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("name", "owner", "team", check_fields=False)
    @classmethod
    def _text(cls, v: str | None) -> str | None:
        return None if v is None else _clean(v)

    @field_validator("tags", "allowed_models", "allowed_routes", check_fields=False)
    @classmethod
    def _names(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return None
        for item in v:
            if not item or len(item) > 200:
                raise ValueError("each entry must be 1 to 200 characters")
            _clean(item)
        return sorted(set(v))


class KeySpec(_Input):
    """What a new key is allowed to do. Limits left None are unlimited."""

    name: Name
    owner: Annotated[str, Field(max_length=200)] | None = None
    team: Annotated[str, Field(max_length=200)] | None = None
    tags: Annotated[list[str], Field(max_length=50)] | None = None
    #: Models (or routes) the key may request; None = any.
    allowed_models: Annotated[list[str], Field(max_length=500)] | None = None
    allowed_routes: Annotated[list[str], Field(max_length=500)] | None = None
    budget_day_usd: Money | None = None
    budget_month_usd: Money | None = None
    budget_total_usd: Money | None = None
    rpm_limit: PerMinute | None = None
    tpm_limit: PerMinute | None = None
    #: None inherits the route's or the global policy.
    privacy_policy: PrivacyPolicy | None = None
    #: UTC epoch seconds; None = never.
    expires_at: Annotated[float, Field(ge=0)] | None = None


class KeyUpdate(KeySpec):
    """A partial change: only the fields that were set are written
    (``model_fields_set``), so an explicit None clears a limit."""

    name: Name | None = None  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A key as stored (never with its secret)."""

    id: str
    prefix: str
    secret_hash: str
    name: str
    owner: str | None
    team: str | None
    tags: tuple[str, ...]
    allowed_models: frozenset[str] | None
    allowed_routes: frozenset[str] | None
    budget_day_usd: float | None
    budget_month_usd: float | None
    budget_total_usd: float | None
    rpm_limit: int | None
    tpm_limit: int | None
    privacy_policy: str | None
    expires_at: float | None
    revoked_at: float | None
    created_at: float
    updated_at: float

    @property
    def has_budget(self) -> bool:
        """Whether any budget applies."""
        return self.budget_day_usd is not None or self.budget_month_usd is not None or self.budget_total_usd is not None

    def is_active(self, now: float) -> bool:
        """Not revoked and not expired at ``now``."""
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)

    def key_info(self) -> KeyInfo:
        """The gateway's view. ``allowed_models`` holds every name the key may
        request: its allowed models and routes together."""
        allowed: frozenset[str] | None = None
        if self.allowed_models is not None or self.allowed_routes is not None:
            allowed = (self.allowed_models or frozenset()) | (self.allowed_routes or frozenset())
        return KeyInfo(
            id=self.id,
            name=self.name,
            allowed_models=allowed,
            privacy_policy=self.privacy_policy,
            rpm_limit=self.rpm_limit,
            tpm_limit=self.tpm_limit,
        )

    def public(self) -> dict[str, Any]:
        """JSON-ready fields for listings: no secret, no hash."""
        return {
            "id": self.id,
            "prefix": self.prefix,
            "name": self.name,
            "owner": self.owner,
            "team": self.team,
            "tags": list(self.tags),
            "allowed_models": None if self.allowed_models is None else sorted(self.allowed_models),
            "allowed_routes": None if self.allowed_routes is None else sorted(self.allowed_routes),
            "budget_day_usd": self.budget_day_usd,
            "budget_month_usd": self.budget_month_usd,
            "budget_total_usd": self.budget_total_usd,
            "rpm_limit": self.rpm_limit,
            "tpm_limit": self.tpm_limit,
            "privacy_policy": self.privacy_policy,
            "expires_at": self.expires_at,
            "revoked_at": self.revoked_at,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


@dataclass(frozen=True, slots=True)
class UsageRow:
    """One group of a usage summary (a key, model, route or UTC day)."""

    group: str
    requests: int
    errors: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    avg_latency_s: float | None
    cache_hits: int
    #: The key's name, when grouping by key.
    name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "group": self.group,
            "name": self.name,
            "requests": self.requests,
            "errors": self.errors,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "cost_usd": round(self.cost_usd, 8),
            "avg_latency_s": self.avg_latency_s,
            "cache_hits": self.cache_hits,
        }
