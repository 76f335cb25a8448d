"""Test helpers: the tickets of the Halo PSA simulator (APIS.md section 9; unconfirmed
points as marked in reconciler/integrations/halo/tickets.py).

- `GET /api/TicketType` -> `[{id, name}]`;
- `POST /api/Tickets` with a JSON array: items without `id` are created (`summary`,
  `tickettype_id` of a known type, `client_id` of a known client; `details`,
  `status_id`); a type marked `needs_approval` answers 400 "CODE:APP03/2 Please
  select the CAB members to approve", as APIS.md says some types do; items with `id`
  update (`status_id` must be a known status); answers the saved ticket or list;
- `GET /api/Tickets` with `client_id`, `search` (in the summary), `open_only=true`,
  `count` -> `{"record_count", "tickets"}`;
- `POST /api/Actions` with a JSON array of `{ticket_id, note, hiddenfromuser}`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from reconciler.testing.httpsim import SimRequest, SimResponse

TICKET_FIELDS = frozenset({"id", "summary", "details", "tickettype_id", "client_id", "status_id", "site_id"})


def _text(status: int, message: str) -> SimResponse:
    return SimResponse(status, message.encode(), content_type="text/plain")


@dataclass
class HaloTicketDesk:
    """Ticket types, statuses ({id: closed?}) and every ticket ever made, actions included."""

    types: dict[int, str] = field(default_factory=lambda: {1: "Incident", 3: "Change Request"})
    needs_approval: set[int] = field(default_factory=lambda: {3})
    statuses: dict[int, bool] = field(default_factory=lambda: {1: False, 2: False, 9: True})
    tickets: dict[int, dict[str, Any]] = field(default_factory=dict)
    creates: int = 0
    _next: int = 7000
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, request: SimRequest, path: str, clients: dict[int, str]) -> SimResponse | None:
        """The answer for a tickets path (lower case), or None when `path` is not one."""
        if path == "/api/tickettype" and request.method == "GET":
            return SimResponse(200, [{"id": i, "name": n} for i, n in sorted(self.types.items())])
        if path == "/api/tickets" and request.method == "GET":
            return self._list(request)
        if path == "/api/tickets" and request.method == "POST":
            return self._post(request, clients)
        if path == "/api/actions" and request.method == "POST":
            return self._actions(request)
        return None

    def _list(self, request: SimRequest) -> SimResponse:
        client = request.q("client_id")
        search = (request.q("search") or "").lower()
        open_only = (request.q("open_only") or "").lower() == "true"
        with self._lock:
            rows = [
                _public(t) for t in self.tickets.values()
                if (client is None or str(t["client_id"]) == client) and search in t["summary"].lower()
                and not (open_only and self.statuses[t["status_id"]])
            ]  # fmt: skip
        count = request.q("count")
        page = rows[: int(count)] if count and count.isdigit() else rows
        return SimResponse(200, {"record_count": len(rows), "tickets": page})

    def _post(self, request: SimRequest, clients: dict[int, str]) -> SimResponse:
        body = request.json()
        if not isinstance(body, list) or not all(isinstance(i, dict) for i in body):
            return _text(400, "The body must be a JSON array of tickets")
        saved = []
        with self._lock:
            for item in body:
                unknown = set(item) - TICKET_FIELDS
                if unknown:
                    return _text(400, f"unknown ticket field(s): {', '.join(sorted(unknown))}")
                if "id" in item:
                    ticket = self.tickets.get(item["id"])
                    if ticket is None:
                        return _text(400, f"ticket {item['id']} does not exist")
                    if "status_id" in item and item["status_id"] not in self.statuses:
                        return _text(400, "status_id is not a known status")
                    ticket.update({k: v for k, v in item.items() if k != "id"})
                    saved.append(_public(ticket))
                    continue
                problem = self._create_problem(item, clients)
                if problem:
                    return _text(400, problem)
                self._next += 1
                self.creates += 1
                ticket = {
                    "id": self._next, "summary": str(item["summary"]), "details": str(item.get("details") or ""),
                    "tickettype_id": item["tickettype_id"], "client_id": item["client_id"],
                    "status_id": item.get("status_id", 1), "_actions": [],
                }  # fmt: skip
                self.tickets[ticket["id"]] = ticket
                saved.append(_public(ticket))
        return SimResponse(201, saved[0] if len(saved) == 1 else saved)

    def _create_problem(self, item: dict[str, Any], clients: dict[int, str]) -> str:
        if not str(item.get("summary") or "").strip():
            return "summary is required"
        if item.get("tickettype_id") not in self.types:
            return "tickettype_id is not a known ticket type"
        if item["tickettype_id"] in self.needs_approval:
            return "CODE:APP03/2 Please select the CAB members to approve"
        if item.get("client_id") not in clients:
            return "client_id is not a known client"
        if item.get("status_id", 1) not in self.statuses:
            return "status_id is not a known status"
        return ""

    def _actions(self, request: SimRequest) -> SimResponse:
        body = request.json()
        if not isinstance(body, list) or not all(isinstance(i, dict) for i in body):
            return _text(400, "The body must be a JSON array of actions")
        with self._lock:
            for item in body:
                ticket = self.tickets.get(item.get("ticket_id"))
                if ticket is None or not str(item.get("note") or "").strip():
                    return _text(400, "an action needs ticket_id of a ticket and a note")
            for item in body:
                self.tickets[item["ticket_id"]]["_actions"].append(str(item["note"]))
        return SimResponse(201, [{"id": n, **i} for n, i in enumerate(body, 1)])

    def closed(self, ticket: dict[str, Any]) -> bool:
        return self.statuses[ticket["status_id"]]


def _public(ticket: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in ticket.items() if not k.startswith("_")}
