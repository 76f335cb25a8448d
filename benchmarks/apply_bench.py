"""Benchmark: apply of N new accounts, against the state store's bulk write of the same rows.

Two plans, each in its own child process per N:
- state only: N account additions;
- with file twins: N additions + N IT Glue entries + N ConnectWise contacts created
  in the offline file twins (journal, links and the twin files written per batch).

The references, in the same child:
- "bulk": one transaction writing the accounts (and links for the second plan)
  through the store's per-row methods (`put_account`, `put_link`), the reference
  #16 set its goal against;
- "many rows": the same rows through the store's many-row writes (`put_accounts`,
  `put_links`), as the apply itself writes them;
- "everything": every row and record the apply leaves, written in bulk: accounts,
  links, fingerprints, its journal entries opened and closed, the serial (one
  transaction, many-row writes), and the two twin files written once each by the
  twins' one-shot writers. What the apply costs over this is its own overhead
  (batches, outcomes, requests, files rewritten as batches grow).
Ratios are apply / reference at the same N, and apply(100k) / apply(10k).

    python benchmarks/apply_bench.py [N ...]

The last line is machine-readable.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from reconciler.apply.executor import apply_customer
from reconciler.core.model import (
    Account,
    AccountClass,
    DirSource,
    IntegrationKind,
    Link,
    NewContact,
    NewPasswordEntry,
)
from reconciler.core.plan import AddAccount, Change, CreateRecord, CustomerPlan, Status
from reconciler.gcpause import gc_paused
from reconciler.providers import files
from reconciler.providers.base import CustomerProviders
from reconciler.providers.files import FileContacts, FileVault
from reconciler.state.store import SqliteStore

KINDS = (IntegrationKind.ITGLUE, IntegrationKind.CONNECTWISE)


def accounts(n: int) -> list[Account]:
    return [
        Account(f"end-user/entra:{i:08d}", AccountClass.END_USER, (DirSource.ENTRA,), f"u{i}@acme.example")
        for i in range(n)
    ]


def plan(accts: list[Account], records: bool) -> CustomerPlan:
    changes: list[Change] = [AddAccount(a.key, a.upn, "R1", "new", a) for a in accts]
    if records:
        for a in accts:
            marker = f"acme/{a.key}"
            changes.append(
                CreateRecord(
                    a.key,
                    a.upn,
                    "R12",
                    "none",
                    KINDS[0],
                    NewPasswordEntry(a.upn, a.upn, "Office 365", marker),
                )
            )
            changes.append(
                CreateRecord(a.key, a.upn, "R13", "none", KINDS[1], NewContact("U", a.upn, a.upn, marker))
            )
    return CustomerPlan("acme", Status.OK, 0, tuple(changes))


def one(n: int, records: bool) -> dict[str, Any]:
    accts = accounts(n)
    cplan = plan(accts, records)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        bulk_store = SqliteStore(root / "bulk.db")
        started = time.process_time()
        with gc_paused(), bulk_store.batch():
            for i, a in enumerate(accts):
                bulk_store.put_account("acme", a)
                if records:
                    for kind in KINDS:
                        bulk_store.put_link("acme", Link(a.key, kind, str(1000 + i)))
            bulk_store.bump_serial("acme")
        bulk = time.process_time() - started
        # the same rows, links through the store's many-rows write (as the apply writes them)
        many_store = SqliteStore(root / "many.db")
        started = time.process_time()
        with gc_paused(), many_store.batch():
            many_store.put_accounts("acme", accts)
            if records:
                many_store.put_links(
                    "acme", [Link(a.key, kind, str(1000 + i)) for i, a in enumerate(accts) for kind in KINDS]
                )
            many_store.bump_serial("acme")
        many = time.process_time() - started

        store = SqliteStore(root / "state.db")
        providers = CustomerProviders()
        vault = FileVault(root / "itglue.json", KINDS[0], "acme")
        contacts = FileContacts(root / "connectwise.json", KINDS[1], "acme")
        if records:
            providers.vault, providers.contacts = vault, contacts
        started = time.process_time()
        with gc_paused():  # as the engine runs apply
            result = apply_customer(cplan, providers, store)
        applied = time.process_time() - started
        assert not result.failed, result.failed[:3]
        every = write_everything(root, store, vault, contacts, records)
    return {"n": n, "records": records, "apply_s": applied, "bulk_s": bulk, "many_s": many, "all_s": every}


def write_everything(
    root: Path, applied: SqliteStore, vault: FileVault, contacts: FileContacts, records: bool
) -> float:
    """CPU of writing, in one transaction and the twins' one-shot file writers, every
    row and record the apply left: accounts, links, fingerprints, its journal entries
    (opened and closed), the serial, and the two twin files."""
    managed = applied.load("acme")
    links = list(managed.links.values())
    prints = [(k, kind, fp) for (k, kind), fp in managed.fingerprints.items()]
    entries = vault.list_entries() if records else []
    people = contacts.list_contacts() if records else []
    intents = [(f"create {KINDS[0].value}", e.marker or "") for e in entries]
    intents += [(f"create {KINDS[1].value}", c.marker or "") for c in people]
    store = SqliteStore(root / "everything.db")
    started = time.process_time()
    with gc_paused():
        with store.batch():
            store.put_accounts("acme", list(managed.accounts.values()))
            store.put_links("acme", links)
            store.put_fingerprints("acme", prints)
            ids = store.journal_open_many("acme", intents)
            store.journal_close_many([(i, "done", str(i)) for i in ids])
            store.bump_serial("acme")
        if records:
            files.dump_entries(root / "itglue-once.json", entries)
            files.dump_contacts(root / "connectwise-once.json", people)
    return time.process_time() - started


def main(sizes: list[int]) -> None:
    rows: dict[tuple[int, bool], dict[str, Any]] = {}
    for records in (False, True):
        for n in sizes:
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(n), str(int(records))],
                capture_output=True,
                text=True,
                check=True,
            )
            r = json.loads(out.stdout.strip().splitlines()[-1])
            rows[(n, records)] = r
            what = "accounts + IT Glue + ConnectWise twins" if records else "state only"
            print(
                f"N={n:>7} {what:<40} apply {r['apply_s']:6.2f} s CPU, bulk write {r['bulk_s']:6.2f} s, "
                f"ratio {r['apply_s'] / r['bulk_s']:.2f}; many-row writes: bulk {r['many_s']:6.2f} s, "
                f"ratio {r['apply_s'] / r['many_s']:.2f}; everything the apply writes, in bulk: "
                f"{r['all_s']:6.2f} s, ratio {r['apply_s'] / r['all_s']:.2f}"
            )
    lo, hi = sizes[0], sizes[-1]
    for records in (False, True):
        growth = rows[(hi, records)]["apply_s"] / rows[(lo, records)]["apply_s"]
        print(f"{'twins' if records else 'state'}: {lo} -> {hi} grows x{growth:.1f} (work x{hi / lo:.0f})")
    summary = " ".join(
        f"{'twins' if rec else 'state'}_{n}={rows[(n, rec)]['apply_s'] / rows[(n, rec)]['bulk_s']:.2f}"
        for rec in (False, True)
        for n in sizes
    )
    many = " ".join(
        f"{'twins' if rec else 'state'}_{n}={rows[(n, rec)]['apply_s'] / rows[(n, rec)]['many_s']:.2f}"
        for rec in (False, True)
        for n in sizes
    )
    every = " ".join(
        f"{'twins' if rec else 'state'}_{n}={rows[(n, rec)]['apply_s'] / rows[(n, rec)]['all_s']:.2f}"
        for rec in (False, True)
        for n in sizes
    )
    print(f"apply/bulk {summary} | apply/bulk-many-rows {many} | apply/bulk-everything {every}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(one(int(sys.argv[2]), sys.argv[3] == "1")))
    else:
        main([int(a) for a in sys.argv[1:]] or [10_000, 100_000])
