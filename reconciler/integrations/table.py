"""The integration table: one line per integration. Adding one is a folder
(`reconciler/integrations/<kind>/`, see `facts.py`) and a line here (and the
enum member in `kinds.py`).

Everything that needs "which vendors are there" reads `TABLE`: the config models
(connections, customer links), validation rules, the provider registry, the file
twins, `snapshot`, `customers import`, the sandbox and the daemon's metrics.
"""

from __future__ import annotations

from typing import Any

from reconciler.integrations.autotask.spec import FACTS as AUTOTASK
from reconciler.integrations.connectwise.spec import FACTS as CONNECTWISE
from reconciler.integrations.facts import Facts
from reconciler.integrations.hudu.spec import FACTS as HUDU
from reconciler.integrations.itglue.spec import FACTS as ITGLUE
from reconciler.integrations.kinds import IntegrationKind, Role

TABLE: dict[IntegrationKind, Facts[Any]] = {
    facts.kind: facts
    for facts in (
        ITGLUE,
        HUDU,
        CONNECTWISE,
        AUTOTASK,
    )
}


def facts_of(kind: IntegrationKind) -> Facts[Any]:
    return TABLE[kind]


def of_role(role: Role) -> tuple[Facts[Any], ...]:
    return tuple(f for f in TABLE.values() if f.role is role)


def linked(links: object, role: Role) -> tuple[Facts[Any], ...]:
    """The integrations of `role` a customer's `spec.integrations` links (R14: one PSA;
    R12: one password manager; validation says so when there are more)."""
    return tuple(f for f in of_role(role) if f.linked_id(links) is not None)
