"""Config stage: what belongs to one customer only (a rule of `rules.check`).

A copied customer file that keeps the original's Entra tenant, AD domain
controller or integration ids would read the same people twice and send each a
second welcome email, or cross-link records between customers. So each of these
identifies exactly one customer, and the later customer is reported with the
location of the first:

- the Entra tenant id (a GUID, compared case-insensitively);
- the Active Directory: the same domain controller host (any port: 389, 636 and
  the global catalog all read one directory) with the same base DN or one inside
  the other;
- every integration link (`spec.integrations.*`, whatever integrations exist):
  one IT Glue organization, Hudu company, PSA company... per customer.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from reconciler.config.adnames import is_under, normalize_dn
from reconciler.config.load import ConfigSet, Loaded
from reconciler.config.models import CustomerDoc
from reconciler.config.yamlsrc import Path_
from reconciler.errors import Problem
from reconciler.integrations.table import TABLE


@dataclass(frozen=True)
class _Claim:
    customer: str
    loaded: Loaded[CustomerDoc]
    path: Path_

    def where(self) -> str:
        at = self.loaded.src.where(self.path)
        return f"{at.file}:{at.line}:{at.column}"


def check_unique(config: ConfigSet) -> list[Problem]:
    return [*_unique_tenants(config), *_unique_directories(config), *_unique_links(config)]


def _customers(config: ConfigSet) -> Iterator[tuple[str, Loaded[CustomerDoc]]]:
    # in load order (files sorted by path): the later copy is the one reported
    yield from config.customers.items()


def _duplicate(claim: _Claim, first: _Claim, what: str, why: str) -> Problem:
    return claim.loaded.src.problem(
        claim.path,
        f"{what} is already used by customer {first.customer!r} ({first.where()}); {why}",
    )


def _unique_tenants(config: ConfigSet) -> Iterator[Problem]:
    seen: dict[str, _Claim] = {}
    for name, loaded in _customers(config):
        entra = loaded.doc.spec.directories.entra
        if entra is None:
            continue
        claim = _Claim(name, loaded, ("spec", "directories", "entra", "tenantId"))
        key = entra.tenant_id.lower()
        if key in seen:
            yield _duplicate(
                claim,
                seen[key],
                f"Entra tenant {entra.tenant_id}",
                "a tenant belongs to one customer, or its people are imported and welcomed twice",
            )
            continue
        seen[key] = claim


def server_host(server: str) -> str:
    """The host of an AD `server` value ('dc1', 'dc1:636', 'ldaps://dc1', '[::1]:636'), case-folded."""
    text = server.strip().lower()
    for scheme in ("ldaps://", "ldap://"):
        text = text.removeprefix(scheme)
    if text.startswith("["):
        return text[1:].partition("]")[0]
    if text.count(":") == 1:
        text = text.partition(":")[0]
    return text.rstrip(".")


def _unique_directories(config: ConfigSet) -> Iterator[Problem]:
    seen: list[tuple[str, str, _Claim]] = []
    for name, loaded in _customers(config):
        ad = loaded.doc.spec.directories.active_directory
        if ad is None:
            continue
        host, base = server_host(ad.server), normalize_dn(ad.base_dn)
        claim = _Claim(name, loaded, ("spec", "directories", "activeDirectory", "baseDn"))
        first = next(
            (c for h, b, c in seen if h == host and (is_under(base, b) or is_under(b, base))),
            None,
        )
        if first is not None:
            yield _duplicate(
                claim,
                first,
                f"Active Directory {ad.base_dn} on {ad.server}",
                "one directory (or a subtree of it) belongs to one customer, or its people are imported twice",
            )
            continue
        seen.append((host, base, claim))


def _unique_links(config: ConfigSet) -> Iterator[Problem]:
    seen: dict[tuple[str, str], _Claim] = {}
    for name, loaded in _customers(config):
        links = loaded.doc.spec.integrations
        for facts in TABLE.values():  # every integration there is, Halo included once it is in the table
            value = facts.linked_id(links)
            if value is None:
                continue
            claim = _Claim(name, loaded, ("spec", "integrations", facts.link))
            key = (facts.link, value.strip().lower())
            if key in seen:
                yield _duplicate(
                    claim,
                    seen[key],
                    f"{facts.link} {value}",
                    "each integration record links to one customer, or records are cross-linked",
                )
                continue
            seen[key] = claim
