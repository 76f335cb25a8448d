"""Daemon stage (HTTP): the two actions, import now and approve (override), shared by the
bearer-token endpoints and the status page's signed-in forms."""

from __future__ import annotations

import re
from typing import Any

from reconciler.config.models import NAME_PATTERN
from reconciler.daemon.scheduler import Stopping
from reconciler.daemon.web.common import Daemon
from reconciler.errors import StateError

MAX_WAIT_SECONDS = 300.0
_NAME = re.compile(NAME_PATTERN)


def run_action(
    daemon: Daemon, name: str, action: str, by: str, wait: float = 0.0
) -> tuple[int, dict[str, Any]]:
    """Queue an import now (or an override, then import now) for `name`: (status, body)."""
    sched = daemon.scheduler
    valid = _NAME.match(name) is not None
    if not valid or name not in sched.customers():
        return 404, {"error": f"unknown customer {name!r}" if valid else "unknown customer"}
    try:
        req = sched.override(name, by) if action == "override" else sched.request(name, by)
    except Stopping:
        return 503, {"error": "the daemon is stopping"}
    except StateError as exc:
        return 409, {"error": str(exc)}
    if wait and req.done.wait(wait) and req.report is not None:
        return 200, req.report.to_dict()
    return 202, {"customer": name, "queued": True, "action": action}


def wait_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        return 0.0
    if value != value:  # NaN
        return 0.0
    return max(0.0, min(value, MAX_WAIT_SECONDS))
