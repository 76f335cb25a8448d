"""The status page in headless Chromium (Debian's chromium through Playwright, no browser
download): overview, a customer page, a conflict's pin, the approve flow with and
without sign-in, CSRF refused, sign-in refused over plain HTTP beyond loopback.
Screenshots go to build/artefacts/status-page/ (or $RECONCILER_ARTEFACTS)."""

from __future__ import annotations

import http.server
import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from reconciler.core.words import count

from .conftest import TOKEN, Live, as_if_beyond_loopback, edit_yaml, entra_users, set_entra_users

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ARTEFACTS = (
    Path(
        os.environ.get("RECONCILER_ARTEFACTS") or Path(__file__).resolve().parents[2] / "build" / "artefacts"
    )
    / "status-page"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).is_file(), "chromium is missing: scripts/test setup installs it"
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    yield ctx
    ctx.close()


def shot(page: Page, name: str) -> None:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTEFACTS / f"{name}.png"), full_page=True)


def run_all(live: Live) -> None:
    for name in ("contoso", "fabrikam", "northwind", "tailspin"):
        assert live.client.post(f"/customers/{name}/reconcile?wait=30", headers=AUTH).status_code == 200


def block_fabrikam(live: Live, root: Path) -> None:
    edit_yaml(root / "settings.yaml", lambda d: d["spec"]["safety"].update(minExistingAccounts=0))
    live.scheduler.source.refresh()
    users = entra_users(root, "fabrikam")
    set_entra_users(root, "fabrikam", users[:1])
    r = live.client.post("/customers/fabrikam/reconcile?wait=30", headers=AUTH)
    assert r.json()["result"] == "blocked", r.text


def sign_in(page: Page, live: Live, next_path: str = "/") -> None:
    page.goto(f"{live.url}/signin?next={next_path}")
    page.fill("#token", TOKEN)
    page.click("form.signin button")
    page.wait_for_load_state()
    assert page.url == f"{live.url}{next_path}", page.content()[:3000]


def test_overview_problems_first_filter_and_phone(live: Live, config_dir: Path, browser: Browser) -> None:
    run_all(live)
    block_fabrikam(live, config_dir)
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.goto(live.url + "/")
    expect(page.locator("h1")).to_have_text("Fleet")
    expect(page.locator('b[data-status="blocked"]')).to_have_text("1")
    expect(page.locator('b[data-status="conflicts"]')).to_have_text("1")
    names = page.locator("table.fleet tbody tr td:first-child").all_inner_texts()
    assert names[:2] == ["fabrikam", "contoso"]  # problems first, worst first
    shot(page, "overview")

    page.fill("#q", "wind")
    page.click("form.filter button")
    expect(page.locator("table.fleet tbody tr")).to_have_count(1)
    expect(page.locator("table.fleet tbody tr td:first-child")).to_have_text("northwind")
    page.click('a[href="/?problems=true"]')
    expect(page.locator("table.fleet tbody tr")).to_have_count(2)
    ctx.close()

    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = phone.new_page()
    page.goto(live.url + "/")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # no sideways scroll
    shot(page, "overview-phone")
    page.goto(live.url + "/customers/contoso")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    shot(page, "customer-phone")
    phone.close()


def test_no_external_assets(live: Live, context: BrowserContext) -> None:
    run_all(live)
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda req: requested.append(req.url))
    page.goto(live.url + "/customers/contoso")
    page.wait_for_load_state("networkidle")
    assert requested and all(url.startswith(live.url) for url in requested), requested
    csp = httpx.get(live.url + "/").headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp


