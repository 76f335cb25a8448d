"""Test helpers: ConnectWise Manage contact updates for the simulator (R25, R8).

`GET /company/contacts/{id}` and `PATCH /company/contacts/{id}` with a JSON Patch
body (`[{"op": "replace", "path": "firstName", "value": "..."}]`), as ConnectWise
documents for its PATCH calls. Only top-level contact fields may be replaced;
`integratorTags` too, so a test can see that reconciler never sends it.
"""

from __future__ import annotations

from typing import Any

from reconciler.testing.httpsim import SimRequest, SimResponse

PATCHABLE = frozenset(
    {"firstName", "lastName", "inactiveFlag", "communicationItems", "title", "integratorTags"}
)


def error(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    errors = [{"code": code, "message": message, "resource": "contact", "field": field}] if field else []
    return {"code": code, "message": message, "errors": errors}


def patch_contact(record: dict[str, Any], request: SimRequest) -> SimResponse:
    """Apply a JSON Patch to `record` in place (the caller holds the store's lock)."""
    try:
        ops = request.json()
    except ValueError:
        return SimResponse(400, error("InvalidRequest", "body is not JSON"))
    if not isinstance(ops, list) or not all(isinstance(o, dict) for o in ops):
        return SimResponse(400, error("InvalidRequest", "a PATCH body is a list of JSON Patch operations"))
    for op in ops:
        path = str(op.get("path", "")).lstrip("/")
        if op.get("op") != "replace" or path not in PATCHABLE:
            return SimResponse(400, error("InvalidField", f"cannot {op.get('op')} {path}", path or "path"))
        value = op.get("value")
        if path in ("firstName", "lastName") and (not isinstance(value, str) or not value.strip()):
            return SimResponse(400, error("NullValue", f"{path} may not be null", path))
        if path == "communicationItems":
            if not isinstance(value, list):
                return SimResponse(400, error("InvalidField", "communicationItems must be a list", path))
            value = [_item(i, n) for n, i in enumerate(value) if isinstance(i, dict)]
        record[path] = value
    return SimResponse(200, record)


def _item(item: dict[str, Any], n: int) -> dict[str, Any]:
    name = (item.get("type") or {}).get("name", "Email")
    return {
        "id": item.get("id", 900_000 + n),
        "type": {"id": item.get("type", {}).get("id", 1), "name": name},
        "value": item.get("value"),
        "defaultFlag": bool(item.get("defaultFlag", n == 0)),
        "communicationType": item.get("communicationType", "Email"),
    }
