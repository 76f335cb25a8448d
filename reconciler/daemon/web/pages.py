"""Daemon stage (HTTP): the read-only status page (server-rendered HTML, no external assets).

    GET  /                                fleet overview: counts by status, request budgets, problems first,
                                          filter, 100 a page
    GET  /customers/{name}                one customer: plan, changes, conflicts and their pins, blocked
                                          removals, why a run was deferred, last full read and next
                                          verification per integration, run history (durations, replica)
    GET  /signin, POST /signin, POST /signout
    POST /ui/customers/{name}/reconcile   import now              (signed in, CSRF token)
    POST /ui/customers/{name}/approve     approve blocked removals (signed in, CSRF token)
    GET  /static/app.css, /static/app.js

Pages render what the JSON API answers (same functions), so the two agree.
Every page is sent with a Content-Security-Policy that allows only this origin.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Route

from reconciler.core.budget import duration
from reconciler.core.words import count
from reconciler.daemon.web import access
from reconciler.daemon.web.actions import run_action
from reconciler.daemon.web.api import (
    BadParameter,
    budget_rows,
    customer_detail,
    fleet_summary,
    last_plan,
    page_of,
    snapshot_of,
)
from reconciler.daemon.web.common import daemon_of

HERE = Path(__file__).parent
_ENV = Environment(
    loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True), auto_reload=False
)
_ENV.filters["count"] = count  # {{ n | count("removal") }}: "1 removal", "2 removals"
_ENV.filters["duration"] = duration  # {{ 300 | duration }}: "5 minutes"
log = logging.getLogger("reconciler.daemon.http")
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # no-referrer would make browsers send "Origin: null" on POST
    "Cache-Control": "no-store",
}
RUNS_SHOWN = 50


def _span(seconds: float) -> str:
    s = int(abs(seconds))
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}m"
    if s < 172800:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86400}d"


def _render(request: Request, template: str, status: int = 200, **context: Any) -> Response:
    html = _html(request, template, access.session_of(request), **context)
    return Response(html, status, HEADERS, media_type="text/html")


def _html(request: Request, template: str, session: access.Session | None, **context: Any) -> str:
    now = daemon_of(request).scheduler.clock.now()

    def ago(ts: float | None) -> str:
        if ts is None:
            return "?"
        return f"{_span(now - ts)} ago" if now >= ts else f"in {_span(ts - now)}"

    def when(ts: float | None) -> str:
        if ts is None:
            return "not scheduled"
        return "due now" if ts <= now else f"in {_span(ts - now)}"

    def stamp(ts: float) -> str:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts)) + " UTC"

    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    html = _ENV.get_template(template).render(
        signed_in=session is not None,
        csrf=session.csrf if session else "",
        notice=request.query_params.get("notice", "")[:200],
        here=here,
        ago=ago,
        when=when,
        stamp=stamp,
        **context,
    )
    return html


def _to_signin(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/signin?next={quote(target, safe='')}", 303, HEADERS)


def overview(request: Request) -> Response:
    if not access.may_view(request):
        return _to_signin(request)
    snap = snapshot_of(request)
    params = request.query_params
    keep = {k: params[k] for k in ("q", "status", "problems") if params.get(k)}
    session = access.session_of(request)

    def page_url(n: int) -> str:
        return "/?" + urlencode({**keep, "page": n})

    def render() -> bytes:
        try:  # the ledger: read once per rendering, like the rest of the snapshot
            budgets: list[dict[str, Any]] | None = budget_rows(request)
        except Exception:  # the state store is down: the page says so, the rest renders
            log.warning("status page: budgets unavailable", exc_info=True)
            budgets = None
        return _html(
            request,
            "overview.html",
            session,
            fleet=fleet_summary(request, snap),
            budgets=budgets,
            page=page_of(request, snap.rows, snap.problems),
            q=params.get("q", ""),
            status_filter=params.get("status", ""),
            problems=params.get("problems") == "true",
            page_url=page_url,
        ).encode()

    try:  # rendered once per snapshot, query and viewer (the CSRF token is in the page)
        html = snap.rendered(("overview", request.url.query, session.csrf if session else ""), render)
    except BadParameter as exc:
        return Response(f"{exc}\n", 400, HEADERS, media_type="text/plain")
    return Response(html, 200, HEADERS, media_type="text/html")


def customer(request: Request) -> Response:
    if not access.may_view(request):
        return _to_signin(request)
    name = request.path_params["name"]
    detail = customer_detail(request, name)
    if detail is None:
        return Response("unknown customer\n", 404, HEADERS, media_type="text/plain")
    runs = daemon_of(request).scheduler.state.history(name, RUNS_SHOWN)
    plan = last_plan(request, name)
    labels = {ch.get("account_key"): ch.get("label") for ch in (plan or {}).get("changes", [])}
    return _render(
        request, "customer.html", c=detail["customer"], detail=detail, plan=plan, runs=runs, labels=labels
    )


def _next(value: str) -> str:
    """Only a path on this site (never //host or a scheme) to go back to after sign-in."""
    return value if value.startswith("/") and not value.startswith("//") and "\\" not in value else "/"


def signin_page(request: Request) -> Response:
    refusal = access.signin_refusal(daemon_of(request))
    return _render(
        request,
        "signin.html",
        403 if refusal else 200,
        refusal=refusal,
        error="",
        next=_next(request.query_params.get("next", "/")),
    )


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=20)
    return {k: v[0] for k, v in parsed.items()}


