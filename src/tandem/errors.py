"""The error tree of tandem.

Every failure that can reach a client is one of these classes. Upstream
errors (HTTP statuses, SDK exceptions, timeouts) are mapped once, at the
provider boundary, with ``raise ... from exc``; the HTTP layer has a single
handler that turns any :class:`TandemError` into OpenAI's error JSON::

    TandemError                      500 server_error
    ├── InvalidRequest               400 invalid_request_error
    │   ├── ContextLengthExceeded    400 (code context_length_exceeded)
    │   └── UnsupportedParameter     400 (code unsupported_parameter)
    ├── AuthenticationError          401 authentication_error
    ├── PermissionDenied             403 permission_error
    ├── NotFound                     404 not_found_error
    │   └── ModelNotFound            404 (code model_not_found)
    ├── RequestTooLarge              413 invalid_request_error
    ├── RateLimited                  429 rate_limit_error (our own limits)
    ├── BudgetExceeded               402 insufficient_quota
    ├── PolicyViolation              400/403 privacy policy refusal
    ├── NoCandidate                  503 no model can serve the request
    └── UpstreamError                502 upstream_error (provider failed)
        ├── UpstreamRateLimited      429 (Retry-After passed on)
        ├── UpstreamUnavailable      503
        ├── UpstreamTimeout          504
        ├── UpstreamConnectError     502 (nothing was sent: safe to retry)
        └── UpstreamBadRequest       400 (the upstream rejected the input)

Messages never contain secrets, upstream headers or stack traces: the
provider layer builds them from the upstream status and the upstream's own
error message only.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "AuthenticationError",
    "BudgetExceeded",
    "ContextLengthExceeded",
    "InvalidRequest",
    "ModelNotFound",
    "NoCandidate",
    "NotFound",
    "PermissionDenied",
    "PolicyViolation",
    "RateLimited",
    "RequestTooLarge",
    "TandemError",
    "UnsupportedParameter",
    "UpstreamBadRequest",
    "UpstreamConnectError",
    "UpstreamError",
    "UpstreamRateLimited",
    "UpstreamTimeout",
    "UpstreamUnavailable",
]


class TandemError(Exception):
    """Base of every error tandem reports to a client.

    Attributes:
        message: human-readable text, safe to show to the client.
        status_code: the HTTP status the API layer answers with.
        type: OpenAI's error ``type`` field.
        code: OpenAI's error ``code`` field (machine-readable), or None.
        param: the request parameter at fault, or None.
        provider: the provider kind involved, for upstream errors.
        retry_after: seconds the client should wait, when known.
    """

    status_code: ClassVar[int] = 500
    type: ClassVar[str] = "server_error"
    default_code: ClassVar[str | None] = None
    #: Whether trying the same call again may succeed without double billing.
    retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        provider: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code if code is not None else self.default_code
        self.provider = provider
        self.retry_after = retry_after

    def to_dict(self) -> dict[str, Any]:
        """The OpenAI error body: ``{"error": {message, type, param, code}}``."""
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }

    def headers(self) -> dict[str, str]:
        """Extra HTTP headers for this error (``Retry-After`` when known)."""
        if self.retry_after is None:
            return {}
        return {"retry-after": str(max(0, round(self.retry_after)))}


class InvalidRequest(TandemError):
    """The request is malformed or violates the API's rules."""

    status_code = 400
    type = "invalid_request_error"


class ContextLengthExceeded(InvalidRequest):
    """The prompt does not fit the model's context window."""

    default_code = "context_length_exceeded"


class UnsupportedParameter(InvalidRequest):
    """The chosen model cannot honour a parameter (e.g. ``n`` > 1, tools)."""

    default_code = "unsupported_parameter"


class AuthenticationError(TandemError):
    """Missing, unknown, revoked or expired API key."""

    status_code = 401
    type = "authentication_error"
    default_code = "invalid_api_key"


class PermissionDenied(TandemError):
    """The key is valid but may not use this model, route or endpoint."""

    status_code = 403
    type = "permission_error"
    default_code = "permission_denied"


class NotFound(TandemError):
    """The path or object does not exist."""

    status_code = 404
    type = "not_found_error"
    default_code = "not_found"


class ModelNotFound(NotFound):
    """No model or route has the requested name."""

    type = "invalid_request_error"
    default_code = "model_not_found"


class RequestTooLarge(TandemError):
    """The request body is over the configured limit."""

    status_code = 413
    type = "invalid_request_error"
    default_code = "request_too_large"


class RateLimited(TandemError):
    """The caller's own request or token rate limit was hit."""

    status_code = 429
    type = "rate_limit_error"
    default_code = "rate_limit_exceeded"


class BudgetExceeded(TandemError):
    """The key's budget cannot cover this request."""

    status_code = 429
    type = "insufficient_quota"
    default_code = "insufficient_quota"


class PolicyViolation(TandemError):
    """The privacy policy refuses the request (names entity types only)."""

    status_code = 400
    type = "invalid_request_error"
    default_code = "privacy_policy_violation"


class NoCandidate(TandemError):
    """No candidate model satisfies the request's constraints."""

    status_code = 503
    type = "service_unavailable"
    default_code = "no_candidate_model"


class UpstreamError(TandemError):
    """The upstream provider failed; the message is the upstream's own, sanitized."""

    status_code = 502
    type = "upstream_error"
    default_code = "upstream_error"


class UpstreamBadRequest(UpstreamError):
    """The upstream rejected the request as invalid (its 400/422)."""

    status_code = 400
    type = "invalid_request_error"
    default_code = "upstream_bad_request"


class UpstreamRateLimited(UpstreamError):
    """The upstream answered 429; ``retry_after`` carries its Retry-After."""

    status_code = 429
    type = "rate_limit_error"
    default_code = "upstream_rate_limited"
    retryable = True


class UpstreamUnavailable(UpstreamError):
    """The upstream answered 503 or is overloaded."""

    status_code = 503
    type = "service_unavailable"
    default_code = "upstream_unavailable"
    retryable = True


class UpstreamTimeout(UpstreamError):
    """The upstream did not answer (or stalled) within the timeout."""

    status_code = 504
    type = "timeout"
    default_code = "upstream_timeout"


class UpstreamConnectError(UpstreamError):
    """The connection could not be made; nothing reached the upstream."""

    status_code = 502
    default_code = "upstream_connect_error"
    retryable = True
