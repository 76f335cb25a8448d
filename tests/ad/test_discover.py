"""`reconciler discover` against the real Samba AD: OUs with users, selectable groups."""

from __future__ import annotations

import json
from collections.abc import Iterator

import ldap3
import pytest
import yaml
from click.testing import CliRunner

from reconciler.cli import main
from tests.ad import seed
from tests.ad.conftest import AdSetup
from tests.ad.test_incremental import Lab


@pytest.fixture
def lab(admin: ldap3.Connection, scratch_ou: str) -> Iterator[Lab]:
    lab = Lab(admin, scratch_ou)
    assert admin.add(lab.team, "organizationalUnit"), admin.result
    seed.add_group(admin, lab.crew)
    yield lab


def test_discover_lists_ous_with_user_counts_and_selectable_groups(ad: AdSetup, lab: Lab) -> None:
    for name in ("ann", "bob"):
        lab.join(lab.crew, lab.user(name))
    ad.write(ous=[lab.team])
    result = CliRunner().invoke(main, ["discover", "-c", str(ad.root), "acme", "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)["activeDirectory"]
    ous = {o["dn"].lower(): o["users"] for o in data["ous"]}
    assert ous[lab.team.lower()] == 2
    groups = {g["name"]: g for g in data["groups"]}
    assert groups["Crew"]["members"] == 2 and groups["Crew"]["location"].lower() == lab.ou.lower()
    # R4 / R5: well-known and default-container groups are never offered
    assert not {"Domain Users", "Domain Admins", "Administrators", "Users"} & set(groups)

    narrowed = CliRunner().invoke(main, ["discover", "-c", str(ad.root), "acme", "--search", "crew"])
    assert "Crew" in narrowed.output and "Domain Users" not in narrowed.output

    block = CliRunner().invoke(
        main, ["discover", "-c", str(ad.root), "acme", "--search", lab.ou[5:15], "--write-selection"]
    )
    assert block.exit_code == 0, block.output
    assert yaml.safe_load(block.output)["selection"]["groups"] == [groups["Crew"]["dn"]]
