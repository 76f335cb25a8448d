"""Small builders of config and live data for pure-core tests (real models, no mocks)."""

from __future__ import annotations

from typing import Any

from reconciler.config.models import CustomerDoc, ImportPolicyDoc, Safety
from reconciler.config.resolve import EffectiveCustomer, ImportBinding
from reconciler.core.model import DirectoryGroup, DirectoryUser, DirSource


def settings(**spec: Any) -> ImportPolicyDoc:
    return ImportPolicyDoc.model_validate(
        {"apiVersion": "reconciler.dev/v1", "kind": "ImportPolicy", "metadata": {"name": "p"}, "spec": spec}
    )


def customer(
    end_user: dict[str, Any] | None = None,
    admin: dict[str, Any] | None = None,
    paused: bool = False,
    pins: list[dict[str, Any]] | None = None,
    safety: Safety | None = None,
) -> EffectiveCustomer:
    doc = CustomerDoc.model_validate(
        {
            "apiVersion": "reconciler.dev/v1",
            "kind": "Customer",
            "metadata": {"name": "acme"},
            "spec": {"paused": paused, "pins": pins or []},
        }
    )
    eu = ImportBinding(settings(**end_user).spec, "policy p", "p", False) if end_user else None
    ad = ImportBinding(settings(**admin).spec, "policy a", "a", False) if admin else None
    return EffectiveCustomer("acme", doc, eu, ad, safety or Safety())


def entra(n: int, upn: str | None = None, **kw: Any) -> DirectoryUser:
    upn = upn or f"user{n}@acme.com"
    base: dict[str, Any] = {
        "given_name": f"Given{n}",
        "surname": f"Sur{n}",
        "display_name": f"User {n}",
        "mail": upn,
        "licensed": True,
        "enabled": True,
    }
    base.update(kw)
    return DirectoryUser(DirSource.ENTRA, f"e-{n}", upn, **base)


def ad(n: int, dn: str, groups: tuple[str, ...] = (), **kw: Any) -> DirectoryUser:
    upn = kw.pop("upn", f"user{n}@acme.local")
    base: dict[str, Any] = {
        "sam_account_name": f"user{n}",
        "given_name": f"Given{n}",
        "surname": f"Sur{n}",
        "mail": f"user{n}@acme.com",
        "immutable_id": f"imm{n}",
        "dn": dn,
        "member_of": groups,
    }
    base.update(kw)
    return DirectoryUser(DirSource.AD, f"a-{n}", upn, **base)


def group(dn: str, parents: tuple[str, ...] = ()) -> DirectoryGroup:
    return DirectoryGroup(DirSource.AD, dn, dn.split(",")[0][3:], dn=dn, member_of=parents)
