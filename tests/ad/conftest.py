"""Fixtures for the Active Directory tests: a real Samba AD DC on loopback.

The DC is provisioned and seeded once (cached, see reconciler/testing/samba.py)
and shared by every test of the session. Samba is installed when missing; these
tests never skip -- without root or packages they fail with the reason.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ldap3
import pytest
import yaml

from reconciler.config.load import load_config
from reconciler.config.resolve import effective_customers
from reconciler.providers.base import ProviderContext
from reconciler.providers.ldap import AdReader, open_ad
from reconciler.state.store import SqliteStore
from reconciler.testing import samba
from tests.ad import seed

SEED_VERSION = hashlib.sha256(Path(seed.__file__).read_bytes()).hexdigest()[:12]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # one DC per machine: keep AD tests on one xdist worker when run with --dist loadgroup
    for item in items:
        if "tests/ad/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.xdist_group("samba-ad"))


@pytest.fixture(scope="session")
def samba_dc() -> Iterator[samba.SambaDC]:
    dc = samba.acquire(samba.DcSpec("tests", seed=seed.seed, version=SEED_VERSION))
    yield dc
    samba.release(dc)


@pytest.fixture
def admin(samba_dc: samba.SambaDC) -> Iterator[ldap3.Connection]:
    conn = samba_dc.admin()
    yield conn
    conn.unbind()


@dataclass
class AdSetup:
    """Writes a config directory (Settings + one Customer) and opens readers from it."""

    root: Path
    dc: samba.SambaDC
    customer: str = "acme"
    cursors: SqliteStore = field(init=False)

    def __post_init__(self) -> None:
        self.cursors = SqliteStore(self.root / ".reconciler" / "state.db")

    def write(
        self,
        *,
        ous: list[str] | None = None,
        groups: list[str] | None = None,
        nested: bool = False,
        password_sync: bool = False,
        entra_tenant: str = "00000000-0000-0000-0000-0000000000aa",
        settings: dict[str, Any] | None = None,
        admin_ous: list[str] | None = None,
        admin_groups: list[str] | None = None,
        user: str = seed.READER_UPN,
        password: str = seed.USER_PASSWORD,
        **ad: Any,
    ) -> None:
        (self.root / "secrets").mkdir(parents=True, exist_ok=True)
        (self.root / "secrets" / "ad-user").write_text(user + "\n")
        (self.root / "secrets" / "ad-password").write_text(password + "\n")
        (self.root / "ca.pem").write_bytes(self.dc.ca_file.read_bytes())
        directory: dict[str, Any] = {
            "server": self.dc.host,
            "baseDn": self.dc.base_dn,
            "bindUser": {"file": "secrets/ad-user"},
            "bindPassword": {"file": "secrets/ad-password"},
            "caFile": "ca.pem",
            "timeoutSeconds": 10,
        }
        directory.update(ad)
        spec: dict[str, Any] = {"directories": {"activeDirectory": directory}}
        spec["import"] = _selection(ous, groups, nested)
        if password_sync:
            spec["import"]["passwordSync"] = True
            spec["directories"]["entra"] = {"tenantId": entra_tenant}
        if admin_ous or admin_groups:
            spec["adminImport"] = _selection(admin_ous, admin_groups, False)
        docs = [
            {
                "apiVersion": "reconciler.dev/v1",
                "kind": "Settings",
                "metadata": {"name": "default"},
                "spec": settings or {},
            },
            {
                "apiVersion": "reconciler.dev/v1",
                "kind": "Customer",
                "metadata": {"name": self.customer},
                "spec": spec,
            },
        ]
        (self.root / "config.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=False))

    def context(self) -> ProviderContext:
        config = load_config(self.root)
        eff = effective_customers(config)[self.customer]
        return ProviderContext(
            config_root=self.root,
            settings=config.settings_doc.spec,
            customer=eff,
            cursors=self.cursors,
            log=logging.getLogger("reconciler.test"),
        )

    def reader(self, **kwargs: Any) -> AdReader:
        if kwargs:
            self.write(**kwargs)
        return open_ad(self.context())


def _selection(ous: list[str] | None, groups: list[str] | None, nested: bool) -> dict[str, Any]:
    sel: dict[str, Any] = {}
    if ous:
        sel["ous"] = ous
    if groups:
        sel["groups"] = groups
    if nested:
        sel["includeNestedGroups"] = True
    return {"source": "activeDirectory", "selection": sel}


@pytest.fixture
def ad(tmp_path: Path, samba_dc: samba.SambaDC) -> Iterator[AdSetup]:
    setup = AdSetup(tmp_path / "config", samba_dc)
    yield setup
    setup.cursors.close()


@pytest.fixture
def scratch_ou(admin: ldap3.Connection) -> Iterator[str]:
    """An empty OU of this test's own; removed afterwards with everything in it."""
    dn = f"OU=t-{uuid.uuid4().hex[:10]},{seed.BASE}"
    assert admin.add(dn, "organizationalUnit"), admin.result
    yield dn
    admin.delete(dn, controls=[("1.2.840.113556.1.4.805", True, None)])  # tree delete
