"""The facts an integration declares: one `Facts` per vendor folder, listed in
`reconciler.integrations.table`. Pure data (no HTTP): config validation, the
core, the registry, snapshots, the sandbox and metrics read them instead of
naming vendors.

A vendor folder `reconciler/integrations/<kind>/` holds:

- `spec.py`     its settings model (Settings `spec.connections.<kind>`) and `FACTS`;
- `client.py`   the real client, `connect(ctx)` -> a `PasswordVault` or `ContactBook`
                (and `list_organizations(settings, root)` when it can list them, R21);
- `sandbox.py`  the simulator hook-up `start(ca)` for `reconciler sandbox` (loaded
                only by the sandbox, by name, so nothing else pulls simulators in).

The file-backed twin is the same for every integration of a role
(`reconciler.providers.files`: `<customer>/<kind>.json`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import BaseModel

from reconciler.integrations.kinds import IntegrationKind, Role

C = TypeVar("C", bound=BaseModel)


@dataclass(frozen=True)
class Budget:
    """A vendor's request budget: `requests` per `window` seconds, and at most
    `concurrent` requests in flight (0: no cap), shared by every customer of one account."""

    requests: int
    window: float
    concurrent: int = 0
    # a vendor that counts requests in fixed windows and may answer 429 without a
    # usable Retry-After (IT Glue 300 s, Hudu 60 s): such a 429 waits until the window ends
    fixed_window: float = 0.0


@dataclass(frozen=True)
class Facts(Generic[C]):
    kind: IntegrationKind
    title: str  # as people write it: "IT Glue"
    settings: type[C]  # Settings spec.connections.<kind>
    link: str  # Customer spec.integrations.<link>: the customer's record there (camelCase)
    link_description: str
    matching_keys: tuple[str, ...]  # what a record is matched on, in order (R12-R14)
    record_shape: str  # what one record is, in the vendor's words
    marker_field: str  # where a created record carries its marker
    budget_of: Callable[[C], Budget]  # the rate budget a connection declares
    # the MSP-wide default budget (Settings `budgets` overrides it): a share of the
    # vendor's limit spent by every customer and process on the state; None: unlimited
    msp_budget: Budget | None = None
    owner: str = "company"  # what a customer is there: "organization" in IT Glue
    lists_organizations: bool = False  # `customers import --from <kind>` (R21)

    @property
    def role(self) -> Role:
        return self.kind.role

    @property
    def link_attr(self) -> str:
        """The link's attribute name on the config model (snake_case)."""
        return re.sub(r"(?<!^)(?=[A-Z])", "_", self.link).lower()

    @property
    def client_module(self) -> str:
        return f"reconciler.integrations.{self.kind.value}.client"

    @property
    def sandbox_module(self) -> str:
        return f"reconciler.integrations.{self.kind.value}.sandbox"

    def connection(self, connections: object) -> C | None:
        """This integration's block of Settings `spec.connections`, if configured."""
        value = getattr(connections, self.kind.value, None)
        if value is not None and not isinstance(value, self.settings):
            raise TypeError(f"connections.{self.kind.value} is a {type(value).__name__}")
        return value

    def linked_id(self, links: object) -> str | None:
        """The customer's record id in this integration (`spec.integrations`), if linked."""
        value = getattr(links, self.link_attr, None)
        return value if isinstance(value, str) and value else None

    def budget(self, connection: C) -> Budget:
        return self.budget_of(connection)
