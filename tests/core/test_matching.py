"""Matching integration records to accounts: R12-R14, R18."""

from __future__ import annotations

from reconciler.config.models import Pin
from reconciler.core.matching import Decision, match_contacts, match_password_entries
from reconciler.core.model import (
    Account,
    AccountClass,
    DirSource,
    IntegrationKind,
    Link,
    PasswordEntry,
    PsaContact,
)

IT = IntegrationKind.ITGLUE
CW = IntegrationKind.CONNECTWISE


def account(n: int, sources: tuple[DirSource, ...] = (DirSource.ENTRA,), **kw: object) -> Account:
    base: dict[str, object] = {
        "upn": f"user{n}@acme.com",
        "sam_account_name": f"user{n}",
        "mail": f"user{n}@acme.com",
        "given_name": f"Given{n}",
        "surname": f"Sur{n}",
    }
    base.update(kw)
    return Account(f"end-user/x:{n}", AccountClass.END_USER, sources, **base)  # type: ignore[arg-type]


def entry(rid: str, username: str | None, category: str | None, **kw: object) -> PasswordEntry:
    return PasswordEntry(IT, rid, f"entry {rid}", username, category, **kw)  # type: ignore[arg-type]


def decide(
    accounts: list[Account], entries: list[PasswordEntry], **kw: object
) -> dict[str, tuple[Decision, str | None]]:
    links = kw.get("links", {})
    pins = kw.get("pins", [])
    results = match_password_entries("acme", accounts, entries, links, pins, IT)  # type: ignore[arg-type]
    return {r.account.upn: (r.decision, r.record_id) for r in results}


def test_r12_one_match_links_none_creates() -> None:
    got = decide([account(1), account(2)], [entry("10", "USER1@acme.com", "Office 365")])
    assert got == {"user1@acme.com": (Decision.LINK, "10"), "user2@acme.com": (Decision.CREATE, None)}


def test_r12_matches_sam_account_name_too() -> None:
    got = decide([account(1, (DirSource.AD,))], [entry("10", "user1", "Active Directory")])
    assert got["user1@acme.com"] == (Decision.LINK, "10")


def test_r13_category_must_fit_the_source() -> None:
    entries = [
        entry("10", "user1@acme.com", "Active Directory"),
        entry("11", "user2@acme.com", "Azure Active Directory"),
    ]
    got = decide([account(1), account(2, (DirSource.AD,))], entries)
    # Entra account vs AD category, AD account vs Entra category: neither matches
    assert got == {"user1@acme.com": (Decision.CREATE, None), "user2@acme.com": (Decision.CREATE, None)}


def test_r13_password_synced_accounts_accept_both_categories() -> None:
    got = decide([account(1, (DirSource.AD, DirSource.ENTRA))], [entry("10", "user1", "Microsoft 365")])
    assert got["user1@acme.com"] == (Decision.LINK, "10")


def test_r13_uncategorised_and_archived_entries_never_match() -> None:
    entries = [
        entry("10", "user1@acme.com", None),
        entry("11", "user1@acme.com", "Office 365", archived=True),
    ]
    assert decide([account(1)], entries)["user1@acme.com"] == (Decision.CREATE, None)


def test_r18_several_candidates_make_a_conflict_with_candidates() -> None:
    entries = [entry("10", "user1@acme.com", "Office 365"), entry("11", "user1", "Azure AD")]
    results = match_password_entries("acme", [account(1)], entries, {}, [], IT)
    assert results[0].decision is Decision.CONFLICT
    assert [c.id for c in results[0].candidates] == ["10", "11"]


def test_r18_a_pin_overrides_matching() -> None:
    entries = [entry("10", "user1@acme.com", "Office 365"), entry("11", "user1", "Azure AD")]
    pins = [Pin(account="USER1@acme.com", integration="itglue", record_id="11")]  # type: ignore[arg-type]
    assert decide([account(1)], entries, pins=pins)["user1@acme.com"] == (Decision.LINK, "11")


def test_r18_a_pin_to_a_missing_record_is_reported() -> None:
    pins = [Pin(account="user1@acme.com", integration="itglue", record_id="99")]  # type: ignore[arg-type]
    assert decide([account(1)], [], pins=pins)["user1@acme.com"][0] is Decision.MISSING_PIN


def test_existing_link_is_kept_and_a_vanished_record_is_rematched() -> None:
    a1, a2 = account(1), account(2)
    links = {(a1.key, IT): Link(a1.key, IT, "10"), (a2.key, IT): Link(a2.key, IT, "gone")}
    entries = [entry("10", "someone-else", "Office 365")]
    got = decide([a1, a2], entries, links=links)
    assert got == {"user1@acme.com": (Decision.KEEP, "10"), "user2@acme.com": (Decision.CREATE, None)}


def test_a_record_we_created_earlier_is_found_by_its_marker() -> None:
    a1 = account(1)
    own = entry("77", "user1@acme.com", "Office 365", marker=f"acme/{a1.key}")
    dup = entry("78", "user1@acme.com", "Office 365")
    assert decide([a1], [own, dup])["user1@acme.com"] == (Decision.LINK, "77")


def contact(rid: str, first: str, last: str, emails: tuple[str, ...] = (), active: bool = True) -> PsaContact:
    return PsaContact(CW, rid, first, last, emails, active)


def test_r14_contacts_by_email_then_name_case_insensitive() -> None:
    contacts = [
        contact("1", "X", "Y", ("other@x.com", "USER1@ACME.COM")),
        contact("2", "given2", "SUR2"),
        contact("3", "Given3", "Sur3", active=False),
    ]
    results = match_contacts("acme", [account(1), account(2), account(3)], contacts, {}, [], CW)
    got = {r.account.upn: (r.decision, r.record_id) for r in results}
    assert got == {
        "user1@acme.com": (Decision.LINK, "1"),
        "user2@acme.com": (Decision.LINK, "2"),
        "user3@acme.com": (Decision.CREATE, None),  # inactive contacts never match
    }


def test_r14_email_match_wins_over_names_and_duplicates_conflict() -> None:
    contacts = [
        contact("1", "Given1", "Sur1"),
        contact("2", "A", "B", ("user1@acme.com",)),
        contact("3", "C", "D", ("user1@acme.com",)),
    ]
    results = match_contacts("acme", [account(1)], contacts, {}, [], CW)
    assert results[0].decision is Decision.CONFLICT
    assert {c.id for c in results[0].candidates} == {"2", "3"}
