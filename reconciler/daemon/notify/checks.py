"""Daemon stage (notifications): what `validate --live` checks of the notification targets.

Autotask ticket targets name queue, status and priority ids; the live check reads
the Tickets picklists (`GET Tickets/entityInformation/fields`) and names every
configured id that is not an active value, one line each.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from reconciler.config.models import SettingsSpec
from reconciler.config.secretpaths import SecretRoots
from reconciler.errors import ReconcilerError
from reconciler.integrations.autotask.client import connect_autotask
from reconciler.integrations.autotask.spec import FACTS as AUTOTASK
from reconciler.integrations.autotask.tickets import check_target, picklists


def live_problems(spec: SettingsSpec, root: Path, transport: httpx.BaseTransport | None = None) -> list[str]:
    targets = [t for t in spec.notifications if t.type == "autotask-ticket"]
    if not targets:
        return []
    conn = AUTOTASK.connection(spec.connections)
    if conn is None:
        return [
            f"notifications {t.name}: an autotask-ticket target needs Settings connections.autotask"
            for t in targets
        ]
    where = "notifications: autotask"
    try:
        api, zone = connect_autotask(conn, root, SecretRoots.of(root, spec.secret_dirs), where, transport)
        try:
            lists = picklists(api, zone)
        finally:
            api.close()
    except ReconcilerError as exc:
        return [str(exc)]
    return [problem for t in targets for problem in check_target(t, lists)]
