"""The console with ``auth.mode: off`` (the local default): no sign-in for the
playground and dashboard, which show the unauthenticated traffic; a wrong
key is still refused; key management still needs the admin key."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from .conftest import ADMIN_KEY, CONFIG_OFF, Console

WRONG = "tk-this-is-not-a-valid-key-0000000000000000000"


@pytest.fixture(scope="module")
def local(start_module_server: Callable[..., Any]) -> Console:
    server = start_module_server(CONFIG_OFF, env={"TANDEM_ADMIN_KEY": ADMIN_KEY})
    return Console(server, server.home)


def test_auth_off_local_user_sees_the_anonymous_traffic(local: Console) -> None:
    with local.client() as c:
        s = c.get("/console/api/session").json()
        assert s["viewer"]["role"] == "local" and s["auth_mode"] == "off"
        assert s["features"]["keys"] is False and s["admin_key_set"] is True
    local.chat(None, "no key at all")
    d = local.wait_requests(None, 1)
    assert d["totals"]["requests"] == 1 and d["scope"]["key"] == "anonymous"
    with local.client() as c:
        assert c.get("/console/api/bench").status_code == 200
        assert c.post("/console/api/bench/nope/ticket").status_code == 404
        # Key management still needs the admin key.
        assert c.get("/admin/keys").status_code == 401
        assert c.get("/console/api/dashboard", params={"key": "admin"}).status_code == 403


def test_auth_off_wrong_key_is_still_refused(local: Console) -> None:
    with local.client(WRONG) as c:
        assert c.get("/console/api/session").status_code == 401
        assert c.get("/console/api/dashboard").status_code == 401
    with local.client(ADMIN_KEY) as c:
        assert c.get("/console/api/session").json()["viewer"]["role"] == "admin"
        assert c.get("/admin/keys").status_code == 200
