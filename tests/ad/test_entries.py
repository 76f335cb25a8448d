"""Pure pieces of the AD reader: attribute decoding, names, state round trip (no DC needed)."""

from __future__ import annotations

import uuid

import pytest

from reconciler.config.adnames import is_well_known_sid
from reconciler.config.models import TlsMode
from reconciler.core.model import DirectoryGroup, DirectoryUser, DirSource
from reconciler.providers.ldap.conn import scrub, split_server
from reconciler.providers.ldap.entries import Entry, guid_text, immutable_id, sid_text, to_user
from reconciler.providers.ldap.state import (
    DcIdentity,
    SelectedGroup,
    SelectedOu,
    SyncState,
    respell,
    snapshot,
)

# 00112233-4455-6677-8899-aabbccddeeff as AD stores it: the first three fields little-endian
GUID_BYTES = bytes.fromhex("33221100554477668899aabbccddeeff")


def test_object_guid_bytes_to_text_and_immutable_id() -> None:
    assert guid_text(GUID_BYTES) == "00112233-4455-6677-8899-aabbccddeeff"
    # Entra's onPremisesImmutableId is base64 of the raw bytes, not of the text
    assert immutable_id(GUID_BYTES, None) == "MyIRAFVEd2aImaq7zN3u/w=="
    assert immutable_id(GUID_BYTES, b"\x01" * 16) == "AQEBAQEBAQEBAQEBAQEBAQ=="


def test_sid_decoding() -> None:
    # S-1-5-21-1004336348-1177238915-682003330-512 (Domain Admins of some domain)
    raw = bytes([1, 5, 0, 0, 0, 0, 0, 5]) + b"".join(
        n.to_bytes(4, "little") for n in (21, 1004336348, 1177238915, 682003330, 512)
    )
    assert sid_text(raw) == "S-1-5-21-1004336348-1177238915-682003330-512"
    assert sid_text(bytes([1, 2, 0, 0, 0, 0, 0, 5, 32, 0, 0, 0, 33, 2, 0, 0])) == "S-1-5-32-545"
    with pytest.raises(ValueError):
        sid_text(bytes([1, 5, 0, 0, 0, 0, 0, 5, 21, 0]))


@pytest.mark.parametrize(
    ("sid", "known"),
    [
        ("S-1-5-32-544", True),
        ("S-1-5-21-1-2-3-512", True),
        ("S-1-5-21-1-2-3-498", True),  # Enterprise Read-only Domain Controllers
        ("S-1-5-21-1-2-3-553", True),
        ("S-1-5-21-1-2-3-1105", False),
    ],
)
def test_well_known_sids(sid: str, known: bool) -> None:
    assert is_well_known_sid(sid) is known


def test_user_from_raw_attributes() -> None:
    raw = {
        "objectGUID": [GUID_BYTES],
        "userPrincipalName": ["zoë@example.test".encode()],
        "sAMAccountName": [b"zoe"],
        "userAccountControl": [b"514"],
        "primaryGroupID": [b"513"],
        "memberOf": [b"CN=A,DC=x", b"CN=B,DC=x"],
        "mS-DS-ConsistencyGuid": [],
    }
    user = to_user(Entry("CN=Zoe,DC=x", raw))
    assert user.id == "00112233-4455-6677-8899-aabbccddeeff"
    assert user.upn == "zoë@example.test"
    assert user.enabled is False and user.primary_group_id == 513
    assert user.member_of == ("CN=A,DC=x", "CN=B,DC=x") and user.mail is None


@pytest.mark.parametrize(
    ("server", "mode", "expected"),
    [
        ("dc1.example.test", TlsMode.LDAPS, ("dc1.example.test", 636)),
        ("dc1.example.test", TlsMode.STARTTLS, ("dc1.example.test", 389)),
        ("dc1:3269", TlsMode.LDAPS, ("dc1", 3269)),
        ("ldaps://dc1", TlsMode.LDAPS, ("dc1", 636)),
        ("[::1]:636", TlsMode.LDAPS, ("::1", 636)),
        ("[::1]", TlsMode.PLAIN_INSECURE, ("::1", 389)),
    ],
)
def test_split_server(server: str, mode: TlsMode, expected: tuple[str, int]) -> None:
    assert split_server(server, mode) == expected


def test_scrub_masks_secrets_and_unwraps_ldap3_tuples() -> None:
    text = "(\"('socket error: bind as admin@x with S3cret! failed',)\",)"
    assert scrub(text, ["S3cret!", "admin@x"]) == "socket error: bind as *** with *** failed"


def test_respell_replaces_the_selected_suffix_only() -> None:
    suffixes = {"cn=r&d,ou=g,dc=x": "CN=R\\26D,OU=G,DC=x"}
    assert respell("CN=R&D,OU=G,DC=x", suffixes) == "CN=R\\26D,OU=G,DC=x"
    assert respell("CN=Ann,CN=R&D,OU=G,DC=x", suffixes) == "CN=Ann,CN=R\\26D,OU=G,DC=x"
    assert respell("CN=Other,OU=G,DC=x", suffixes) == "CN=Other,OU=G,DC=x"


def test_state_survives_the_cursor_store_and_gives_the_same_snapshot() -> None:
    user = DirectoryUser(
        DirSource.AD, str(uuid.uuid4()), "a@x", "a", "a@x", "A", "B", "A B", True,
        immutable_id="AAAA", dn="CN=A,OU=S,DC=x", member_of=("CN=G,OU=S,DC=x", "CN=Other,DC=x"),
        primary_group_id=513,
    )  # fmt: skip
    nested = DirectoryGroup(
        DirSource.AD, "n-guid", "N", "CN=N,OU=S,DC=x", "S-1-5-21-1-2-3-1200", ("CN=G,OU=S,DC=x",)
    )
    state = SyncState(DcIdentity("CN=NTDS Settings,CN=DC1", "inv"), 42, "scope", "DC=x")
    state.ous["OU=S,DC=x"] = SelectedOu("OU=S,DC=x", "ou-guid", "OU=S,DC=x", {user.id})
    state.groups["CN=G,OU=S,DC=x"] = SelectedGroup(
        "CN=G,OU=S,DC=x",
        "g-guid",
        "CN=G,OU=S,DC=x",
        "S-1-5-21-1-2-3-1100",
        1100,
        "G",
        (),
        {user.id},
        {"n-guid"},
    )
    state.users[user.id] = user
    state.nested_groups[nested.id] = nested
    again = SyncState.from_json(state.to_json())
    assert again is not None and again.to_json() == state.to_json()
    snap = snapshot(again)
    # groups nobody selected are left out of member_of
    assert snap.users[0].member_of == ("CN=G,OU=S,DC=x",)
    assert [g.id for g in snap.groups] == ["g-guid", "n-guid"]
    assert SyncState.from_json('{"v": 0}') is None and SyncState.from_json("not json") is None
