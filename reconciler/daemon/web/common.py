"""Daemon stage (HTTP): what every endpoint module shares: the daemon handle, JSON answers,
the configured bearer token."""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import Response

from reconciler.config.secretpaths import SecretRoots
from reconciler.daemon.metrics import DaemonMetrics
from reconciler.daemon.scheduler import Scheduler
from reconciler.daemon.web.snapshot import FleetCache
from reconciler.secrets import resolve


@dataclass(frozen=True)
class Daemon:
    """What the endpoints reach: the running scheduler and its metrics, and how the
    listener is reached (loopback: viewing needs no token; tls: sign-in is allowed)."""

    scheduler: Scheduler
    metrics: DaemonMetrics
    tls: bool = False
    loopback: bool = True
    fleet: FleetCache = field(default_factory=FleetCache, compare=False)


def daemon_of(request: Request) -> Daemon:
    daemon: Daemon = request.app.state.daemon
    return daemon


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    data = (json.dumps(body, sort_keys=True) + "\n").encode()
    return Response(data, status, headers, media_type="application/json")


def configured_token(daemon: Daemon) -> SecretStr | None:
    """The bearer token, resolved now (a rotated token file needs no restart); None when
    none is configured. Raises SecretError when it is configured but cannot be read."""
    ref = daemon.scheduler.settings.token
    if ref is None:
        return None
    source = daemon.scheduler.source
    roots = SecretRoots.of(source.root, source.config.settings_doc.spec.secret_dirs)
    return resolve(ref, roots, "daemon token")


def bearer_matches(request: Request, token: SecretStr) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    expected = token.get_secret_value().encode()
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected)
