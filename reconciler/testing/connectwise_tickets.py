"""Test helpers: the service tickets of the ConnectWise Manage simulator (APIS.md §11).

- `POST service/tickets` with `summary` (required, 1-100 characters), `company
  {id}` (required, a known company), `board {id}` (a known board), `status {id}`
  (a status of that board), `initialDescription` -> 201 with the ticket;
- `GET service/tickets?conditions=...` (the simulator's conditions: `summary
  like "..."`, `company/id=N`, `closedFlag=false`);
- `POST service/tickets/{id}/notes` `{text, detailDescriptionFlag}` -> 201;
- `PATCH service/tickets/{id}` with JSON Patch `[{"op":"replace","path":"status",
  "value":{"id":N}}]`; a status marked closed sets `closedFlag`;
- `GET service/boards/{id}` -> the board, 404 when unknown; `GET
  service/boards/{id}/statuses` -> `[{id, name, closedStatus}]` (what
  `validate --live` reads).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any

from reconciler.testing.httpsim import SimRequest, SimResponse

TICKET_FIELDS = frozenset({"id", "summary", "company", "board", "status", "closedFlag"})


def _error(code: str, message: str, field_name: str | None = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message}
    if field_name:
        err["errors"] = [{"code": code, "message": message, "resource": "ticket", "field": field_name}]
    return err


@dataclass
class TicketDesk:
    """Boards -> {status id: closed?}; every ticket ever made, notes included."""

    boards: dict[int, dict[int, bool]] = field(default_factory=lambda: {1: {10: False, 11: True}})
    tickets: dict[int, dict[str, Any]] = field(default_factory=dict)
    creates: int = 0
    _next: int = 5000
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(
        self, request: SimRequest, path: str, companies: dict[int, Any], parse: Any, evaluate: Any
    ) -> SimResponse:
        board = re.fullmatch(r"service/boards/(\d+)(/statuses)?", path)
        if board is not None and request.method == "GET":
            states = self.boards.get(int(board.group(1)))
            if states is None:
                return SimResponse(404, _error("NotFound", "Board not found"))
            if board.group(2):
                return SimResponse(
                    200,
                    [
                        {"id": i, "name": f"Status {i}", "closedStatus": closed}
                        for i, closed in sorted(states.items())
                    ],
                )
            return SimResponse(200, {"id": int(board.group(1)), "name": f"Board {board.group(1)}"})
        if path == "service/tickets" and request.method == "POST":
            return self._create(request.json(), companies)
        if path == "service/tickets" and request.method == "GET":
            raw = request.q("conditions")
            tree = parse(raw) if raw else None
            with self._lock:
                hits = [
                    t for t in self.tickets.values() if tree is None or evaluate(tree, t, "", TICKET_FIELDS)
                ]
            return SimResponse(200, [dict(t) for t in hits])
        m = re.fullmatch(r"service/tickets/(\d+)(/notes)?", path)
        if m is None or int(m.group(1)) not in self.tickets:
            return SimResponse(404, _error("NotFound", "Ticket not found"))
        ticket = self.tickets[int(m.group(1))]
        if m.group(2) and request.method == "POST":
            body = request.json()
            if not isinstance(body, dict) or not str(body.get("text") or "").strip():
                return SimResponse(400, _error("InvalidObject", "text is required", "text"))
            with self._lock:
                ticket["_notes"].append(str(body["text"]))
            return SimResponse(
                201, {"id": len(ticket["_notes"]), "ticketId": ticket["id"], "text": body["text"]}
            )
        if not m.group(2) and request.method == "PATCH":
            ops = request.json()
            if not isinstance(ops, list):
                return SimResponse(400, _error("InvalidObject", "a JSON Patch array is expected"))
            for op in ops:
                if op.get("op") != "replace" or op.get("path") not in ("status", "/status"):
                    return SimResponse(
                        400, _error("InvalidObject", "only status can be patched here", "path")
                    )
                status = (op.get("value") or {}).get("id")
                states = self.boards[ticket["board"]["id"]]
                if status not in states:
                    return SimResponse(400, _error("InvalidObject", "status is not on the board", "status"))
                with self._lock:
                    ticket["status"] = {"id": status}
                    ticket["closedFlag"] = states[status]
            return SimResponse(200, dict(ticket))
        if not m.group(2) and request.method == "GET":
            return SimResponse(200, dict(ticket))
        return SimResponse(404, _error("NotFound", f"{request.method} {path} is not simulated"))

    def _create(self, body: Any, companies: dict[int, Any]) -> SimResponse:
        if not isinstance(body, dict):
            return SimResponse(400, _error("InvalidObject", "a JSON object is expected"))
        summary = str(body.get("summary") or "")
        if not 1 <= len(summary) <= 100:
            return SimResponse(400, _error("InvalidObject", "summary must be 1-100 characters", "summary"))
        company = (body.get("company") or {}).get("id")
        if company not in companies:
            return SimResponse(400, _error("InvalidObject", "company is required", "company"))
        board = (body.get("board") or {}).get("id")
        if board not in self.boards:
            return SimResponse(400, _error("InvalidObject", "board not found", "board"))
        status = (body.get("status") or {}).get("id")
        if status is None:
            status = next(iter(self.boards[board]))
        if status not in self.boards[board]:
            return SimResponse(400, _error("InvalidObject", "status is not on the board", "status"))
        with self._lock:
            self._next += 1
            self.creates += 1
            ticket: dict[str, Any] = {
                "id": self._next, "summary": summary, "company": {"id": company}, "board": {"id": board},
                "status": {"id": status}, "closedFlag": self.boards[board][status],
                "initialDescription": str(body.get("initialDescription") or ""), "_notes": [],
            }  # fmt: skip
            self.tickets[ticket["id"]] = ticket
        return SimResponse(201, dict(ticket))
