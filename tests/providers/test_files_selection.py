"""File snapshots carry Entra groups, directory roles and licences (the offline twin of Graph)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.core.model import (
    DirectoryGroup,
    DirectoryRole,
    DirectorySnapshot,
    DirectoryUser,
    DirSource,
    RoleHolder,
    Sku,
)
from reconciler.errors import ProviderError
from reconciler.providers.files import dump_directory, load_directory

GA = "62e90394-69f5-4237-9190-012177145e10"


def test_groups_roles_and_skus_round_trip(tmp_path: Path) -> None:
    snap = DirectorySnapshot(
        (DirectoryUser(DirSource.ENTRA, "u1", "a@x.com", licensed=True, user_type="Guest", sku_ids=("s1",)),),
        (DirectoryGroup(DirSource.ENTRA, "g1", "Staff", members=("u1",), direct_members=()),),
        (
            DirectoryRole(
                GA, "Global Administrator", (RoleHolder("u1", "user"), RoleHolder("g1", "group", True))
            ),
        ),
        (Sku("s1", "SPE_E3"),),
    )
    dump_directory(tmp_path / "entra.json", snap)
    assert load_directory(tmp_path / "entra.json", DirSource.ENTRA, "acme/entra") == snap


def test_a_malformed_role_is_one_located_line(tmp_path: Path) -> None:
    (tmp_path / "entra.json").write_text(
        '{"roles": [{"id": "r", "name": "R", "holders": [{"principal_id": 1, "principal_type": "user"}]}]}'
    )
    with pytest.raises(ProviderError, match=r"entra.json: item 0: field 'principal_id' must be a string"):
        load_directory(tmp_path / "entra.json", DirSource.ENTRA, "acme/entra")
