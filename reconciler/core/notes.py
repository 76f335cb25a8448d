"""Pure core: why a directory user the selection saw was not imported (R19, explain).

Every such user gets one `Note` with a `Reason` code, so plans can count them
per reason and `explain` can tell one person's story.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from reconciler.core.model import AccountClass


class Reason(StrEnum):
    UNLICENSED = "unlicensed"
    DISABLED = "disabled"
    GUEST = "guest"
    EXCLUDED = "excluded"
    NOT_SELECTED = "not-selected"  # not in a selected group / role
    NESTED_ONLY = "nested-only"
    NO_ENTRA_MATCH = "no-entra-match"
    ADMIN_OVERLAP = "admin-overlap"  # R7: imported as admin only
    OTHER = "other"


@dataclass(frozen=True)
class Note:
    """A user seen but not imported, and why (shown in the plan, R19)."""

    account_class: AccountClass
    user: str
    rule: str
    message: str
    reason: Reason = Reason.OTHER
    user_id: str = ""
