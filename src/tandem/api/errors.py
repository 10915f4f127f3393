"""One handler turns every error into OpenAI's error JSON; nothing else leaks."""

from __future__ import annotations

import logging

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from tandem.errors import TandemError

__all__ = ["error_response", "handle_http_exception", "handle_tandem_error", "handle_unexpected"]

log = logging.getLogger("tandem.api")

_HTTP_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
}


def error_response(exc: TandemError) -> Response:
    """The JSON response for a tandem error, with its status and headers."""
    return Response(
        orjson.dumps(exc.to_dict()),
        status_code=exc.status_code,
        headers=exc.headers(),
        media_type="application/json",
    )


async def handle_tandem_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, TandemError)
    return error_response(exc)


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    message = {404: f"Unknown path {request.url.path}.", 405: f"Method {request.method} not allowed here."}.get(
        status, str(exc.detail)
    )
    body = {"error": {"message": message, "type": _HTTP_TYPES.get(status, "server_error"), "param": None, "code": None}}
    return Response(
        orjson.dumps(body), status_code=status, media_type="application/json", headers=dict(exc.headers or {})
    )


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    # The trace goes to the log, never to the client.
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    body = {
        "error": {"message": "Internal server error.", "type": "server_error", "param": None, "code": "internal_error"}
    }
    return Response(orjson.dumps(body), status_code=500, media_type="application/json")
