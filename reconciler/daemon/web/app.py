"""Daemon stage (HTTP): the ASGI application and its operations endpoints.

    GET  /healthz                        200 while the scheduler loop turns
    GET  /readyz                         200 while a valid config runs and no stop was asked
    GET  /metrics                        Prometheus text format
    POST /customers/{name}/reconcile     import now (R9); ?wait=SECONDS answers 200 with the result
    POST /customers/{name}/override      one-time override of a safety block, then import now

POST needs `Authorization: Bearer <token>` (Settings daemon.token, a secret
reference resolved per request, so a rotated token file needs no restart);
without a configured token the POST endpoints are off (403). Endpoints that
block (the scheduler's locks, `?wait=`) are plain functions, which starlette
runs in its thread pool, never on the event loop.
"""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from reconciler.daemon.duequeue import POLL_SECONDS
from reconciler.daemon.web import api, pages
from reconciler.daemon.web.actions import run_action, wait_seconds
from reconciler.daemon.web.common import Daemon, bearer_matches, configured_token, daemon_of, json_response
from reconciler.daemon.web.framing import BodyFraming
from reconciler.errors import SecretError

log = logging.getLogger("reconciler.daemon.http")
STALL_SECONDS = 3 * POLL_SECONDS + 60.0


def authorize(request: Request) -> Response | None:
    """None when the request carries the daemon token; else the refusal to send."""
    try:
        token = configured_token(daemon_of(request))
    except SecretError as exc:
        log.error("%s", exc)
        return json_response(503, {"error": "the daemon token is not available"})
    if token is None:
        return json_response(403, {"error": "POST endpoints are off: set daemon.token in Settings"})
    if not bearer_matches(request, token):
        return json_response(
            401, {"error": "a valid bearer token is required"}, {"WWW-Authenticate": "Bearer"}
        )
    return None


def healthz(request: Request) -> Response:
    sched = daemon_of(request).scheduler
    stalled = sched.clock.monotonic() - sched.heartbeat > STALL_SECONDS
    return json_response(503 if stalled else 200, {"status": "stalled" if stalled else "ok"})


def readyz(request: Request) -> Response:
    sched = daemon_of(request).scheduler
    ready = not sched.stopping.is_set()
    body: dict[str, Any] = {"status": "ready" if ready else "stopping"}
    if sched.source.error:
        body["config_error"] = sched.source.error
    return json_response(200 if ready else 503, body)


def metrics(request: Request) -> Response:
    return Response(daemon_of(request).metrics.exposition(), 200, media_type=CONTENT_TYPE_LATEST)


def customer_action(request: Request) -> Response:
    if request.path_params["action"] not in ("reconcile", "override"):
        return json_response(404, {"error": "not found"})
    refusal = authorize(request)
    if refusal is not None:
        return refusal
    name, action = request.path_params["name"], request.path_params["action"]
    by = f"http {request.client.host if request.client else '-'}"
    daemon = daemon_of(request)
    status, body = run_action(daemon, name, action, by, wait_seconds(request.query_params.get("wait", "0")))
    daemon.fleet.invalidate()  # whoever asked sees its effect on the overview at once
    return json_response(status, body)


async def not_found(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    headers = dict(exc.headers or {}) if isinstance(exc, HTTPException) else {}
    allowed = {m.strip() for m in headers.get("Allow", "").split(",") if m.strip()}
    if status == 405 and allowed == {"POST"} and request.method in ("GET", "HEAD"):
        status, headers = 404, {}  # a GET of an action is "not found", as it always was
    if status == 404:
        return json_response(404, {"error": "not found"})
    if status == 405:
        return json_response(405, {"error": "method not allowed"}, headers)
    return json_response(status, {"error": exc.detail if isinstance(exc, HTTPException) else "error"})


async def internal_error(request: Request, exc: Exception) -> Response:
    log.error("http %s %s: internal error: %s", request.method, request.url.path, type(exc).__name__)
    return json_response(500, {"error": "internal error"}, {"Connection": "close"})


def routes() -> list[BaseRoute]:
    return [
        *api.routes(),
        *pages.routes(),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/customers/{name}/{action:str}", customer_action, methods=["POST"]),
    ]


def build_app(daemon: Daemon) -> Starlette:
    app = Starlette(
        routes=routes(),
        middleware=[Middleware(BodyFraming)],
        exception_handlers={HTTPException: not_found, Exception: internal_error},
    )
    app.state.daemon = daemon
    return app
