"""Live stage (notifications): one ConnectWise service ticket per (customer, cause).

Wire format (APIS.md §11): `POST service/tickets` with `summary` (1-100
characters), `company {id}`, `board {id}` (sent always: a default board may not
apply, unconfirmed), `status {id}` and `initialDescription`; updates are notes
(`POST service/tickets/{id}/notes`); closing is a JSON Patch of `status`.

A ticket's summary starts with its marker (`rc-<8 hex>: `, from the customer
and the cause), so a create whose answer was lost is found again instead of
sent twice (`create_once`); the ticket id itself is kept in the daemon store by
the notifier.
"""

from __future__ import annotations

import hashlib
from typing import Any

from reconciler.errors import ProviderError
from reconciler.integrations.connectwise.client import ConnectWiseContacts, condition_string
from reconciler.providers.writes import create_once


def ticket_marker(customer: str, cause: str) -> str:
    return "rc-" + hashlib.sha256(f"{customer}|{cause}".encode()).hexdigest()[:8]


class ConnectWiseTickets:
    def __init__(self, contacts: ConnectWiseContacts) -> None:
        self.api, self.base_url, self.company_id = contacts.api, contacts.base_url, contacts.company_id

    def close_client(self) -> None:
        self.api.close()

    def open(self, marker: str, title: str, description: str, board_id: int, status_id: int | None) -> int:
        body: dict[str, Any] = {
            "summary": f"{marker}: {title}"[:100],
            "company": {"id": self.company_id},
            "board": {"id": board_id},
            "initialDescription": description[:10_000],
        }
        if status_id is not None:
            body["status"] = {"id": status_id}

        def post() -> int:
            answer = self.api.post_json(self.base_url + "service/tickets", json=body, idempotent=False)
            return _id(answer, self.api.where)

        return create_once(self.api, post, lambda: self.find(marker), "create ticket", 3)

    def find(self, marker: str) -> int | None:
        """The open ticket of this company whose summary carries `marker`."""
        conditions = f"company/id={self.company_id} AND summary like {condition_string(marker + ':*')} AND closedFlag=false"
        found = self.api.get_json(self.base_url + "service/tickets", params={"conditions": conditions})
        if not isinstance(found, list):
            raise ProviderError(self.api.where, "GET service/tickets: answer is not a list")
        return _id(found[0], self.api.where) if found else None

    def note(self, ticket_id: int, text: str) -> None:
        self.api.request(
            "POST",
            f"{self.base_url}service/tickets/{ticket_id}/notes",
            json={"text": text[:10_000], "detailDescriptionFlag": True},
            idempotent=False,
        )

    def close(self, ticket_id: int, status_id: int, text: str) -> None:
        self.note(ticket_id, text)
        patch = [{"op": "replace", "path": "status", "value": {"id": status_id}}]
        self.api.request("PATCH", f"{self.base_url}service/tickets/{ticket_id}", json=patch)


def _id(answer: Any, where: str) -> int:
    if not isinstance(answer, dict) or not isinstance(answer.get("id"), int):
        raise ProviderError(where, "a ticket in the answer has no id")
    return int(answer["id"])
