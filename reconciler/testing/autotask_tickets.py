"""Test helpers: the Tickets entity of the Autotask simulator (APIS.md §11).

- `GET Tickets/entityInformation/fields` -> `{"fields": [{name, isPickList,
  picklistValues: [{value, label, isActive}]}]}` for status, priority, queueID;
- `POST Tickets` with companyID, title, description, status, priority, queueID
  (required here; unconfirmed which the real one requires) -> `{"itemId": N}`; a
  missing field or a value outside its picklist is the real API's rejection:
  HTTP 500 with `{"errors": [...]}`;
- `PATCH Tickets` with `id` and the fields to change -> `{"itemId": N}`;
- `POST Tickets/query` with `eq` on companyID/id/status and `beginsWith` on title.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from reconciler.testing.httpsim import SimRequest, SimResponse

PICKLISTS = {"status": {1: "New", 8: "In Progress", 5: "Complete"}, "priority": {1: "High", 2: "Medium"},
             "queueID": {29683: "Monitoring Alert", 29682: "Client Portal"}}  # fmt: skip
REQUIRED = ("companyID", "title", "status", "priority", "queueID")


@dataclass
class AutotaskTicketDesk:
    picklists: dict[str, dict[int, str]] = field(
        default_factory=lambda: {k: dict(v) for k, v in PICKLISTS.items()}
    )
    tickets: dict[int, dict[str, Any]] = field(default_factory=dict)
    creates: int = 0
    _next: int = 7000
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, request: SimRequest, rest: str, companies: Any) -> SimResponse:
        if rest == "tickets/entityinformation/fields" and request.method == "GET":
            return SimResponse(
                200, {"fields": [self._field(name) for name in ("companyID", "title", *self.picklists)]}
            )
        if rest == "tickets/query" and request.method == "POST":
            return self._query(request.json())
        if rest == "tickets" and request.method == "POST":
            return self._create(request.json(), companies)
        if rest == "tickets" and request.method in ("PATCH", "PUT"):
            return self._update(request.json())
        return SimResponse(404, {"errors": [f"{request.method} {request.path} is not simulated"]})

    def _field(self, name: str) -> dict[str, Any]:
        values = self.picklists.get(name)
        out: dict[str, Any] = {"name": name, "isRequired": name in REQUIRED, "isPickList": values is not None}
        if values is not None:
            out["picklistValues"] = [
                {"value": str(v), "label": label, "isActive": True} for v, label in values.items()
            ]
        return out

    def _invalid(self, body: dict[str, Any]) -> list[str]:
        errors = []
        for name, values in self.picklists.items():
            if name in body and body[name] not in values:
                errors.append(f"Value {body[name]} is not a valid {name}.")
        return errors

    def _create(self, body: Any, companies: Any) -> SimResponse:
        if not isinstance(body, dict):
            return SimResponse(500, {"errors": ["Invalid ticket"]})
        errors = [f"{name} is required." for name in REQUIRED if body.get(name) in (None, "")]
        errors += self._invalid(body)
        if body.get("companyID") not in companies:
            errors.append("companyID does not exist.")
        if errors:
            return SimResponse(500, {"errors": errors})
        with self._lock:
            self._next += 1
            self.creates += 1
            self.tickets[self._next] = {**body, "id": self._next, "_updates": []}
        return SimResponse(200, {"itemId": self._next})

    def _update(self, body: Any) -> SimResponse:
        if not isinstance(body, dict) or body.get("id") not in self.tickets:
            return SimResponse(500, {"errors": ["Ticket not found."]})
        errors = self._invalid(body)
        if errors:
            return SimResponse(500, {"errors": errors})
        with self._lock:
            ticket = self.tickets[body["id"]]
            ticket["_updates"].append({k: v for k, v in body.items() if k != "id"})
            ticket.update({k: v for k, v in body.items() if k != "id"})
        return SimResponse(200, {"itemId": body["id"]})

    def _query(self, body: Any) -> SimResponse:
        items = []
        filters = (body or {}).get("filter") or []
        flat = [f for top in filters for f in (top.get("items") or [top])]
        with self._lock:
            for t in self.tickets.values():
                if all(_hit(t, f) for f in flat):
                    items.append({k: v for k, v in t.items() if not k.startswith("_")})
        return SimResponse(200, {"items": items, "pageDetails": {"count": len(items), "requestCount": 500,
                                                                 "prevPageUrl": None, "nextPageUrl": None}})  # fmt: skip


def _hit(ticket: dict[str, Any], f: dict[str, Any]) -> bool:
    value = ticket.get(f.get("field", ""))
    if f.get("op") == "eq":
        return bool(value == f.get("value"))
    if f.get("op") == "beginsWith":
        return isinstance(value, str) and value.lower().startswith(str(f.get("value")).lower())
    return False
