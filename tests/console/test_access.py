"""Access control of every console endpoint over HTTP, against a real server.

Callers: no key, a wrong key, a revoked key, a normal key, the admin key.
A normal key sees only its own usage; nothing of another key leaks.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from .conftest import ADMIN_KEY, Console

WRONG = "tk-this-is-not-a-valid-key-0000000000000000000"
RUN = "quiz-run"

#: (method, path) of every console JSON endpoint that needs a caller.
API = [
    ("GET", "/console/api/session"),
    ("GET", "/console/api/dashboard"),
    ("GET", "/console/api/dashboard?window=1h"),
    ("GET", "/console/api/bench"),
    ("GET", f"/console/api/bench/{RUN}"),
    ("GET", f"/console/api/bench/{RUN}/files/summary.csv"),
    ("POST", f"/console/api/bench/{RUN}/ticket"),
    ("GET", f"/console/api/bench/{RUN}/report"),
]


@pytest.fixture(scope="module")
def keys(console: Console) -> dict[str, str]:
    """Two normal keys with traffic of their own, and a revoked key."""
    _, alice = console.create_key("alice")
    _, bob = console.create_key("bob")
    rec, gone = console.create_key("gone")
    with console.client(ADMIN_KEY) as c:
        assert c.post(f"/admin/keys/{rec['id']}/revoke").status_code == 200
    console.chat(alice, "alice asks about apples", model="strong")
    console.chat(alice, "alice asks again")
    console.chat(bob, "bob asks one thing")
    console.chat(ADMIN_KEY, "the admin asks too")
    console.wait_requests(ADMIN_KEY, 4)
    return {"alice": alice, "bob": bob, "gone": gone}


def _call(console: Console, method: str, path: str, token: str | None) -> httpx.Response:
    with console.client(token) as c:
        return c.request(method, path)


@pytest.mark.parametrize(("method", "path"), API)
def test_no_key_is_refused(console: Console, keys: dict[str, str], method: str, path: str) -> None:
    r = _call(console, method, path, None)
    assert r.status_code == 401, r.text
    assert r.json()["error"]["type"] == "authentication_error"


@pytest.mark.parametrize(("method", "path"), API)
def test_wrong_and_revoked_keys_are_refused(console: Console, keys: dict[str, str], method: str, path: str) -> None:
    for token in (WRONG, keys["gone"], "x" * 5000):
        r = _call(console, method, path, token)
        assert r.status_code == 401, (token[:10], r.text)
        assert WRONG not in r.text and keys["gone"] not in r.text


@pytest.mark.parametrize(("method", "path"), API)
def test_normal_and_admin_keys_are_served(console: Console, keys: dict[str, str], method: str, path: str) -> None:
    for token in (keys["alice"], ADMIN_KEY):
        r = _call(console, method, path, token)
        assert r.status_code == 200, r.text


def test_non_bearer_authorization_is_refused(console: Console) -> None:
    with httpx.Client(base_url=console.url) as c:
        r = c.get("/console/api/session", headers={"Authorization": f"Basic {ADMIN_KEY}"})
    assert r.status_code == 401


def test_session_says_who_is_calling(console: Console, keys: dict[str, str]) -> None:
    with console.client(keys["alice"]) as c:
        s = c.get("/console/api/session").json()
    assert s["viewer"]["role"] == "key" and s["viewer"]["name"] == "alice"
    assert s["viewer"]["prefix"] == keys["alice"][:11]
    assert s["auth_mode"] == "keys" and s["features"]["keys"] is False
    assert keys["alice"] not in str(s)
    with console.client(ADMIN_KEY) as c:
        s = c.get("/console/api/session").json()
    assert s["viewer"]["role"] == "admin" and s["features"]["keys"] is True and s["admin_key_set"]
    assert ADMIN_KEY not in str(s)


def test_a_key_sees_only_its_own_usage(console: Console, keys: dict[str, str]) -> None:
    alice = console.dashboard(keys["alice"])
    bob = console.dashboard(keys["bob"])
    admin = console.dashboard(ADMIN_KEY)
    assert alice["totals"]["requests"] == 2
    assert bob["totals"]["requests"] == 1
    assert admin["totals"]["requests"] >= 4
    # Bob sees no trace of Alice: not her model, her key, her requests or her spend.
    assert [r["label"] for r in bob["by_key"]] == ["bob"]
    assert [r["label"] for r in bob["by_model"]] == ["cheap"]
    assert len(bob["recent"]) == 1 and "key" not in bob["recent"][0]
    assert "alice" not in str(bob) and "strong" not in {r["model"] for r in bob["recent"]}
    assert bob["totals"]["cost_usd"] < alice["totals"]["cost_usd"]
    # The admin sees every key, by name.
    names = {r["label"] for r in admin["by_key"]}
    assert {"alice", "bob", "admin"} <= names
    assert {r["key"] for r in admin["recent"]} >= {"alice", "bob", "admin"}


def test_key_filter_is_admin_only(console: Console, keys: dict[str, str]) -> None:
    with console.client(ADMIN_KEY) as c:
        alice_id = next(k["id"] for k in c.get("/admin/keys").json()["data"] if k["name"] == "alice")
        only_alice = c.get("/console/api/dashboard", params={"key": alice_id}).json()
        assert only_alice["totals"]["requests"] == 2 and only_alice["scope"]["key"] == alice_id
        by_prefix = c.get("/console/api/dashboard", params={"key": keys["alice"][:11]}).json()
        assert by_prefix["totals"]["requests"] == 2
        assert c.get("/console/api/dashboard", params={"key": "key_does_not_exist"}).status_code == 404
    with console.client(keys["bob"]) as c:
        r = c.get("/console/api/dashboard", params={"key": alice_id})
        assert r.status_code == 403 and "alice" not in r.text
        assert c.get("/console/api/dashboard", params={"key": "admin"}).status_code == 403
        assert c.get("/console/api/dashboard", params={"key": keys["alice"][:11]}).status_code == 403
        # Its own id or prefix is fine.
        own = c.get("/console/api/dashboard", params={"key": keys["bob"][:11]})
        assert own.status_code == 200 and own.json()["totals"]["requests"] == 1


def test_dashboard_validates_its_parameters(console: Console) -> None:
    with console.client(ADMIN_KEY) as c:
        r = c.get("/console/api/dashboard", params={"window": "2y"})
        assert r.status_code == 400 and r.json()["error"]["param"] == "window"
        assert c.get("/console/api/dashboard", params={"key": "k" * 100}).status_code == 400
        for w in ("1h", "6h", "24h", "7d", "30d"):
            d = c.get("/console/api/dashboard", params={"window": w}).json()
            assert d["window"] == w and len(d["series"]) >= 1


def test_bench_paths_only_for_the_operator(console: Console, keys: dict[str, str]) -> None:
    with console.client(keys["alice"]) as c:
        listing = c.get("/console/api/bench").json()
    assert listing["roots"] is None  # a normal key learns no server paths
    assert any(r["id"] == RUN for r in listing["data"])
    with console.client(ADMIN_KEY) as c:
        assert str(console.home / "bench") in c.get("/console/api/bench").json()["roots"]
        summary = c.get(f"/console/api/bench/{RUN}").json()["summary"]
    assert "files" not in summary  # server paths stripped


@pytest.mark.parametrize("bad", ["..", "..%2F..%2Fetc", ".hidden", "a" * 200, "x%00y", "nope"])
def test_bench_run_ids_cannot_escape(console: Console, bad: str) -> None:
    with console.client(ADMIN_KEY) as c:
        for path in (
            f"/console/api/bench/{bad}",
            f"/console/api/bench/{bad}/report",
            f"/console/api/bench/{bad}/files/summary.csv",
        ):
            r = c.get(path)
            assert r.status_code in (400, 404), (path, r.status_code)
            assert "root:" not in r.text


def test_bench_files_are_whitelisted(console: Console) -> None:
    with console.client(ADMIN_KEY) as c:
        assert c.get(f"/console/api/bench/{RUN}/files/results.sqlite").status_code == 404
        assert c.get(f"/console/api/bench/{RUN}/files/..%2F..%2Ftandem.db").status_code == 404
        r = c.get(f"/console/api/bench/{RUN}/files/summary.csv")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        assert "attachment" in r.headers["content-disposition"]


def _ticket_url(console: Console, token: str, run: str = RUN) -> str:
    with console.client(token) as c:
        r = c.post(f"/console/api/bench/{run}/ticket")
    assert r.status_code == 200, r.text
    url: str = r.json()["url"]
    return url


def test_report_opens_with_a_ticket_sandboxed(console: Console, keys: dict[str, str]) -> None:
    for token in (keys["alice"], ADMIN_KEY):
        url = _ticket_url(console, token)
        assert "ticket=" in url and token not in url
        r = httpx.get(console.url + url)  # no Authorization: the ticket is enough
        assert r.status_code == 200 and "<html" in r.text.lower()
        csp = r.headers["content-security-policy"]
        assert "sandbox" in csp and "allow-same-origin" not in csp and "script-src 'none'" in csp
        assert "frame-ancestors 'self'" in csp
        assert r.headers["x-content-type-options"] == "nosniff"


def test_bad_tickets_are_refused(console: Console, keys: dict[str, str]) -> None:
    url = _ticket_url(console, keys["alice"])
    ticket = parse_qs(urlparse(url).query)["ticket"][0]
    holder, expires, mac = ticket.split(".")
    forged = [
        f"{holder}.{int(expires) + 3600}.{mac}",  # a longer life
        f"{holder}.{expires}.{'0' * len(mac)}",  # a made-up MAC
        f"admin.{expires}.{mac}",  # another holder
        "garbage",
        "",
        "a.b.c.d",
    ]
    for bad in forged:
        r = httpx.get(f"{console.url}/console/api/bench/{RUN}/report", params={"ticket": bad})
        assert r.status_code == 401, bad
    # A ticket opens only the run it was made for.
    other = console.home / "bench" / "other-run"
    other.mkdir(exist_ok=True)
    (other / "report.html").write_text("<html><body>other</body></html>")
    r = httpx.get(f"{console.url}/console/api/bench/other-run/report", params={"ticket": ticket})
    assert r.status_code == 401


def test_a_revoked_keys_tickets_die_with_it(console: Console) -> None:
    rec, secret = console.create_key("short-lived")
    url = _ticket_url(console, secret)
    assert httpx.get(console.url + url).status_code == 200
    with console.client(ADMIN_KEY) as c:
        assert c.post(f"/admin/keys/{rec['id']}/revoke").status_code == 200
    assert httpx.get(console.url + url).status_code == 401


def test_the_admin_api_the_console_uses_needs_the_admin_key(console: Console, keys: dict[str, str]) -> None:
    for method, path in (("GET", "/admin/keys"), ("POST", "/admin/keys"), ("GET", "/admin/usage?by=key")):
        assert _call(console, method, path, None).status_code == 401
        assert _call(console, method, path, WRONG).status_code == 401
        assert _call(console, method, path, keys["alice"]).status_code == 403
    with console.client(ADMIN_KEY) as c:
        assert c.get("/admin/keys").status_code == 200


def test_page_and_static_files_hold_no_data(console: Console) -> None:
    with httpx.Client(base_url=console.url, follow_redirects=False) as c:
        root = c.get("/")
        assert root.status_code == 307 and root.headers["location"] == "/console"
        page = c.get("/console")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert page.headers["x-frame-options"] == "DENY"
        for asset in ("/console/static/style.css", "/console/static/js/app.js", "/console/static/js/sse.js"):
            r = c.get(asset)
            assert r.status_code == 200 and r.headers["cache-control"] == "no-cache"
        assert c.get("/console/static/../../config.py").status_code == 404
        assert c.get("/console/api/nothing-here").status_code == 404


def test_no_third_party_code_is_loaded(console: Console) -> None:
    """The page loads only its own files: no CDN, no external URL."""
    page = httpx.get(console.url + "/console").text
    assert "http://" not in page and "https://" not in page.replace("http://www.w3.org", "")
    from tandem.console import STATIC_DIR

    for f in STATIC_DIR.rglob("*.js"):
        text = f.read_text()
        assert "import(" not in text and "https://" not in text, f
