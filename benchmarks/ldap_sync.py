"""Benchmark: reading a 20,000-user Active Directory (real Samba DC on loopback).

Directory: N users (default 20,000) spread over 20 OUs and 50 security groups
(each user in one group; 5 groups nested inside others; 1 in 10 users
disabled), bulk-loaded once with ldbadd and cached (see reconciler/testing/samba.py;
the first run seeds for several minutes, later runs restore in about a second).

For a selection by OU (all 20) and by group (all 50, nested members included,
as the engine asks), bound as an ordinary account (removals found by listing
members: "presence check") and as Administrator (who can list tombstones), it
measures with the real `AdReader` and SQLite cursor store:
  full         first read (no cursor)
  unchanged    a second read with nothing changed on the DC
  incremental  a read after a few changes (10 mails, 1 new user, 1 group
               removal, 1 deletion), checked against a full read for equality

    python benchmarks/ldap_sync.py [--users N]

Needs root or passwordless sudo (the DC listens on fixed ports). The last line
is machine-readable JSON.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ldap3
import yaml

from reconciler.config.load import load_config
from reconciler.config.resolve import effective_customers
from reconciler.providers.base import DirectoryScope, ProviderContext
from reconciler.providers.ldap import AdReader, open_ad
from reconciler.state.store import SqliteStore
from reconciler.testing import samba

OUS = 20
GROUPS = 50
NESTED = 5  # groups 45..49 sit inside groups 0..4
BASE = samba.BASE_DN


def ou_dn(i: int) -> str:
    return f"OU=Dept{i:02d},OU=Bench,{BASE}"


def group_dn(i: int) -> str:
    return f"CN=Team {i:02d},OU=BenchGroups,{BASE}"


def user_dn(i: int, ous: int) -> str:
    return f"CN=User {i:05d},{ou_dn(i % ous)}"


def ldif(users: int) -> Iterator[str]:
    yield f"dn: OU=Bench,{BASE}\nobjectClass: organizationalUnit"
    yield f"dn: OU=BenchGroups,{BASE}\nobjectClass: organizationalUnit"
    for o in range(OUS):
        yield f"dn: {ou_dn(o)}\nobjectClass: organizationalUnit"
    for i in range(users):
        sam = f"u{i:05d}"
        uac = 546 if i % 10 == 9 else 544  # PASSWD_NOTREQD (+ ACCOUNTDISABLE)
        yield (
            f"dn: {user_dn(i, OUS)}\nobjectClass: user\nsAMAccountName: {sam}\n"
            f"userPrincipalName: {sam}@example.test\nmail: {sam}@example.test\n"
            f"givenName: Given{i}\nsn: Surname{i}\ndisplayName: User {i:05d}\nuserAccountControl: {uac}"
        )
    members: dict[int, list[str]] = {g: [] for g in range(GROUPS)}
    for i in range(users):
        members[i % GROUPS].append(user_dn(i, OUS))
    for g in range(GROUPS - NESTED, GROUPS):
        members[g - (GROUPS - NESTED)].append(group_dn(g))
    for g in reversed(range(GROUPS)):  # nested groups first: a member must exist
        lines = [f"dn: {group_dn(g)}", "objectClass: group", f"sAMAccountName: team{g:02d}",
                 "groupType: -2147483646"]  # fmt: skip
        lines += [f"member: {m}" for m in members[g]]
        yield "\n".join(lines)


READER_UPN = "bench-reader@example.test"
READER_PASSWORD = "Bench-Reader-Pass-1!"


def add_reader(admin: ldap3.Connection) -> None:
    """An ordinary account (Domain Users only), as MSPs bind with."""
    admin.add(
        f"CN=bench-reader,CN=Users,{BASE}", "user",
        {"sAMAccountName": "bench-reader", "userPrincipalName": READER_UPN, "userAccountControl": 512,
         "unicodePwd": f'"{READER_PASSWORD}"'.encode("utf-16-le")},
    )  # fmt: skip


def context(
    root: Path, dc: samba.SambaDC, store: SqliteStore, scope: DirectoryScope, account: tuple[str, str]
) -> ProviderContext:
    (root / "secrets").mkdir(parents=True, exist_ok=True)
    (root / "secrets" / "user").write_text(account[0])
    (root / "secrets" / "password").write_text(account[1])
    selection: dict[str, Any] = {"ous": list(scope.ous)} if scope.ous else {"groups": list(scope.groups)}
    if scope.groups:
        selection["includeNestedGroups"] = True
    directory = {
        "server": dc.host, "baseDn": BASE, "caFile": str(dc.ca_file), "timeoutSeconds": 120,
        "bindUser": {"file": "secrets/user"}, "bindPassword": {"file": "secrets/password"},
    }  # fmt: skip
    docs = [
        {"apiVersion": "reconciler.dev/v1", "kind": "Settings", "metadata": {"name": "default"}},
        {
            "apiVersion": "reconciler.dev/v1", "kind": "Customer", "metadata": {"name": "bench"},
            "spec": {"directories": {"activeDirectory": directory},
                     "import": {"source": "activeDirectory", "selection": selection}},
        },
    ]  # fmt: skip
    (root / "config.yaml").write_text(yaml.safe_dump_all(docs))
    config = load_config(root)
    eff = effective_customers(config)["bench"]
    return ProviderContext(root, config.settings_doc.spec, eff, store, logging.getLogger("bench"))


def timed(reader: AdReader, scope: DirectoryScope) -> tuple[dict[str, Any], Any]:
    start = time.perf_counter()
    snap = reader.read(scope)
    seconds = time.perf_counter() - start
    figures = {"seconds": round(seconds, 3), "mode": reader.last_sync, "users": len(snap.users)}
    figures.update(reader.stats.to_dict())
    return figures, snap


def change_directory(admin: ldap3.Connection, users: int, tag: str) -> None:
    """10 mail changes, one new user (in OU 0 and group 0), one group removal, one deletion."""
    for i in range(10):
        dn = user_dn(i * 97 % users, OUS)
        admin.modify(dn, {"mail": [(ldap3.MODIFY_REPLACE, [f"changed-{tag}-{i}@example.test"])]})
    new = f"CN=New {tag},{ou_dn(0)}"
    admin.add(new, "user", {"sAMAccountName": f"new-{tag}", "userPrincipalName": f"new-{tag}@example.test",
                            "userAccountControl": 544})  # fmt: skip
    admin.modify(group_dn(0), {"member": [(ldap3.MODIFY_ADD, [new])]})
    admin.modify(group_dn(1), {"member": [(ldap3.MODIFY_DELETE, [user_dn(1 + GROUPS * 3, OUS)])]})
    admin.delete(user_dn(2 + GROUPS * 5, OUS))


def run_scenario(
    dc: samba.SambaDC, work: Path, name: str, scope: DirectoryScope, users: int, account: tuple[str, str]
) -> dict[str, Any]:
    store = SqliteStore(work / name / "state.db")
    try:
        reader = open_ad(context(work / name, dc, store, scope, account))
        out: dict[str, Any] = {}
        out["full"], _ = timed(reader, scope)
        out["unchanged"], _ = timed(reader, scope)
        admin = dc.admin()
        try:
            change_directory(admin, users, f"t{len(list(work.iterdir()))}")
        finally:
            admin.unbind()
        out["incremental"], incremental = timed(reader, scope)
        out["incremental"]["removals"] = reader.last_reason.rpartition("removals by ")[2]
        full_scope = DirectoryScope(scope.ous, scope.groups, scope.nested, full_sync=True)
        out["full_again"], full = timed(reader, full_scope)
        out["incremental_equals_full"] = incremental == full
        cursor = store.get_cursor("bench", "ad.sync") or ""
        out["cursor_bytes"] = len(cursor.encode())
        return out
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=20_000)
    args = parser.parse_args()
    users: int = args.users

    start = time.perf_counter()
    spec = samba.DcSpec(f"bench-{users}", ldif=lambda: ldif(users), version=f"{OUS}/{GROUPS}/{NESTED}/v1")
    dc = samba.acquire(spec)
    dc_seconds = time.perf_counter() - start
    results: dict[str, Any] = {}
    try:
        admin = dc.admin()
        try:
            add_reader(admin)
            gone = f"CN=gone,{ou_dn(0)}"  # a tombstone, so Administrator can show it lists them
            admin.add(gone, "user")
            admin.delete(gone)
        finally:
            admin.unbind()
        accounts = {"reader": (READER_UPN, READER_PASSWORD), "admin": (dc.admin_upn, dc.admin_password)}
        scopes = {
            "by_ou": DirectoryScope(ous=tuple(map(ou_dn, range(OUS)))),
            "by_group": DirectoryScope(groups=tuple(map(group_dn, range(GROUPS))), nested=True),
        }
        with tempfile.TemporaryDirectory() as tmp:
            for scope_name, scope in scopes.items():
                for account_name, account in accounts.items():
                    name = f"{scope_name}/{account_name}"
                    results[name] = run_scenario(dc, Path(tmp), name.replace("/", "-"), scope, users, account)
    finally:
        samba.release(dc)

    print(
        f"Active Directory read: {users} users, {OUS} OUs, {GROUPS} groups ({NESTED} nested), Samba on loopback"
    )
    print(f"DC ready in {dc_seconds:.1f}s (includes seeding when the cache was empty)")
    print(
        f"{'selection/account':<18} {'run':<27} {'seconds':>8} {'searches':>9} {'requests':>9} {'entries':>8} {'users':>6}"
    )
    for scenario, runs in results.items():
        for run in ("full", "unchanged", "incremental", "full_again"):
            r = runs[run]
            label = run + (f" ({r['removals']})" if run == "incremental" else "")
            print(f"{scenario:<18} {label:<27} {r['seconds']:>8.3f} {r['searches']:>9} "
                  f"{r['requests']:>9} {r['entries']:>8} {r['users']:>6}")  # fmt: skip
        print(f"{scenario:<18} incremental result equals a full read: {runs['incremental_equals_full']}; "
              f"cursor {runs['cursor_bytes'] / 1e6:.1f} MB")  # fmt: skip
    machine = {
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": datetime.date.today().isoformat(),
    }
    summary = {"bench": "ldap_sync", "users": users, "ous": OUS, "groups": GROUPS, "dc_seconds": round(dc_seconds, 1),
               "machine": machine, "results": results}  # fmt: skip
    print(json.dumps(summary, sort_keys=True))
    if not all(r["incremental_equals_full"] for r in results.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
