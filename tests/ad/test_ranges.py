"""Range retrieval on the real DC: a multi-valued attribute sent in parts
(`memberOf;range=0-1499` for a user in more groups than MaxValRange) is read whole."""

from __future__ import annotations

import ldap3

from tests.ad import seed
from tests.ad.conftest import AdSetup


def test_a_member_of_sent_in_parts_is_completed_by_range_requests(
    ad: AdSetup, admin: ldap3.Connection, scratch_ou: str
) -> None:
    groups = [f"CN=g{i},{scratch_ou}" for i in range(7)]
    user = seed.SeedUser("ranged", "Ranged User", scratch_ou, "Ranged", "User")
    seed.add_user(admin, user)
    for dn in groups:
        seed.add_group(admin, dn)
        seed.add_members(admin, dn, [user.dn])
    reader = ad.reader(ous=[scratch_ou])
    session = reader._session()
    try:
        # the DC answers a first part, as AD does past MaxValRange; the rest comes by ranges
        (entry,) = session.search(
            user.dn, "(objectClass=user)", ["memberOf;range=0-2"], scope=ldap3.BASE, paged=False
        )
        plain = next(
            iter(session.search(user.dn, "(objectClass=user)", ["memberOf"], scope=ldap3.BASE, paged=False))
        )
    finally:
        session.close()
    assert sorted(v.decode().lower() for v in entry.raw["memberOf"]) == sorted(g.lower() for g in groups)
    assert not [k for k in entry.raw if ";range=" in k]
    assert sorted(entry.raw["memberOf"]) == sorted(plain.raw["memberOf"])
    assert session.stats.searches >= 3  # the first part, then range requests until `*`
