"""Pure core: which fields of a linked record the directory owns and writes (R25)."""

from __future__ import annotations

from reconciler.config.records import RecordFields
from reconciler.core.model import Account, AccountClass, DirSource, IntegrationKind, PasswordEntry, PsaContact
from reconciler.core.plan import FieldDiff
from reconciler.core.records import field_diffs, updated
from reconciler.integrations.kinds import Ownership, RecordField

KEY = "end-user/entra:id-ann"
ANN = Account(
    KEY, AccountClass.END_USER, (DirSource.ENTRA,), "ann@acme.test", mail="ann@acme.test",
    given_name="Ann", surname="Smith", display_name="Ann Smith",
)  # fmt: skip
OURS = f"acme/{KEY}"


def entry(name: str, username: str, marker: str | None = OURS) -> PasswordEntry:
    return PasswordEntry(IntegrationKind.ITGLUE, "7", name, username, "Office 365", marker=marker)


def contact(first: str, last: str, *emails: str, marker: str | None = OURS) -> PsaContact:
    return PsaContact(IntegrationKind.HALO, "9", first, last, emails, marker=marker)


def test_default_owns_entry_name_and_username_only_of_entries_we_created() -> None:
    default = RecordFields()
    stale = entry("Ann Old", "ann.old@acme.test")
    assert field_diffs("acme", ANN, stale, default) == (
        FieldDiff("entryName", "Ann Old", "Ann Smith"),
        FieldDiff("username", "ann.old@acme.test", "ann@acme.test"),
    )
    assert field_diffs("acme", ANN, entry("Ann Old", "x", marker=None), default) == ()  # matched, not ours
    assert field_diffs("acme", ANN, entry("Ann Old", "x", marker="other/" + KEY), default) == ()
    # our own marker of the same person as admin (a class move) is still ours
    assert (
        field_diffs(
            "acme", ANN, entry("Ann Smith", "ann@acme.test", marker="acme/admin/entra:id-ann"), default
        )
        == ()
    )
    # nothing of a contact by default, created by us or not
    assert field_diffs("acme", ANN, contact("A", "B", "old@acme.test"), default) == ()


def test_equal_values_plan_nothing_and_case_only_matters_for_names() -> None:
    assert field_diffs("acme", ANN, entry("Ann Smith", "ANN@acme.test"), RecordFields()) == ()
    assert field_diffs("acme", ANN, entry("ann smith", "ann@acme.test"), RecordFields()) == (
        FieldDiff("entryName", "ann smith", "Ann Smith"),
    )


def test_explicit_ownership_both_ways_and_a_blank_never_overwrites() -> None:
    psa = RecordFields(first_name=Ownership.DIRECTORY, last_name=Ownership.DIRECTORY,
                       contact_email=Ownership.DIRECTORY)  # fmt: skip
    assert field_diffs("acme", ANN, contact("Anne", "Smith", "old@acme.test", marker=None), psa) == (
        FieldDiff("firstName", "Anne", "Ann"),
        FieldDiff("contactEmail", "old@acme.test", "ann@acme.test"),
    )
    # already one of the contact's addresses: no write
    assert field_diffs("acme", ANN, contact("Ann", "Smith", "a@x.test", "ANN@acme.test"), psa) == ()
    blank = Account(KEY, AccountClass.END_USER, (DirSource.ENTRA,), "ann@acme.test")  # no names, no mail
    assert field_diffs("acme", blank, contact("Ann", "Smith", "ann@acme.test"), psa) == ()
    # a blank field on the record is filled
    assert field_diffs("acme", ANN, contact("Ann", "", marker=None), psa)[0] == FieldDiff(
        "lastName", "", "Smith"
    )
    # integration: never written, even on our own entries
    hands_off = RecordFields(entry_name=Ownership.INTEGRATION, username=Ownership.INTEGRATION)
    assert field_diffs("acme", ANN, entry("Old", "old"), hands_off) == ()
    assert RecordFields().owner(RecordField.USERNAME, created_by_us=True) is Ownership.DIRECTORY


def test_updated_record_keeps_other_addresses_and_the_marker() -> None:
    c = contact("Ann", "Smith", "old@acme.test", "alt@acme.test")
    after = updated(c, (FieldDiff("contactEmail", "old@acme.test", "ann@acme.test"),))
    assert isinstance(after, PsaContact)
    assert after.emails == ("ann@acme.test", "alt@acme.test") and after.marker == OURS
