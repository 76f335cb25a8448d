"""Live stage (notifications): one Autotask ticket per (customer, cause); its picklists.

Wire format (APIS.md §11, KelvinTegelaar/AutotaskAPI `v1.json` TicketModel):
`POST Tickets` with companyID, title, description, status, priority, queueID
-> `{"itemId": N}`; `PATCH Tickets` with `id` and the fields to change (the
description on reminders, the status on resolve). Which fields the real API
requires, and the `beginsWith` operator used to find a ticket by its title
marker, are unconfirmed: the ids come from the admin and `validate --live`
checks them against `GET Tickets/entityInformation/fields`. A rejected create
is a 500 with `errors` (definitive, not retried).
"""

from __future__ import annotations

from typing import Any

from reconciler.errors import ProviderError
from reconciler.providers.http import HttpApi
from reconciler.providers.writes import create_once

PICKLIST_FIELDS = {
    "queueId": "queueID",
    "statusId": "status",
    "priorityId": "priority",
    "closedStatusId": "status",
}


class AutotaskTickets:
    def __init__(self, api: HttpApi, zone_url: str, company_id: int) -> None:
        self.api, self.base, self.company_id = api, zone_url.rstrip("/") + "/V1.0/", company_id

    def close_client(self) -> None:
        self.api.close()

    def open(self, marker: str, title: str, description: str, queue: int, status: int, priority: int) -> int:
        body = {
            "companyID": self.company_id,
            "title": f"{marker}: {title}"[:255],
            "description": description[:8000],
            "status": status,
            "priority": priority,
            "queueID": queue,
        }

        def post() -> int:
            return _item_id(
                self.api.post_json(self.base + "Tickets", json=body, idempotent=False), self.api.where
            )

        return create_once(self.api, post, lambda: self.find(marker), "create ticket", 3)

    def find(self, marker: str) -> int | None:
        query = {
            "filter": [{"op": "and", "items": [
                {"op": "eq", "field": "companyID", "value": self.company_id},
                {"op": "beginsWith", "field": "title", "value": marker + ":"},
            ]}],
            "MaxRecords": 10,
        }  # fmt: skip
        answer = self.api.post_json(self.base + "Tickets/query", json=query)
        items = answer.get("items") if isinstance(answer, dict) else None
        if not isinstance(items, list):
            raise ProviderError(self.api.where, "POST Tickets/query: no items in the answer")
        return int(items[0]["id"]) if items and isinstance(items[0].get("id"), int) else None

    def note(self, ticket_id: int, text: str) -> None:
        self.api.request("PATCH", self.base + "Tickets", json={"id": ticket_id, "description": text[:8000]})

    def close(self, ticket_id: int, status: int, text: str) -> None:
        self.api.request(
            "PATCH",
            self.base + "Tickets",
            json={"id": ticket_id, "status": status, "description": text[:8000]},
        )


def picklists(api: HttpApi, zone_url: str) -> dict[str, set[int]]:
    """The active values of each picklist field of Tickets."""
    answer = api.get_json(zone_url.rstrip("/") + "/V1.0/Tickets/entityInformation/fields")
    out: dict[str, set[int]] = {}
    for f in (answer.get("fields") if isinstance(answer, dict) else None) or ():
        if isinstance(f, dict) and f.get("isPickList"):
            values = {int(v["value"]) for v in f.get("picklistValues") or () if v.get("isActive", True)}
            out[str(f.get("name"))] = values
    return out


def check_target(target: Any, lists: dict[str, set[int]]) -> list[str]:
    """One line per configured id that is not an active value of its picklist."""
    problems = []
    for setting, field_name in PICKLIST_FIELDS.items():
        value = getattr(target, _snake(setting))
        if value is not None and field_name in lists and value not in lists[field_name]:
            problems.append(
                f"notifications {target.name}: {setting} {value} is not an active Autotask ticket "
                f"{field_name} (picklist values: {', '.join(str(v) for v in sorted(lists[field_name]))})"
            )
    return problems


def _item_id(answer: Any, where: str) -> int:
    if not isinstance(answer, dict) or not isinstance(answer.get("itemId"), int):
        raise ProviderError(where, "POST Tickets: no itemId in the answer")
    return int(answer["itemId"])


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)
