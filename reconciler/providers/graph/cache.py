"""Live stage (Entra): the copy of a tenant's users kept between runs, for delta sync.

Two cursors per customer in the state store:

    entra.users   every user as a row of USER_SELECT values (assignedLicenses
                  reduced to the sorted skuIds), zlib + base64 ("z2:..."), tagged with
                  a random version; written only when the users changed
    entra.delta   small JSON: the delta link, when the last full read was, the
                  selection key, and the version of entra.users it belongs to

`entra.users` is written before `entra.delta`; a crash in between leaves a
version mismatch, which reads as "no usable cache" (a full read), never as a
wrong user list.
"""

from __future__ import annotations

import base64
import json
import secrets
import zlib
from dataclasses import dataclass
from typing import Any

from reconciler.core.model import DirectoryUser, DirSource
from reconciler.providers.base import CursorStore
from reconciler.providers.graph.client import USER_SELECT

USERS_CURSOR = "entra.users"
STATE_CURSOR = "entra.delta"
FORMAT = 4  # 4: skuIds and userType kept
Row = list[Any]

_INDEX = {name: i for i, name in enumerate(USER_SELECT)}
_ID, _UPN, _MAIL = _INDEX["id"], _INDEX["userPrincipalName"], _INDEX["mail"]
_GIVEN, _SURNAME, _DISPLAY = _INDEX["givenName"], _INDEX["surname"], _INDEX["displayName"]
_ENABLED, _LICENSES = _INDEX["accountEnabled"], _INDEX["assignedLicenses"]
_IMMUTABLE, _SAM, _PROXIES = (
    _INDEX["onPremisesImmutableId"],
    _INDEX["onPremisesSamAccountName"],
    _INDEX["proxyAddresses"],
)
_USER_TYPE = _INDEX["userType"]


def _sku_ids(value: Any) -> list[str]:
    """assignedLicenses -> sorted skuIds (disabled plans are not kept)."""
    if not isinstance(value, list):
        return []
    return sorted(
        {str(lic.get("skuId")).lower() for lic in value if isinstance(lic, dict) and lic.get("skuId")}
    )


def row_of(obj: dict[str, Any]) -> Row:
    """A Graph user as a row (unselected fields and @odata annotations dropped).
    Of the assigned licences only the skuIds are kept."""
    row = [obj.get(name) for name in USER_SELECT]
    row[_LICENSES] = _sku_ids(row[_LICENSES])
    return row


def merge(row: Row, obj: dict[str, Any]) -> None:
    """Apply a delta item: only the fields it carries (a minimal answer has only changes)."""
    for name, value in obj.items():
        i = _INDEX.get(name)
        if i is not None:
            row[i] = _sku_ids(value) if i == _LICENSES else value


def user_of(row: Row) -> DirectoryUser:
    """A Graph user as the core sees it. Licensed = any assigned license (R1)."""
    return DirectoryUser(
        source=DirSource.ENTRA,
        id=str(row[_ID]),
        upn=str(row[_UPN] or ""),
        sam_account_name=row[_SAM],
        mail=row[_MAIL],
        given_name=row[_GIVEN],
        surname=row[_SURNAME],
        display_name=row[_DISPLAY],
        enabled=row[_ENABLED] is True,  # unknown is not "enabled": such a user is not imported
        licensed=bool(row[_LICENSES]),
        immutable_id=row[_IMMUTABLE],
        proxy_addresses=tuple(str(a) for a in row[_PROXIES] or ()),
        user_type=row[_USER_TYPE],
        sku_ids=tuple(row[_LICENSES] or ()),
    )


@dataclass
class TenantCache:
    key: str
    full_at: float
    delta_link: str
    rows: dict[str, Row]
    version: str = ""


def load(cursors: CursorStore, customer: str, key: str) -> tuple[TenantCache | None, str]:
    """The cache, or None and why it cannot be used."""
    raw_state = cursors.get_cursor(customer, STATE_CURSOR)
    if not raw_state:
        return None, "first read of this tenant"
    try:
        state = json.loads(raw_state)
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            return None, "cache format changed"
        if state.get("key") != key:
            return None, "tenant, Graph URL, selected fields or scope changed"
        raw_users = cursors.get_cursor(customer, USERS_CURSOR) or ""
        users = json.loads(zlib.decompress(base64.b64decode(raw_users.removeprefix("z2:"))))
        if users.get("version") != state["users"] or users.get("fields") != list(USER_SELECT):
            return None, "cached users do not match the delta link"
        rows = {str(row[_ID]): row for row in users["rows"]}
        return TenantCache(key, float(state["fullAt"]), str(state["deltaLink"]), rows, users["version"]), ""
    except (ValueError, KeyError, TypeError, AttributeError, zlib.error):
        return None, "cached users unreadable"


def save(cursors: CursorStore, customer: str, cache: TenantCache, users_changed: bool) -> None:
    if users_changed or not cache.version:
        cache.version = secrets.token_hex(8)
        data = {"version": cache.version, "fields": list(USER_SELECT), "rows": list(cache.rows.values())}
        text = json.dumps(data, separators=(",", ":"))
        cursors.put_cursor(
            customer, USERS_CURSOR, "z2:" + base64.b64encode(zlib.compress(text.encode(), 1)).decode()
        )
    state = {
        "format": FORMAT,
        "key": cache.key,
        "fullAt": cache.full_at,
        "deltaLink": cache.delta_link,
        "users": cache.version,
    }
    cursors.put_cursor(customer, STATE_CURSOR, json.dumps(state))