def test_customer_page_shows_the_conflicts_pin_to_copy(live: Live, browser: Browser) -> None:
    run_all(live)
    # once more: the newest run is in-sync even when run_all's was contoso's first (the
    # daemon's own first run had not happened yet on a slow machine)
    assert live.client.post("/customers/contoso/reconcile?wait=30", headers=AUTH).status_code == 200
    ctx = browser.new_context(permissions=["clipboard-read", "clipboard-write"])
    page = ctx.new_page()
    page.goto(live.url + "/customers/contoso")
    expect(page.locator("h1")).to_contain_text("contoso")
    conflict = page.locator("article.conflict").first
    expect(conflict.locator("h3")).to_have_text("bob@contoso.com in itglue")
    expect(conflict.locator("li")).to_have_count(2)
    pin = conflict.locator("pre.pin").inner_text()
    assert "account: bob@contoso.com" in pin and "integration: itglue" in pin and "recordId" in pin
    conflict.locator("button.copy").click()
    expect(conflict.locator("button.copy")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == pin
    expect(page.locator("#runs tbody tr").first).to_contain_text("in-sync")
    expect(page.locator("#runs tbody tr").first.locator('td[data-label="Replica"]')).to_contain_text("pid")
    shot(page, "customer-conflict")
    ctx.close()


def test_approve_needs_sign_in_then_approves_exactly_the_blocked_removals(
    live: Live, config_dir: Path, context: BrowserContext
) -> None:
    run_all(live)
    block_fabrikam(live, config_dir)
    page = context.new_page()
    page.goto(live.url + "/customers/fabrikam")
    expect(page.locator("#blocked h2")).to_have_text("Blocked by the safety guard")
    removals = page.locator("#blocked ul.removals li").all_inner_texts()
    assert len(removals) >= 1 and "judy@fabrikam.com" in removals[0]
    expect(page.locator("#blocked form")).to_have_count(0)  # no approve button before sign-in
    expect(page.locator("section.actions")).to_contain_text("Sign in")
    shot(page, "blocked-signed-out")
    refused = page.request.post(live.url + "/ui/customers/fabrikam/approve", form={"csrf": "x"})
    assert refused.status == 401
    assert live.scheduler.state.get("fabrikam").override_at is None  # type: ignore[union-attr]

    sign_in(page, live, "/customers/fabrikam")
    (cookie,) = [c for c in context.cookies() if c["name"] == "reconciler_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and not cookie["secure"]
    assert TOKEN not in cookie["value"]
    assert cookie["expires"] - time.time() == pytest.approx(8 * 3600, abs=60)
    button = page.locator("#blocked form button")
    expect(button).to_contain_text(f"Approve {count(len(removals), 'removal')} once")
    shot(page, "blocked-signed-in")
    button.click()
    expect(page.locator("p.notice")).to_contain_text("Removals approved once")
    deadline = time.monotonic() + 30
    while live.scheduler.state.get("fabrikam").blocked and time.monotonic() < deadline:  # type: ignore[union-attr]
        time.sleep(0.1)
    rec = live.scheduler.state.get("fabrikam")
    assert rec is not None and not rec.blocked and rec.last_result == "applied"
    page.reload()
    expect(page.locator("#blocked")).to_have_count(0)
    expect(page.locator("#runs tbody tr").first).to_contain_text("applied")
    shot(page, "approved")


def test_csrf_is_refused(live: Live, config_dir: Path, context: BrowserContext) -> None:
    run_all(live)
    block_fabrikam(live, config_dir)
    page = context.new_page()
    sign_in(page, live, "/customers/fabrikam")
    # a forged form on our own page, with a wrong CSRF token
    page.evaluate(
        """() => { const f = document.createElement('form'); f.method = 'post';
        f.action = '/ui/customers/fabrikam/approve';
        const i = document.createElement('input'); i.name = 'csrf'; i.value = 'forged'; f.appendChild(i);
        document.body.appendChild(f); f.submit(); }"""
    )
    page.wait_for_load_state()
    expect(page.locator("body")).to_contain_text("CSRF check failed")
    assert live.scheduler.state.get("fabrikam").override_at is None  # type: ignore[union-attr]

    # the same form from another site: the SameSite=Strict cookie stays home, nothing happens
    evil = _serve_html(
        f"""<form id=f method=post action="{live.url}/ui/customers/fabrikam/approve">
        <input name=csrf value=guess></form><script>document.getElementById('f').submit()</script>"""
    )
    try:
        page.goto(evil)
        page.wait_for_url(f"{live.url}/ui/customers/fabrikam/approve")
        expect(page.locator("body")).to_contain_text("sign in first")
    finally:
        evil_server.shutdown()
    assert live.scheduler.state.get("fabrikam").override_at is None  # type: ignore[union-attr]
    shot(page, "csrf-refused")


def test_sign_in_refused_over_plain_http_beyond_loopback(live: Live, context: BrowserContext) -> None:
    run_all(live)
    as_if_beyond_loopback(live)
    page = context.new_page()
    page.goto(live.url + "/customers/contoso")  # viewing needs the token: to the sign-in page
    assert "/signin" in page.url
    expect(page.locator("p.problem")).to_contain_text("refused over plain HTTP")
    expect(page.locator("#token")).to_have_count(0)
    r = httpx.post(live.url + "/signin", data={"token": TOKEN, "next": "/"})
    assert r.status_code == 403 and "set-cookie" not in r.headers
    shot(page, "signin-refused")


def test_sessions_end_when_the_token_changes_or_after_8_hours(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_all(live)
    with httpx.Client(base_url=live.url) as client:
        assert client.post("/signin", data={"token": "wrong", "next": "/"}).status_code == 401
        r = client.post("/signin", data={"token": TOKEN, "next": "/customers/contoso"})
        assert r.status_code == 303 and r.headers["location"] == "/customers/contoso"
        assert "Sign out" in client.get("/customers/contoso").text
        monkeypatch.setenv("RECONCILER_TEST_TOKEN", "a-new-token-for-tests")
        assert "Sign out" not in client.get("/customers/contoso").text
        monkeypatch.setenv("RECONCILER_TEST_TOKEN", TOKEN)
        assert "Sign out" in client.get("/customers/contoso").text

        state = live.scheduler.state
        ((key, session),) = state.records("session").items()
        assert TOKEN not in str(session) and client.cookies["reconciler_session"] not in str(session)
        state.put_record("session", key, {**session, "expires": time.time() - 1})
        assert "Sign out" not in client.get("/customers/contoso").text
        offsite = client.post("/signin", data={"token": TOKEN}, headers={"Origin": "http://evil.example"})
        assert offsite.status_code == 403


evil_server: http.server.ThreadingHTTPServer


def _serve_html(html: str) -> str:
    """Another origin on loopback (another port) serving one page."""
    global evil_server
    body = html.encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    evil_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=evil_server.serve_forever, daemon=True).start()
    return f"http://localhost:{evil_server.server_address[1]}/"


def test_overview_shows_the_request_budgets_and_a_customer_why_it_was_deferred(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, context: BrowserContext
) -> None:
    """#16: the sandbox's simulators on loopback, IT Glue's budget cut to 5 an hour (real
    ledger rows in the SQLite state), a real scheduler on a fake clock behind the listener."""
    from reconciler.daemon.listener import DaemonHttpServer
    from reconciler.testing.sandbox import Sandbox

    from .conftest import make_rig

    box = Sandbox.start(tmp_path / "sandbox")

    def change(d: dict[str, Any]) -> None:
        d["spec"]["budgets"] = {"itglue": {"requests": 5, "windowSeconds": 3600}}
        d["spec"].setdefault("daemon", {})["jitterPercent"] = 0

    edit_yaml(box.root / "settings.yaml", change)
    rig = make_rig(box.root)
    server = DaemonHttpServer(("127.0.0.1", 0), rig.scheduler, rig.metrics, None)
    server.start()
    try:
        rig.cycle()  # contoso's IT Glue creates do not all fit: deferred
        rig.clock.advance(11)
        rig.cycle()  # the refusal is recorded in the daemon state
        spent = len(box.itglue.requests)
        page = context.new_page()
        page.goto(f"{server.url}/")
        table = page.locator("table.budgets")
        expect(table.locator("caption")).to_have_text("Request budgets (whole MSP)")
        itglue = table.locator("tr[data-integration=itglue]")
        expect(itglue).to_have_class("problem")
        expect(itglue.locator("td").nth(1)).to_have_text(f"{spent} / 5 per hour")
        expect(itglue.locator("td").nth(2)).to_have_text(str(5 - spent))
        expect(itglue.locator("td").nth(3)).to_contain_text(re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"))
        hudu = table.locator("tr[data-integration=hudu]")
        expect(hudu.locator("td").nth(1)).to_have_text(re.compile(r"^\d+ / 150 per minute$"))
        expect(hudu.locator("td").nth(3)).to_have_text("–")
        shot(page, "budgets")

        page.click("a[href='/customers/contoso']")
        expect(page.locator("dd.deferred")).to_contain_text("budget exhausted until")
        expect(page.locator("#reads tr[data-integration=itglue] td").nth(2)).to_have_text(
            re.compile(r"^\d{4}-\d\d-\d\dT")
        )
        shot(page, "customer-deferred")
    finally:
        server.stop()
        rig.close()
        box.stop()


def test_a_deferral_reason_is_escaped(live: Live) -> None:
    """A run's message can carry a vendor's words: the Deferred line escapes it (next run far
    off, so the running scheduler leaves the record alone)."""
    from dataclasses import replace

    run_all(live)
    state = live.scheduler.state
    rec = state.get("contoso")
    assert rec is not None
    state.save_run(
        replace(
            rec,
            last_result="deferred",
            last_message="<script>alert(1)</script> quiet hours",
            next_run_at=4_102_444_800.0,
        )
    )
    html = live.client.get("/customers/contoso").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; quiet hours" in html and "<script>alert" not in html
    assert "until 2100-01-01T00:00:00Z" in html
    assert live.client.get("/api/v1/customers/contoso").json()["deferred"] == {
        "reason": "<script>alert(1)</script> quiet hours",
        "until": "2100-01-01T00:00:00Z",
    }
