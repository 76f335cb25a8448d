"""Loading snapshot files checks a record shape once (`files._build_all`): a bad record
anywhere in a file, not only the first of its shape, is still refused with its own
located line, and good records load exactly as the record-by-record checks build them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.core.model import DirectoryUser, DirSource, IntegrationKind, PsaContact
from reconciler.errors import ProviderError
from reconciler.providers import files


def user(i: int, **kw: Any) -> dict[str, Any]:
    return {"id": f"u{i}", "upn": f"u{i}@x.com", "proxy_addresses": [f"SMTP:u{i}@x.com"], "mail": None, **kw}


def write(tmp_path: Path, users: list[dict[str, Any]]) -> Path:
    path = tmp_path / "entra.json"
    path.write_text(json.dumps({"users": users}))
    return path


def test_records_load_as_the_record_by_record_checks_build_them(tmp_path: Path) -> None:
    users = [user(i) for i in range(50)] + [user(50, licensed=True, sku_ids=[]), user(51, mail="m@x.com")]
    snap = files.load_directory(write(tmp_path, users), DirSource.ENTRA, "acme/entra")
    one_by_one = tuple(
        files._build(DirectoryUser, u, {"source": DirSource.ENTRA}, tmp_path, "w", i)
        for i, u in enumerate(users)
    )
    assert snap.users == one_by_one
    assert snap.users[0].proxy_addresses == ("SMTP:u0@x.com",) and snap.users[50].sku_ids == ()


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"proxy_addresses": ["ok", 5]}, "item 7: field 'proxy_addresses' must be a list of strings"),
        ({"proxy_addresses": 5}, "item 7: field 'proxy_addresses' must be a list of strings"),
        ({"licensed": 1}, "item 7: field 'licensed' must be true or false"),
        ({"upn": None}, "item 7: field 'upn' must not be null"),
        ({"mail": 3}, "item 7: field 'mail' must be a string"),
        ({"colour": "red"}, "item 7: unknown field colour"),
    ],
)
def test_a_bad_record_after_good_ones_of_its_shape_is_refused(
    tmp_path: Path, bad: dict[str, Any], message: str
) -> None:
    users = [user(i) for i in range(20)]
    users[7] = {**users[7], **bad}
    path = write(tmp_path, users)
    with pytest.raises(ProviderError) as err:
        files.load_directory(path, DirSource.ENTRA, "acme/entra")
    assert f"{path}: {message}" in str(err.value)


def test_a_missing_field_after_good_records_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "connectwise.json"
    contacts = [
        {"id": str(i), "first_name": "F", "last_name": "L", "emails": [f"{i}@x.com"]} for i in range(9)
    ]
    del contacts[4]["last_name"]
    path.write_text(json.dumps({"contacts": contacts}))
    with pytest.raises(ProviderError, match="item 4: missing field last_name"):
        files.FileContacts(path, IntegrationKind.CONNECTWISE, "acme").list_contacts()
    del contacts[4]
    path.write_text(json.dumps({"contacts": contacts}))
    loaded = files.FileContacts(path, IntegrationKind.CONNECTWISE, "acme").list_contacts()
    assert loaded[4] == PsaContact(IntegrationKind.CONNECTWISE, "5", "F", "L", ("5@x.com",))


def test_a_twin_keeps_its_records_between_batches_unless_the_file_changed(tmp_path: Path) -> None:
    from reconciler.core.model import NewPasswordEntry

    path = tmp_path / "itglue.json"
    vault = files.FileVault(path, IntegrationKind.ITGLUE, "acme")
    for batch in range(3):
        with vault.writes():
            for i in range(4):
                vault.create_entry(NewPasswordEntry(f"n{batch}{i}", "u", "c", f"m{batch}{i}"))
    once = path.read_text()
    generic = tmp_path / "generic.json"  # the whole-file writer of `reconciler snapshot`
    files.dump_entries(generic, vault.list_entries())
    assert once == generic.read_text() and once.count('"marker"') == 12
    # the same text as a twin that reads and writes the whole file each time
    fresh = files.FileVault(tmp_path / "other.json", IntegrationKind.ITGLUE, "acme")
    fresh.path.write_text(once)
    with fresh.writes():
        fresh.create_entry(NewPasswordEntry("last", "u", "c", "m-last"))
    # an edit from outside between batches is seen (the kept records are dropped)
    data = json.loads(once)
    data["entries"] = data["entries"][:2]
    path.write_text(json.dumps(data))
    with vault.writes():
        vault.create_entry(NewPasswordEntry("last", "u", "c", "m-last"))
    names = [e.name for e in vault.list_entries()]
    assert names == ["n00", "n01", "last"]
    ids = [e.id for e in vault.list_entries()]
    assert ids == ["1001", "1002", "1003"]
    assert [e.name for e in fresh.list_entries()][-2:] == ["n23", "last"]
    assert fresh.path.read_text().count("\n") == once.count("\n") + 1
