"""Helpers shared by the provider tests."""

from __future__ import annotations

from collections.abc import Callable

from tandem.providers.transport import HTTPRequest, HTTPResponse, MockResponse, MockTransport


class RecordingTransport(MockTransport):
    """A MockTransport that also keeps the responses it handed out, to check they get closed."""

    def __init__(self, handler: Callable[[HTTPRequest], MockResponse]) -> None:
        super().__init__(handler)
        self.responses: list[HTTPResponse] = []

    async def request(self, req: HTTPRequest) -> HTTPResponse:
        resp = await super().request(req)
        self.responses.append(resp)
        return resp
