"""Daemon stage (notifications): PSA tickets, one per (customer, cause).

A ticket is opened once: its key (`<target>|<customer>|<cause>`) is claimed in
the daemon store with `add_record` before the create, so a second replica that
sees the same cause backs off, and the ticket id is kept there, so a restart
notes and closes the same ticket. Before any create the PSA is searched for the
cause's marker (`rc-<8 hex>: ` at the start of the summary/title), so a create
that went through but whose answer or bookkeeping was lost (a crash, a timeout)
is adopted instead of sent again. A reminder is a note (ConnectWise), an
updated description (Autotask) or an action (Halo); a resolve closes it with the
target's `closedStatusId`. A customer without a link to the target's PSA gets no
ticket (nothing to file it under).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

import httpx

from reconciler.config.models import NotificationTarget, SettingsSpec
from reconciler.config.resolve import EffectiveCustomer
from reconciler.daemon.clock import Clock
from reconciler.daemon.notify import targets as wire
from reconciler.integrations.autotask.client import open_autotask
from reconciler.integrations.autotask.spec import FACTS as AUTOTASK
from reconciler.integrations.autotask.tickets import AutotaskTickets
from reconciler.integrations.connectwise.client import open_connectwise
from reconciler.integrations.connectwise.spec import FACTS as CONNECTWISE
from reconciler.integrations.connectwise.tickets import ConnectWiseTickets, ticket_marker
from reconciler.integrations.facts import Facts
from reconciler.integrations.halo.client import open_halo
from reconciler.integrations.halo.spec import FACTS as HALO
from reconciler.integrations.halo.tickets import HaloTickets
from reconciler.providers.base import ProviderContext
from reconciler.state.api import DaemonStore, StateStore

log = logging.getLogger("reconciler.daemon.notify")
TICKETS = "ticket"  # daemon-store records: "<target>|<customer>|<cause>" -> {id, opened_at}
REOPEN_CLAIM_SECONDS = 600.0  # a claim without a ticket id this old was left by a crash
PSA: dict[str, Facts[Any]] = {
    "connectwise-ticket": CONNECTWISE,
    "autotask-ticket": AUTOTASK,
    "halo-ticket": HALO,
}
TICKET_TYPES = tuple(PSA)


class _Desk(Protocol):
    def open_for(self, target: NotificationTarget, marker: str, title: str, text: str) -> int: ...
    def find(self, marker: str) -> int | None: ...
    def note(self, ticket_id: int, text: str) -> None: ...
    def close(self, ticket_id: int, status_id: int, text: str) -> None: ...
    def close_client(self) -> None: ...


class _ConnectWiseDesk(ConnectWiseTickets):
    def open_for(self, target: NotificationTarget, marker: str, title: str, text: str) -> int:
        assert target.board_id is not None
        return self.open(marker, title, text, target.board_id, target.status_id)


class _AutotaskDesk(AutotaskTickets):
    def open_for(self, target: NotificationTarget, marker: str, title: str, text: str) -> int:
        assert target.queue_id and target.status_id and target.priority_id
        return self.open(marker, title, text, target.queue_id, target.status_id, target.priority_id)


class _HaloDesk(HaloTickets):
    def open_for(self, target: NotificationTarget, marker: str, title: str, text: str) -> int:
        assert target.ticket_type_id is not None
        return self.open(marker, title, text, target.ticket_type_id, target.status_id)


def _desk(target: NotificationTarget, ctx: ProviderContext) -> _Desk:
    if target.type == "connectwise-ticket":
        return _ConnectWiseDesk(open_connectwise(ctx))
    if target.type == "halo-ticket":
        users = open_halo(ctx)
        return _HaloDesk(users.api, users.client_id, users.token_api)
    contacts = open_autotask(ctx)
    return _AutotaskDesk(contacts.api, contacts.zone_url, contacts.company_id)


class TicketFiler:
    """Files the notifier's events as PSA tickets (runs on the delivery thread)."""

    def __init__(
        self,
        settings: Callable[[], SettingsSpec],
        root: Any,
        state: DaemonStore,
        clock: Clock,
        transport: httpx.BaseTransport | None,
        customers: Callable[[], dict[str, EffectiveCustomer]] | None,
        store: StateStore | None,
    ) -> None:
        self._settings, self._root, self._state, self._clock = settings, root, state, clock
        self._transport, self._customers, self._store = transport, customers, store

    def deliver(self, target: NotificationTarget, ev: dict[str, Any]) -> None:
        """Open, note or close `ev`'s ticket; raises (and the notifier retries) on failure."""
        customer = ev["customer"]
        effs = self._customers() if self._customers is not None else {}
        if not customer or customer not in effs or self._store is None:
            return  # fleet-wide causes have no company to file a ticket under
        eff = effs[customer]
        if not PSA[target.type].linked_id(eff.doc.spec.integrations):
            return  # this customer is not linked to the target's PSA
        key = f"{target.name}|{customer}|{ev['cause']}"
        record = self._state.get_record(TICKETS, key)
        now = self._clock.now()
        claimed = False
        if ev["status"] != "resolved" and record is None:
            if not self._state.add_record(TICKETS, key, {"opening": now}):
                return  # another replica is opening it
            claimed = True
        elif ev["status"] != "resolved" and record is not None and "id" not in record:
            if now - float(record.get("opening", 0)) < REOPEN_CLAIM_SECONDS:
                return  # an open in progress elsewhere; the marker search finds it if it went through
        elif ev["status"] == "resolved" and (record is None or "id" not in record):
            self._state.put_record(TICKETS, key, None)
            return
        ctx = ProviderContext(self._root, self._settings(), eff, self._store, transport=self._transport)
        try:
            desk = _desk(target, ctx)
        except BaseException:
            if claimed:
                self._state.put_record(TICKETS, key, None)  # let the retry claim it again
            raise
        try:
            text = f"{ev['summary']}\n\n{wire.digest_text([ev])[1]}"
            if record is not None and "id" in record:
                if ev["status"] == "resolved":
                    assert target.closed_status_id is not None
                    desk.close(int(record["id"]), target.closed_status_id, text)
                    self._state.put_record(TICKETS, key, None)
                else:
                    desk.note(int(record["id"]), text)
                return
            self._open(desk, target, key, ev, text, now, claimed)
        finally:
            desk.close_client()

    def _open(
        self, desk: _Desk, target: NotificationTarget, key: str, ev: dict[str, Any], text: str, now: float,
        claimed: bool,
    ) -> None:  # fmt: skip
        marker = ticket_marker(ev["customer"], ev["cause"])
        try:
            found = desk.find(marker)  # made by a try whose answer or bookkeeping was lost
            ticket = (
                found if found is not None else desk.open_for(target, marker, wire.ticket_title(ev), text)
            )
        except BaseException:
            if claimed:
                self._state.put_record(TICKETS, key, None)  # let the retry claim it again
            raise
        self._state.put_record(TICKETS, key, {"id": ticket, "opened_at": now})
        log.info(
            "notification target %s: ticket %s %s for %s (%s)",
            target.name,
            ticket,
            "adopted" if found is not None else "opened",
            ev["customer"],
            ev["cause"],
        )
