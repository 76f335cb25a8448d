"""Live stage (notifications): one Halo PSA ticket per (customer, cause).

Wire format (APIS.md section 9; from maintained open-source clients, Halo's own
docs are not public):
- create: `POST /api/Tickets` with a JSON array of one ticket: `tickettype_id`,
  `summary`, `details`, `client_id` (and `status_id` when a target names the
  status of a new ticket, unconfirmed); the answer is the saved ticket or a list of
  them (as for Users). Some ticket types refuse creation with a 400 (APIS.md: "CAB
  members to approve"), reported as a definitive failure, not retried;
- find: `GET /api/Tickets?client_id=N&search=<marker>&open_only=true` ->
  `{"record_count", "tickets"}`; `search` and `open_only` are unconfirmed, so the
  answer is filtered here again (summary starts with the marker, client matches);
- a reminder is an action: `POST /api/Actions [{"ticket_id", "note",
  "hiddenfromuser": true}]` (unconfirmed: from the shape HaloAPI's New-HaloAction and
  the n8n node send);
- closing: an action with the resolution note, then `POST /api/Tickets [{"id",
  "status_id"}]` (an item with `id` updates, as for Users; unconfirmed for tickets).

A ticket's summary starts with its marker (`rc-<8 hex>: `, from the customer and
the cause), so a create whose answer was lost is found again instead of sent twice
(`create_once`); the ticket id itself is kept in the daemon store by the notifier.
"""

from __future__ import annotations

from typing import Any

from reconciler.errors import ProviderError
from reconciler.providers.http import HttpApi
from reconciler.providers.writes import create_once

SUMMARY_CHARS = 250  # Halo's summary limit is undocumented (unconfirmed); keep it short
DETAILS_CHARS = 10_000


class HaloTickets:
    def __init__(self, api: HttpApi, client_id: int, token_api: HttpApi | None = None) -> None:
        self.api, self.client_id, self.token_api = api, client_id, token_api

    def close_client(self) -> None:
        self.api.close()
        if self.token_api is not None:
            self.token_api.close()

    def open(self, marker: str, title: str, details: str, ticket_type_id: int, status_id: int | None) -> int:
        ticket: dict[str, Any] = {
            "tickettype_id": ticket_type_id,
            "summary": f"{marker}: {title}"[:SUMMARY_CHARS],
            "details": details[:DETAILS_CHARS],
            "client_id": self.client_id,
        }
        if status_id is not None:
            ticket["status_id"] = status_id

        def post() -> int:
            answer = self.api.post_json("api/Tickets", json=[ticket], idempotent=False)
            return _id(_one(answer), self.api.where)

        return create_once(self.api, post, lambda: self.find(marker), "create ticket", 3)

    def find(self, marker: str) -> int | None:
        """The client's open ticket whose summary carries `marker`."""
        params = {"client_id": self.client_id, "search": marker, "open_only": "true", "count": 50}
        body = self.api.get_json("api/Tickets", params=params)
        tickets = body.get("tickets") if isinstance(body, dict) else None
        if not isinstance(tickets, list):
            raise ProviderError(self.api.where, "GET /api/Tickets: answer has no tickets list")
        for t in tickets:
            if (
                isinstance(t, dict)
                and str(t.get("summary", "")).startswith(marker + ":")
                and t.get("client_id") in (None, self.client_id)
            ):
                return _id(t, self.api.where)
        return None

    def note(self, ticket_id: int, text: str) -> None:
        action = {"ticket_id": ticket_id, "note": text[:DETAILS_CHARS], "hiddenfromuser": True}
        self.api.request("POST", "api/Actions", json=[action], idempotent=False)

    def close(self, ticket_id: int, status_id: int, text: str) -> None:
        self.note(ticket_id, text)
        self.api.request("POST", "api/Tickets", json=[{"id": ticket_id, "status_id": status_id}])


def ticket_types(api: HttpApi) -> dict[int, str]:
    """`GET /api/TicketType` -> id: name (a list, or `{"tickettypes": [...]}`; unconfirmed)."""
    body = api.get_json("api/TicketType")
    items = body.get("tickettypes", body.get("types")) if isinstance(body, dict) else body
    if not isinstance(items, list):
        raise ProviderError(api.where, "GET /api/TicketType: answer is not a list of ticket types")
    return {
        int(t["id"]): str(t.get("name", ""))
        for t in items
        if isinstance(t, dict) and isinstance(t.get("id"), int)
    }


def _one(answer: Any) -> Any:
    return answer[0] if isinstance(answer, list) and len(answer) == 1 else answer


def _id(item: Any, where: str) -> int:
    if not isinstance(item, dict) or not isinstance(item.get("id"), int):
        raise ProviderError(where, "a ticket in the answer has no id")
    return int(item["id"])
