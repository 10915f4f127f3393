"""The console in a real headless Chromium against a real ``tandem serve``.

Sign in, stream a chat and see the answer and its cost, compare two models,
watch the dashboard change while traffic flows, create, edit and revoke a
key, open a bench report, and use the console with auth off. Screenshots go
to ``test-artifacts/console/``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from .conftest import ADMIN_KEY, CHEAP_REPLY, CONFIG_OFF, STRONG_REPLY, Console, full_shot, js_errors, shot

pytestmark = pytest.mark.browser


def wait_for(driver: Any, condition: Callable[[Any], Any], timeout: float = 15, what: str = "") -> Any:
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    # The dashboard redraws every few seconds: elements may go stale between reads.
    ignored = (NoSuchElementException, StaleElementReferenceException)
    return WebDriverWait(driver, timeout, poll_frequency=0.1, ignored_exceptions=ignored).until(condition, message=what)


def text(driver: Any, selector: str) -> str:
    """The visible text of the first match, read again if a redraw replaced it."""
    return str(wait_for(driver, lambda d: css(d, selector).text or " ", what=selector)).strip()


def css(driver: Any, selector: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, selector)


def all_css(driver: Any, selector: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(driver.find_elements(By.CSS_SELECTOR, selector))


def visible(driver: Any, selector: str) -> Any:
    def find(d: Any) -> Any:
        els = [e for e in all_css(d, selector) if e.is_displayed()]
        return els[0] if els else False

    return wait_for(driver, find, what=f"{selector} visible")


def open_console(driver: Any, console: Console, hash_: str = "", token: str | None = None) -> None:
    """A fresh page; signs in with ``token`` through the form when given."""
    driver.get(console.url + "/console")
    driver.execute_script("sessionStorage.clear()")
    driver.get("about:blank")  # a real reload (a hash change alone would not)
    driver.get(console.url + "/console" + hash_)
    if token is not None:
        sign_in(driver, token)
        if hash_:
            view = hash_[2:].split("/")[0]
            wait_for(driver, lambda d: css(d, ".view").get_attribute("data-view") == view)


def sign_in(driver: Any, token: str) -> None:
    box = visible(driver, "#api-key")
    box.clear()
    box.send_keys(token)
    css(driver, "#signin-form button[type=submit]").click()
    wait_for(driver, lambda d: css(d, "#nav").is_displayed(), what="signed in")


def send_prompt(driver: Any, text: str) -> None:
    box = visible(driver, "#prompt")
    box.send_keys(text)
    css(driver, ".send-btn").click()


def finished_replies(driver: Any, n: int) -> list[Any]:
    return wait_for(
        driver,
        lambda d: (lambda els: els if len(els) >= n else False)(all_css(d, ".msg.assistant[data-done=true]")),
        what=f"{n} finished replies",
    )


@pytest.fixture(autouse=True)
def _no_js_errors(browser: Any) -> Any:
    browser.get_log("browser") if hasattr(browser, "get_log") else None
    yield
    errors = js_errors(browser)
    assert not errors, f"JavaScript errors: {errors}"


def test_sign_in_validates_and_refuses_bad_keys(browser: Any, console: Console) -> None:
    open_console(browser, console)
    title = visible(browser, "h1")
    assert title.text == "Sign in"
    assert not css(browser, "#nav").is_displayed()
    css(browser, "#signin-form button[type=submit]").click()
    err = visible(browser, "#api-key-err")
    assert err.text == "Enter your API key."
    assert css(browser, "#api-key").get_attribute("aria-invalid") == "true"
    css(browser, "#api-key").send_keys("has a space")
    css(browser, "#signin-form button[type=submit]").click()
    wait_for(browser, lambda d: "no spaces" in css(d, "#api-key-err").text)
    css(browser, "#api-key").clear()
    css(browser, "#api-key").send_keys("tk-wrong-key-000000000000000000000000000")
    css(browser, "#signin-form button[type=submit]").click()
    wait_for(browser, lambda d: "This key was refused" in css(d, "#api-key-err").text)
    shot(browser, "01-sign-in-refused")
    assert browser.execute_script("return sessionStorage.length") == 0
    sign_in(browser, ADMIN_KEY)
    assert css(browser, ".identity .chip").text == "Admin"
    assert css(browser, "#nav-keys").is_displayed()
    # The key is in sessionStorage only (not localStorage, not a cookie).
    assert browser.execute_script("return localStorage.length") == 0
    assert browser.get_cookies() == []


def test_streamed_chat_shows_answer_cost_and_privacy(browser: Any, console: Console) -> None:
    _, key = console.create_key("browser-user")
    open_console(browser, console, token=key)
    visible(browser, "#prompt")
    assert "browser-user" in css(browser, ".identity").text
    assert not css(browser, "#nav-keys").is_displayed()
    css(browser, ".send-btn").click()
    assert visible(browser, "#prompt-err").text == "Type a message first."
    send_prompt(browser, "Hi! Write to me at jane.doe@example.com please")
    (reply,) = finished_replies(browser, 1)
    assert reply.find_element("css selector", ".bubble").text == CHEAP_REPLY
    meta = {
        cls: reply.find_element("css selector", f".{cls} .v").text
        for cls in ("meta-model", "meta-reason", "meta-cost", "meta-latency", "meta-tokens", "meta-privacy")
    }
    assert meta["meta-model"] == "cheap via auto"
    assert meta["meta-reason"].startswith("why: cheapest")
    prompt_tokens = len("Hi! Write to me at jane.doe@example.com please".split())
    completion = len(CHEAP_REPLY.split())
    assert meta["meta-tokens"] == f"{prompt_tokens} in · {completion} out"
    expected = (prompt_tokens * 0.1 + completion * 0.4) / 1e6
    assert meta["meta-cost"] == "$" + f"{float(f'{expected:.3g}'):.12f}".rstrip("0"), meta
    assert meta["meta-privacy"] == "privacy: redacted 1 email address"
    assert " ms" in meta["meta-latency"] and "first token" in meta["meta-latency"]
    shot(browser, "02-playground-streamed-reply")
    # The ledger agrees with what the page showed.
    d = console.wait_requests(key, 1)
    assert d["totals"]["cost_usd"] == pytest.approx(expected)


def test_stream_arrives_in_pieces(browser: Any, console: Console) -> None:
    """The reply grows while it streams (not one block at the end)."""
    from selenium.webdriver.support.ui import Select

    _, key = console.create_key("stream-watcher")
    open_console(browser, console, token=key)
    Select(visible(browser, "#model-0")).select_by_value("slow")  # 60 ms between chunks
    browser.execute_script("""
        window.__lengths = [];
        new MutationObserver(() => {
          const b = document.querySelector('.msg.assistant .bubble');
          if (b) window.__lengths.push(b.textContent.length);
        }).observe(document.querySelector('.panes'), {subtree: true, childList: true, characterData: true});
    """)
    send_prompt(browser, "tell me a story")
    finished_replies(browser, 1)
    lengths = browser.execute_script("return window.__lengths")
    distinct = sorted(set(lengths))
    assert len(distinct) >= 5, lengths  # several partial states before the full text
    assert distinct[-1] == len(CHEAP_REPLY)


def test_compare_two_models_side_by_side(browser: Any, console: Console) -> None:
    from selenium.webdriver.support.ui import Select

    _, key = console.create_key("comparer")
    open_console(browser, console, token=key)
    visible(browser, "#prompt")
    css(browser, ".compare-btn").click()
    second = visible(browser, "#model-1")
    Select(second).select_by_value("strong")
    send_prompt(browser, "Which is better?")
    replies = finished_replies(browser, 2)
    panes = all_css(browser, ".pane")
    assert len(panes) == 2
    first_meta = panes[0].find_element("css selector", ".msg.assistant .meta-model .v").text
    second_meta = panes[1].find_element("css selector", ".msg.assistant .meta-model .v").text
    assert first_meta == "cheap via auto" and second_meta == "strong"
    assert panes[1].find_element("css selector", ".msg.assistant .bubble").text == STRONG_REPLY
    assert panes[1].find_element("css selector", ".meta-reason .v").text == "why: requested directly"
    costs = [r.find_element("css selector", ".meta-cost .v").text for r in replies]
    assert all(c.startswith("$") for c in costs) and costs[0] != costs[1]
    # A follow-up goes to both, each with its own history.
    send_prompt(browser, "And now?")
    finished_replies(browser, 4)
    assert len(panes[0].find_elements("css selector", ".msg.user")) == 2
    full_shot(browser, "03-playground-compare")
    # The conversation survives a visit to another page.
    browser.execute_script("location.hash = '#/dashboard'")
    visible(browser, "[data-kpi=requests]")
    browser.execute_script("location.hash = '#/playground'")
    wait_for(browser, lambda d: len(all_css(d, ".msg.assistant")) == 4 and len(all_css(d, ".pane")) == 2)


def test_dashboard_updates_live(browser: Any, console: Console) -> None:
    _, key = console.create_key("dashboard-user")
    console.chat(key, "warm up")
    console.wait_requests(key, 1)
    open_console(browser, console, "#/dashboard", token=key)
    visible(browser, "[data-kpi=requests] .k-value")
    wait_for(browser, lambda d: css(d, "[data-kpi=requests] .k-value").text == "1")
    browser.execute_script("window.__same_page = true")
    assert "Your key: dashboard-user" in text(browser, ".page-head")
    for _ in range(3):
        console.chat(key, "one two three")
    console.chat(key, "and one for the strong model", model="strong")
    # No reload: the page polls and the numbers change.
    wait_for(
        browser, lambda d: css(d, "[data-kpi=requests] .k-value").text == "5", timeout=20, what="requests KPI reaches 5"
    )
    assert browser.execute_script("return window.__same_page === true")
    wait_for(browser, lambda d: "strong" in css(d, "[data-table=by-model]").text)
    spend = text(browser, "[data-kpi=spend] .k-value")
    assert spend.startswith("$") and spend != "$0"
    saved = text(browser, "[data-kpi=savings] .k-value")
    assert saved.startswith("$") and saved != "$0"
    assert "cheap 100%" in text(browser, "[data-route=auto]")
    wait_for(browser, lambda d: len(all_css(d, "[data-table=recent] tbody tr")) == 5)
    # Only this key's usage: no other key's name anywhere on the page.
    body = text(browser, "main")
    for other in ("browser-user", "comparer", "admin"):
        assert other not in body
    full_shot(browser, "04-dashboard-key")
    # The window buttons reload the data.
    css(browser, "[data-window='7d']").click()
    wait_for(browser, lambda d: css(d, "[data-window='7d']").get_attribute("aria-pressed") == "true")
    wait_for(browser, lambda d: css(d, "[data-kpi=requests] .k-value").text == "5")


def test_admin_dashboard_shows_every_key(browser: Any, console: Console) -> None:
    console.chat(ADMIN_KEY, "admin traffic")
    open_console(browser, console, "#/dashboard", token=ADMIN_KEY)
    table = visible(browser, "[data-table=by-key]")
    del table
    wait_for(browser, lambda d: "dashboard-user" in css(d, "[data-table=by-key]").text)
    assert "All keys" in text(browser, ".page-head")
    full_shot(browser, "05-dashboard-admin")


def test_create_edit_and_revoke_a_key(browser: Any, console: Console) -> None:
    open_console(browser, console, "#/keys", token=ADMIN_KEY)
    visible(browser, "details.create-wrap summary").click()
    form = visible(browser, "form.create-key")
    form.find_element("css selector", "button[type=submit]").click()
    name = css(browser, "form.create-key input[name=name]")
    wait_for(browser, lambda d: name.get_attribute("aria-invalid") == "true")
    errors = [e.text for e in all_css(browser, "form.create-key .err") if e.is_displayed()]
    assert errors == ["Name is required."]
    name.send_keys("ci-bot")
    month = css(browser, "form.create-key input[name=budget_month_usd]")
    month.send_keys("lots")
    rpm = css(browser, "form.create-key input[name=rpm_limit]")
    rpm.send_keys("0")
    form.find_element("css selector", "button[type=submit]").click()
    wait_for(browser, lambda d: month.get_attribute("aria-invalid") == "true")
    errors = [e.text for e in all_css(browser, "form.create-key .err") if e.is_displayed()]
    assert errors == ["Enter an amount in US dollars, like 5 or 12.50.", "Enter a whole number of at least 1."]
    shot(browser, "06-keys-form-errors")
    month.clear()
    month.send_keys("25")
    rpm.clear()
    rpm.send_keys("600")
    form.find_element("css selector", "button[type=submit]").click()
    secret = visible(browser, ".secret-value").get_attribute("value")
    assert secret.startswith("tk-")
    assert "shown only once" in css(browser, ".secret-box").text
    shot(browser, "07-keys-secret-once")
    # The secret works right away.
    with console.client(secret) as c:
        assert c.get("/v1/models").status_code == 200
    css(browser, ".secret-box button.primary").click()
    wait_for(browser, lambda d: not all_css(d, ".secret-box"))
    row = visible(browser, "tr[data-name='ci-bot']")
    assert "$0 of $25.00 this month" in row.text and "600 req/min" in row.text
    # Edit: set a daily budget and a tokens-per-minute limit, clear the rpm limit.
    row.find_element("css selector", ".edit-btn").click()
    dlg = visible(browser, "dialog[open]")
    day = dlg.find_element("css selector", "input[name=budget_day_usd]")
    day.send_keys("-1")
    dlg.find_element("css selector", "button[type=submit]").click()
    wait_for(browser, lambda d: day.get_attribute("aria-invalid") == "true")
    day.clear()
    day.send_keys("2.5")
    dlg.find_element("css selector", "input[name=rpm_limit]").clear()
    dlg.find_element("css selector", "input[name=tpm_limit]").send_keys("10000")
    shot(browser, "08-keys-edit-dialog")
    dlg.find_element("css selector", "button[type=submit]").click()
    wait_for(browser, lambda d: not all_css(d, "dialog[open]"))
    wait_for(browser, lambda d: "10,000 tok/min" in css(d, "tr[data-name='ci-bot']").text)
    row = css(browser, "tr[data-name='ci-bot']")
    assert "$0 of $2.50 today" in row.text and "req/min" not in row.text
    with console.client(ADMIN_KEY) as c:
        rec = next(k for k in c.get("/admin/keys").json()["data"] if k["name"] == "ci-bot")
    assert rec["budget_day_usd"] == 2.5 and rec["tpm_limit"] == 10000 and rec["rpm_limit"] is None
    full_shot(browser, "09-keys-list")
    # Revoke, after a confirmation.
    row.find_element("css selector", ".revoke-btn").click()
    dlg = visible(browser, "dialog[open]")
    assert "cannot be undone" in dlg.text
    dlg.find_element("css selector", "button.danger.solid").click()
    wait_for(browser, lambda d: not all_css(d, "tr[data-name='ci-bot']"), what="revoked key leaves the list")
    with console.client(secret) as c:
        assert c.get("/v1/models").status_code == 401
    css(browser, ".panel-head input[type=checkbox]").click()
    row = visible(browser, "tr[data-name='ci-bot']")
    assert "revoked" in row.text and not row.find_elements("css selector", ".revoke-btn")


def test_normal_key_cannot_manage_keys(browser: Any, console: Console) -> None:
    _, key = console.create_key("not-admin")
    open_console(browser, console, "#/keys", token=key)
    note = visible(browser, ".notice")
    assert "needs the admin key" in note.text
    assert not all_css(browser, "form.create-key")


def test_open_a_bench_report(browser: Any, console: Console) -> None:
    open_console(browser, console, "#/bench", token=ADMIN_KEY)
    row = visible(browser, "tr[data-run='quiz-run']")
    assert "quiz" in row.text
    shot(browser, "10-bench-runs")
    row.find_element("css selector", "a.btn").click()
    table = visible(browser, "[data-table=bench-summary]")
    assert "cheap" in table.text and "strong" in table.text
    frame = visible(browser, "iframe.report-frame")
    assert frame.get_attribute("sandbox") == "allow-popups allow-popups-to-escape-sandbox"
    browser.switch_to.frame(frame)
    try:
        h1 = wait_for(browser, lambda d: (lambda e: e[0] if e and e[0].text else False)(all_css(d, "h1")))
        assert "quiz" in h1.text
        # The report runs in an opaque origin: it cannot reach the console's storage.
        origin = browser.execute_script("try { return window.origin } catch (e) { return 'blocked' }")
        assert origin in ("null", "blocked", None)
    finally:
        browser.switch_to.default_content()
    browser.execute_script("document.querySelector('iframe.report-frame').scrollIntoView()")
    time.sleep(0.3)
    full_shot(browser, "11-bench-report")


def test_auth_off_needs_no_sign_in(browser: Any, start_server: Callable[..., Any]) -> None:
    server = start_server(CONFIG_OFF, env={"TANDEM_ADMIN_KEY": ADMIN_KEY})
    local = Console(server, server.home)
    open_console(browser, local)
    visible(browser, "#prompt")
    assert "Local · auth off" in css(browser, ".identity").text
    assert not css(browser, "#nav-keys").is_displayed()
    send_prompt(browser, "Hello without a key")
    (reply,) = finished_replies(browser, 1)
    assert reply.find_element("css selector", ".bubble").text == CHEAP_REPLY
    browser.get(local.url + "/console#/keys")
    assert "Sign in with it" in visible(browser, ".notice").text
    browser.get(local.url + "/console#/dashboard")
    wait_for(browser, lambda d: css(d, "[data-kpi=requests] .k-value").text == "1", timeout=20)
    shot(browser, "12-auth-off-dashboard")
    # The admin key unlocks key management.
    browser.get(local.url + "/console#/signin")
    sign_in(browser, ADMIN_KEY)
    browser.get(local.url + "/console#/keys")
    visible(browser, "details.create-wrap summary")


def test_narrow_screen(browser: Any, console: Console) -> None:
    size = browser.get_window_size()
    browser.set_window_size(420, 900)
    try:
        open_console(browser, console, "#/dashboard", token=ADMIN_KEY)
        visible(browser, "[data-kpi=requests]")
        wait_for(browser, lambda d: css(d, "[data-kpi=requests] .k-value").text != "")
        shot(browser, "13-dashboard-narrow")
        # Chromium keeps windows at least 500 px wide; compare with the real viewport.
        width, viewport = browser.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
        assert width <= viewport, (width, viewport)  # no sideways scrolling of the page itself
    finally:
        browser.set_window_size(size["width"], size["height"])


_A11Y = """
const unlabeled = [...document.querySelectorAll('input, select, textarea')].filter((e) => {
  if (e.type === 'hidden' || !e.offsetParent) return false;
  const byFor = e.id && document.querySelector(`label[for="${e.id}"]`);
  return !(byFor || e.closest('label') || e.getAttribute('aria-label') || e.getAttribute('aria-labelledby'));
}).map((e) => e.outerHTML.slice(0, 80));
const unnamedButtons = [...document.querySelectorAll('button, a[href]')].filter((e) => e.offsetParent
  && !(e.textContent.trim() || e.getAttribute('aria-label'))).map((e) => e.outerHTML.slice(0, 80));
