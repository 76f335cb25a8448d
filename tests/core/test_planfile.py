"""The one-pass saved-plan writer (core/planfile.py) against the definition it replaces:
each change's line is `json.dumps(change.to_dict(), sort_keys=True)`, byte for byte."""

from __future__ import annotations

import json

import pytest

from reconciler.core import planfile
from reconciler.core.model import (
    Account,
    AccountClass,
    DirSource,
    IntegrationKind,
    NewContact,
    NewPasswordEntry,
    WelcomeEmail,
)
from reconciler.core.plan import (
    AddAccount,
    Change,
    Conflict,
    CreateRecord,
    CustomerPlan,
    FieldDiff,
    LinkRecord,
    Plan,
    RecreateRecord,
    RemoveAccount,
    SendWelcome,
    Skipped,
    Status,
    UpdateAccount,
)

ODD = 'Zoë "q" \\ \t\n \x00 漢字 🙂 </script>'
BARE = Account("end-user/entra:1", AccountClass.END_USER, (DirSource.ENTRA,), "a@x.example")
FULL = Account(
    f"admin/ad:{ODD}",
    AccountClass.ADMIN,
    (DirSource.AD, DirSource.ENTRA),
    ODD,
    sam_account_name="sam",
    mail=ODD,
    given_name=ODD,
    surname="",
    display_name=ODD,
    entra_id="e",
    ad_guid="g",
    password_sync=True,
    self_serve=True,
    password_remember=True,
)
DIFFS = (
    FieldDiff("display_name", ODD, None),
    FieldDiff("sources", ["ad"], ["ad", "entra"]),
    FieldDiff("password_sync", False, True),
    FieldDiff("count", 1, 2.5),
)

SAMPLES: list[Change] = [
    AddAccount("k", "a@x.example", "R1", "new", BARE),
    AddAccount(ODD, ODD, ODD, ODD, FULL),
    UpdateAccount("k", "l", "R1", "changed", FULL, DIFFS),
    UpdateAccount("k", "l", "R1", "changed", BARE, ()),
    RemoveAccount("k", ODD, "R5", "gone", FULL),
    LinkRecord("k", ODD, "R13", "one match", IntegrationKind.ITGLUE, ODD, ODD),
    LinkRecord("k", "l", "R13", "one match", IntegrationKind.AUTOTASK, "7"),
    CreateRecord("k", "l", "R12", "none", IntegrationKind.HUDU, NewPasswordEntry(ODD, ODD, ODD, ODD)),
    CreateRecord(
        "k",
        "l",
        "R12",
        "none",
        IntegrationKind.ITGLUE,
        NewPasswordEntry("n", "u", "c", "m", lineage="ab12cd34"),
    ),
    CreateRecord("k", ODD, "R13", "none", IntegrationKind.CONNECTWISE, NewContact(ODD, ODD, None, ODD)),
    CreateRecord("k", "l", "R13", "none", IntegrationKind.HALO, NewContact("f", "l", "e", "m", "ab12cd34")),
    RecreateRecord(
        "k", "l", "R12", "vanished", IntegrationKind.ITGLUE, NewPasswordEntry("n", "u", "c", "m"), "old"
    ),
    SendWelcome("k", "l", "R16", "new", WelcomeEmail(ODD, ODD, ODD, ODD)),
]


@pytest.mark.parametrize("change", SAMPLES, ids=lambda c: type(c).__name__)
def test_each_change_line_is_the_generic_encoding(change: Change) -> None:
    assert planfile.change_json(change) == json.dumps(change.to_dict(), sort_keys=True)


def test_every_kind_with_a_line_of_its_own_has_samples() -> None:
    assert set(planfile._LINES) <= {type(c) for c in SAMPLES}


def test_a_whole_plan_is_the_generic_text() -> None:
    conflict = Conflict(ODD, ODD, IntegrationKind.ITGLUE, ODD, (("1", ODD, ODD), ("2", "n", "d")), ODD)
    skipped = (Skipped("end-user", ODD, "guest", "R19", ODD, "id"),)
    customers = (
        CustomerPlan("acme", Status.OK, 3, tuple(SAMPLES), (conflict,), (ODD,), (ODD,), "", skipped),
        CustomerPlan("empty", Status.REFUSED, 0, reason=ODD),
    )
    plan = Plan("digest", "2026-01-01T00:00:00+00:00", customers, ("acme",))
    assert planfile.plan_text(plan) == planfile.reference_text(plan)
    assert planfile.plan_text(Plan("d", "t")) == planfile.reference_text(Plan("d", "t"))
