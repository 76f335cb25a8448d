"""State identity (#12): markers with and without lineage, and the identity guard."""

from __future__ import annotations

from reconciler.core.guards import identity_guard
from reconciler.core.model import (
    IntegrationKind,
    ManagedState,
    PasswordEntry,
    marker_text,
    parse_lineage,
    parse_marker,
)
from tests.core.builders import customer, entra
from tests.core.test_planning import live, managed_from

ITG = IntegrationKind.ITGLUE
L1, L2 = "a" * 32, "b" * 32


def rec(marker: str | None, lineage: str | None = None) -> tuple[IntegrationKind, PasswordEntry]:
    return ITG, PasswordEntry(ITG, "1", "n", "u", "Office 365", marker=marker, lineage=lineage)


def test_markers_with_lineage_parse_and_old_markers_stay_recognised() -> None:
    text = "notes " + marker_text("acme/end-user/entra:x", L1)
    assert parse_marker(text) == "acme/end-user/entra:x" and parse_lineage(text) == L1
    old = marker_text("acme/end-user/entra:x")
    assert parse_marker(old) == "acme/end-user/entra:x" and parse_lineage(old) is None


def test_no_accounts_but_our_markers_is_refused_with_or_without_lineage() -> None:
    for lineage in (None, L1):
        refusal = identity_guard("acme", ManagedState(lineage=L2), [rec("acme/k", lineage)])
        assert (
            refusal is not None and "the state holds no accounts for acme but 1 record in IT Glue" in refusal
        )
    assert identity_guard("acme", ManagedState(lineage=L2), [rec("other/k", L1), rec(None)]) is None


def test_a_foreign_lineage_is_refused_naming_both_unless_adopted() -> None:
    cust = customer({"source": "entra"})
    state = managed_from(cust, live(entra(1)))
    mine = ManagedState(state.serial, state.accounts, lineage=L2)
    refusal = identity_guard("acme", mine, [rec("acme/k", L1)])
    assert refusal is not None and f"state lineage {L2} differs from lineage {L1}" in refusal
    assert identity_guard("acme", mine, [rec("acme/k", L2), rec("acme/j")]) is None
    adopted = ManagedState(state.serial, state.accounts, lineage=L2, adopted=frozenset({L1}))
    assert identity_guard("acme", adopted, [rec("acme/k", L1)]) is None
