"""Daemon stage (notifications): what `validate --live` checks of the notification targets.

Autotask ticket targets name queue, status and priority ids; the live check reads
the Tickets picklists (`GET Tickets/entityInformation/fields`) and names every
configured id that is not an active value, one line each. Halo ticket targets name
a ticket type; the check reads `GET /api/TicketType` and names a type that is not
there. ConnectWise ticket targets name a board, an optional opening status and a
closing status; the check reads the board and its statuses and names a board that
is not there, a status not on the board, and a closing status that does not close.
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
from reconciler.integrations.connectwise.client import connect_connectwise
from reconciler.integrations.connectwise.spec import FACTS as CONNECTWISE
from reconciler.integrations.connectwise.tickets import board_statuses, check_board
from reconciler.integrations.halo.client import connect_halo
from reconciler.integrations.halo.spec import FACTS as HALO
from reconciler.integrations.halo.tickets import ticket_types


def live_problems(spec: SettingsSpec, root: Path, transport: httpx.BaseTransport | None = None) -> list[str]:
    return (
        _autotask(spec, root, transport) + _halo(spec, root, transport) + _connectwise(spec, root, transport)
    )


def _connectwise(spec: SettingsSpec, root: Path, transport: httpx.BaseTransport | None) -> list[str]:
    targets = [t for t in spec.notifications if t.type == "connectwise-ticket"]
    if not targets:
        return []
    conn = CONNECTWISE.connection(spec.connections)
    if conn is None:
        return [
            f"notifications {t.name}: a connectwise-ticket target needs Settings connections.connectwise"
            for t in targets
        ]
    problems: list[str] = []
    try:
        api, base_url = connect_connectwise(
            conn, root, SecretRoots.of(root, spec.secret_dirs), "notifications: connectwise", transport
        )
        try:
            boards: dict[int, dict[int, bool] | None] = {}
            for t in targets:
                assert t.board_id is not None and t.closed_status_id is not None  # the model's rule
                if t.board_id not in boards:
                    boards[t.board_id] = board_statuses(api, base_url, t.board_id)
                problems += check_board(
                    t.name, t.board_id, t.status_id, t.closed_status_id, boards[t.board_id]
                )
        finally:
            api.close()
    except ReconcilerError as exc:
        return [str(exc)]
    return problems


def _autotask(spec: SettingsSpec, root: Path, transport: httpx.BaseTransport | None) -> list[str]:
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


def _halo(spec: SettingsSpec, root: Path, transport: httpx.BaseTransport | None) -> list[str]:
    targets = [t for t in spec.notifications if t.type == "halo-ticket"]
    if not targets:
        return []
    conn = HALO.connection(spec.connections)
    if conn is None:
        return [
            f"notifications {t.name}: a halo-ticket target needs Settings connections.halo" for t in targets
        ]
    try:
        api, tokens = connect_halo(
            conn, root, SecretRoots.of(root, spec.secret_dirs), "notifications: halo", transport
        )
        try:
            types = ticket_types(api)
        finally:
            api.close()
            tokens.close()
    except ReconcilerError as exc:
        return [str(exc)]
    known = ", ".join(f"{i} {n}" for i, n in sorted(types.items()))
    return [
        f"notifications {t.name}: ticketTypeId {t.ticket_type_id} is not a Halo ticket type ({known})"
        for t in targets
        if t.ticket_type_id not in types
    ]