const charts = [...document.querySelectorAll('main svg[role=img]')];
return {unlabeled, unnamedButtons, h1: document.querySelectorAll('main h1').length,
        unnamedCharts: charts.filter((c) => !c.getAttribute('aria-label')).length,
        lang: document.documentElement.lang};
"""


def test_every_control_has_a_name(browser: Any, console: Console) -> None:
    """Labels for every field, names for every button, one h1 per page, named charts."""
    open_console(browser, console, "", token=ADMIN_KEY)
    for view, ready in (
        ("playground", "#prompt"),
        ("dashboard", "[data-kpi=requests]"),
        ("bench", "[data-table=bench-runs]"),
        ("keys", "details.create-wrap summary"),
    ):
        browser.get(f"{console.url}/console#/{view}")
        visible(browser, ready)
        if view == "keys":
            css(browser, "details.create-wrap summary").click()
            visible(browser, "form.create-key")
        if view == "dashboard":
            visible(browser, "main svg[role=img]")
        report = browser.execute_script(_A11Y)
        assert report["unlabeled"] == [] and report["unnamedButtons"] == [], (view, report)
        assert report["h1"] == 1 and report["unnamedCharts"] == 0 and report["lang"] == "en", (view, report)


def test_sign_out_forgets_the_key(browser: Any, console: Console) -> None:
    open_console(browser, console, "", token=ADMIN_KEY)
    visible(browser, "#sign-out").click()
    visible(browser, "#api-key")
    assert browser.execute_script("return sessionStorage.length") == 0
    r = httpx.get(console.url + "/console/api/session")
    assert r.status_code == 401
