"""Config stage: Entra built-in directory roles by name and roleTemplateId (R23).

For built-in roles the roleDefinitionId of an assignment is the roleTemplateId
(../shared/APIS.md §8; MicrosoftDocs/entra-docs permissions-reference.md). A
selection names a role by its display name (case-insensitive) or by a GUID; a
GUID not in this table is taken as a custom role's definition id.
"""

from __future__ import annotations

import re

BUILTIN_ROLES: dict[str, str] = {
    "Global Administrator": "62e90394-69f5-4237-9190-012177145e10",
    "Privileged Role Administrator": "e8611ab8-c189-46e8-94e1-60213ab1f814",
    "Privileged Authentication Administrator": "7be44c8a-adaf-4e2a-84d6-ab2649e08a13",
    "User Administrator": "fe930be7-5e62-47db-91af-98c3a49a38b1",
    "Exchange Administrator": "29232cdf-9323-42fd-ade2-1d097af3e4de",
    "SharePoint Administrator": "f28a1f50-f6e7-4571-818b-6a12f2af6b6c",
    "Teams Administrator": "69091246-20e8-4a56-aa4d-066075b2a7a8",
    "Intune Administrator": "3a2c62db-5318-420d-8d74-23affee5d9d5",
    "Security Administrator": "194ae4cb-b126-40b2-bd5b-6091b380977d",
    "Application Administrator": "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3",
    "Cloud Application Administrator": "158c047a-c907-4556-b7ef-446551a6b5f7",
    "Authentication Administrator": "c4e39bd9-1100-46d3-8c65-fb160da0071f",
    "Helpdesk Administrator": "729827e3-9c14-49f7-bb1b-9608f156bbb8",
    "Billing Administrator": "b0f54661-2d74-4c50-afa3-1ec803f12efe",
    "Global Reader": "f2ef992c-3afb-46b9-b7cf-a126ee74c451",
}
_BY_LOWER = {name.lower(): tid for name, tid in BUILTIN_ROLES.items()}
NAMES_BY_ID = {tid: name for name, tid in BUILTIN_ROLES.items()}
GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def role_id(reference: str) -> str | None:
    """The roleDefinitionId a selection's role reference means, or None when unknown."""
    ref = reference.strip()
    if GUID.match(ref):
        return ref.lower()
    return _BY_LOWER.get(ref.lower())


def role_name(role_id: str) -> str:
    return NAMES_BY_ID.get(role_id.lower(), role_id)


def is_object_id(reference: str) -> bool:
    """An Entra object id (a GUID); anything else in a group selection is a display name."""
    return bool(GUID.match(reference.strip()))
