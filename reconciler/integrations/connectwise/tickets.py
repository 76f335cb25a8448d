"""Live stage (notifications): one ConnectWise service ticket per (customer, cause).

Wire format (APIS.md §11): `POST service/tickets` with `summary` (1-100
characters), `company {id}`, `board {id}` (sent always: a default board may not
apply, unconfirmed), `status {id}` and `initialDescription`; updates are notes
(`POST service/tickets/{id}/notes`); closing is a JSON Patch of `status`.
`validate --live` reads a target's board (`GET service/boards/{id}`) and its
statuses (`GET service/boards/{id}/statuses`, each with `closedStatus`; the
field name is the one widely used clients read, unconfirmed) to check boardId,
statusId and closedStatusId.

A ticket's summary starts with its marker (`rc-<8 hex>: `, from the customer
and the cause), so a create whose answer was lost is found again instead of
sent twice (`create_once`); the ticket id itself is kept in the daemon store by
the notifier.
"""

from __future__ import annotations

import hashlib
from typing import Any

from reconciler.errors import HttpError, ProviderError
from reconciler.integrations.connectwise.client import ConnectWiseContacts, condition_string
from reconciler.providers.http import HttpApi
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


def board_statuses(api: HttpApi, base_url: str, board_id: int) -> dict[int, bool] | None:
    """A service board's statuses (id -> closed?), None when there is no such board."""
    try:
        api.get_json(f"{base_url}service/boards/{board_id}")
    except HttpError as exc:
        if exc.status == 404:
            return None
        raise
    found = api.get_json(f"{base_url}service/boards/{board_id}/statuses", params={"pageSize": 1000})
    if not isinstance(found, list):
        raise ProviderError(api.where, f"GET service/boards/{board_id}/statuses: answer is not a list")
    return {
        int(s["id"]): bool(s.get("closedStatus"))
        for s in found
        if isinstance(s, dict) and isinstance(s.get("id"), int)
    }


def check_board(
    target_name: str, board_id: int, status_id: int | None, closed_id: int, statuses: dict[int, bool] | None
) -> list[str]:
    """`validate --live` problems of one connectwise-ticket target, one line each."""
    where = f"notifications {target_name}"
    if statuses is None:
        return [f"{where}: boardId {board_id} is not a ConnectWise service board"]
    known = ", ".join(f"{i}{' (closed)' if c else ''}" for i, c in sorted(statuses.items()))
    problems = []
    if status_id is not None and status_id not in statuses:
        problems.append(f"{where}: statusId {status_id} is not a status of board {board_id} ({known})")
    if closed_id not in statuses:
        problems.append(f"{where}: closedStatusId {closed_id} is not a status of board {board_id} ({known})")
    elif not statuses[closed_id]:
        problems.append(
            f"{where}: closedStatusId {closed_id} is not a closed status of board {board_id} ({known})"
        )
    return problems


def _id(answer: Any, where: str) -> int:
    if not isinstance(answer, dict) or not isinstance(answer.get("id"), int):
        raise ProviderError(where, "a ticket in the answer has no id")
    return int(answer["id"])