async def signin(request: Request) -> Response:
    form = await _form(request)
    return await run_in_threadpool(_signin, request, form)


def _signin(request: Request, form: dict[str, str]) -> Response:
    daemon = daemon_of(request)
    target = _next(form.get("next", "/"))
    refusal = access.signin_refusal(daemon)
    if refusal:
        return _render(request, "signin.html", 403, refusal=refusal, error="", next=target)
    if not access.same_origin(request):
        return _render(
            request, "signin.html", 403, refusal="", error="sign-in from another site", next=target
        )
    made = access.sign_in(request, form.get("token", ""))
    if made is None:
        return _render(
            request, "signin.html", 401, refusal="", error="that is not the daemon token", next=target
        )
    response = RedirectResponse(target, 303, HEADERS)
    access.set_cookie(response, daemon, made[0])
    return response


async def signout(request: Request) -> Response:
    form = await _form(request)

    def run() -> Response:
        session = access.session_of(request)
        if session is not None and access.csrf_ok(request, session, form):
            access.sign_out(request)
        response = RedirectResponse("/", 303, HEADERS)
        response.delete_cookie(access.COOKIE, path="/")
        return response

    return await run_in_threadpool(run)


async def act(request: Request) -> Response:
    form = await _form(request)
    return await run_in_threadpool(_act, request, form)


def _act(request: Request, form: dict[str, str]) -> Response:
    name, action = request.path_params["name"], request.path_params["action"]
    if action not in ("reconcile", "approve"):
        return Response("not found\n", 404, HEADERS, media_type="text/plain")
    session = access.session_of(request)
    if session is None:
        return Response("sign in first\n", 401, HEADERS, media_type="text/plain")
    if not access.csrf_ok(request, session, form):
        return Response(
            "CSRF check failed: reload the page and try again\n", 403, HEADERS, media_type="text/plain"
        )
    by = f"status page {request.client.host if request.client else '-'}"
    status, body = run_action(
        daemon_of(request), name, "override" if action == "approve" else "reconcile", by
    )
    if status == 404:
        return Response("unknown customer\n", 404, HEADERS, media_type="text/plain")
    if status >= 400:
        notice = body.get("error", "refused")
    elif action == "approve":
        notice = "Removals approved once; the customer runs now."
    else:
        notice = "Import queued; it runs now."
    return RedirectResponse(f"/customers/{name}?{urlencode({'notice': notice})}", 303, HEADERS)


def static(request: Request) -> Response:
    name = request.path_params["file"]
    if name not in ("app.css", "app.js"):
        return Response("not found\n", 404, HEADERS, media_type="text/plain")
    media = "text/css" if name.endswith(".css") else "text/javascript"
    return FileResponse(HERE / "static" / name, media_type=media, headers={"Cache-Control": "max-age=3600"})


def routes() -> list[Route]:
    return [
        Route("/", overview, methods=["GET"]),
        Route("/customers/{name}", customer, methods=["GET"]),
        Route("/signin", signin_page, methods=["GET"]),
        Route("/signin", signin, methods=["POST"]),
        Route("/signout", signout, methods=["POST"]),
        Route("/ui/customers/{name}/{action}", act, methods=["POST"]),
        Route("/static/{file}", static, methods=["GET"]),
    ]
