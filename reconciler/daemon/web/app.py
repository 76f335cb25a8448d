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

import hmac
import json
import logging
import re
from dataclasses import dataclass
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from reconciler.config.models import NAME_PATTERN
from reconciler.daemon.metrics import DaemonMetrics
from reconciler.daemon.scheduler import POLL_SECONDS, Scheduler, Stopping
from reconciler.daemon.web.framing import BodyFraming
from reconciler.errors import SecretError, StateError
from reconciler.secrets import resolve

log = logging.getLogger("reconciler.daemon.http")
MAX_WAIT_SECONDS = 300.0
STALL_SECONDS = 3 * POLL_SECONDS + 60.0
_NAME = re.compile(NAME_PATTERN)


@dataclass(frozen=True)
class Daemon:
    """What the endpoints reach: the running scheduler and its metrics."""

    scheduler: Scheduler
    metrics: DaemonMetrics
    tls: bool = False


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    data = (json.dumps(body, sort_keys=True) + "\n").encode()
    return Response(data, status, headers, media_type="application/json")


def daemon_of(request: Request) -> Daemon:
    daemon: Daemon = request.app.state.daemon
    return daemon


def configured_token(daemon: Daemon) -> SecretStr | None:
    """The bearer token, resolved now; None when none is configured. SecretError when
    it is configured but cannot be read (logged by the caller, never echoed)."""
    ref = daemon.scheduler.settings.token
    if ref is None:
        return None
    return resolve(ref, daemon.scheduler.source.root, "daemon token")


def bearer_matches(request: Request, token: SecretStr) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    expected = token.get_secret_value().encode()
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected)


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
    refusal = authorize(request)
    if refusal is not None:
        return refusal
    name, action = request.path_params["name"], request.path_params["action"]
    return run_action(request, name, action, f"http {request.client.host if request.client else '-'}")


def run_action(request: Request, name: str, action: str, by: str) -> Response:
    """Queue an import now (or an override, then import now) for `name`."""
    sched = daemon_of(request).scheduler
    valid = _NAME.match(name) is not None
    if not valid or name not in sched.customers():
        return json_response(404, {"error": f"unknown customer {name!r}" if valid else "unknown customer"})
    try:
        req = sched.override(name, by) if action == "override" else sched.request(name, by)
    except Stopping:
        return json_response(503, {"error": "the daemon is stopping"})
    except StateError as exc:
        return json_response(409, {"error": str(exc)})
    wait = wait_seconds(request.query_params.get("wait", "0"))
    if wait and req.done.wait(wait) and req.report is not None:
        return json_response(200, req.report.to_dict())
    return json_response(202, {"customer": name, "queued": True, "action": action})


def wait_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        return 0.0
    if value != value:  # NaN
        return 0.0
    return max(0.0, min(value, MAX_WAIT_SECONDS))


async def not_found(request: Request, exc: Exception) -> Response:
    # a known path with another method is "not found" for GET/POST (as before), 405 otherwise
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if status in (404, 405):
        if request.method in ("GET", "HEAD", "POST"):
            return json_response(404, {"error": "not found"})
        return json_response(405, {"error": "method not allowed"})
    return json_response(status, {"error": exc.detail if isinstance(exc, HTTPException) else "error"})


def routes() -> list[Route]:
    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/customers/{name}/{action:str}", customer_action_route, methods=["POST"]),
    ]


def customer_action_route(request: Request) -> Response:
    if request.path_params["action"] not in ("reconcile", "override"):
        return json_response(404, {"error": "not found"})
    return customer_action(request)


def build_app(daemon: Daemon) -> Starlette:
    app = Starlette(
        routes=routes(),
        middleware=[Middleware(BodyFraming)],
        exception_handlers={HTTPException: not_found},
    )
    app.state.daemon = daemon
    return app
