"""State: copy everything between backends, and to or from a backup file.

`state migrate --to postgres|sqlite` and `state backup` / `state restore` use
the same table list: every table of the logical schema, without the
namespace column (a backup belongs to whichever namespace restores it) and
without journal, run and history ids (PostgreSQL shares those sequences between
namespaces; rows keep their order). The state's lineage (#12) is copied, so
records made before the move are still recognised as ours. Live-only tables
(daemon replicas) are
not copied. A target that already holds state is refused, and the row counts
are checked after the copy, all inside one transaction on the target.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from reconciler.errors import StateError
from reconciler.state.api import COLUMNS

FORMAT = "reconciler-state"
VERSION = 1

TABLES: dict[str, tuple[str, ...]] = {
    "serials": ("customer", "serial"),
    "accounts": ("customer", "key", "data"),
    "links": ("customer", "account_key", "integration", "record_id"),
    "welcome": ("customer", "account_key", "status", "updated_at"),
    "cursors": ("customer", "name", "value"),
    "journal": ("customer", "op", "marker", "status", "detail", "created_at", "updated_at"),
    "leases": ("customer", "pid", "host", "holder", "acquired_at", "renewed_at", "expires_at", "epoch"),
    "lease_claims": (
        "customer",
        "epoch",
        "holder",
        "host",
        "pid",
        "acquired_at",
        "last_write_at",
        "released_at",
    ),
    "runs": ("customer", "started_at", "finished_at", "result", "detail"),
    "daemon_customers": COLUMNS,
    "daemon_meta": ("key", "value"),
    "daemon_history": ("customer", "entry"),
    "daemon_records": ("kind", "key", "value"),
    "detached": ("customer", "account_key", "integration", "record_id"),
    "fingerprints": ("customer", "account_key", "integration", "fingerprint"),
    "meta": ("key", "value"),  # the lineage (#12) and adopted lineages; not the schema version
}
UPSERTED = {"meta"}  # a new store has a lineage of its own: the copied one replaces it
ORDERED = {"journal", "runs", "daemon_history"}  # by id


class Tables(Protocol):
    """What a store offers for copying (both stores implement it)."""

    def dump_table(self, table: str, columns: tuple[str, ...], by_id: bool) -> list[tuple[Any, ...]]: ...
    def load_tables(
        self, data: dict[str, list[tuple[Any, ...]]], columns: dict[str, tuple[str, ...]]
    ) -> None: ...
    def count_rows(self, table: str) -> int: ...


@dataclass(frozen=True)
class Copied:
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def describe(self) -> str:
        parts = ", ".join(f"{t} {n}" for t, n in self.counts.items() if n)
        return f"{self.total} rows ({parts or 'empty'})"


def dump(source: Tables) -> dict[str, list[tuple[Any, ...]]]:
    return {t: source.dump_table(t, cols, t in ORDERED) for t, cols in TABLES.items()}


def load(target: Tables, data: dict[str, list[tuple[Any, ...]]], where: str) -> Copied:
    """Write `data` into an empty `target`; refuse one that holds state."""
    held = {t: n for t in TABLES if t not in UPSERTED and (n := target.count_rows(t))}
    if held:
        raise StateError(
            f"{where} already holds state ({', '.join(f'{t} {n}' for t, n in held.items())}); "
            "refusing to overwrite it: restore into an empty database, schema or namespace"
        )
    target.load_tables(data, TABLES)
    counts = {t: len(data.get(t, [])) for t in TABLES}
    found = {t: target.count_rows(t) for t in TABLES}
    if found != counts:
        wrong = ", ".join(f"{t}: {found[t]} of {counts[t]}" for t in TABLES if found[t] != counts[t])
        raise StateError(f"{where}: the copy does not add up ({wrong})")
    return Copied(counts)


def copy(source: Tables, target: Tables, where: str) -> Copied:
    return load(target, dump(source), where)


def write_backup(source: Tables, path: Path) -> Copied:
    data = dump(source)
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "tables": {
            t: {"columns": list(TABLES[t]), "rows": [list(r) for r in rows]} for t, rows in data.items()
        },
    }
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, sort_keys=True), encoding="utf-8")
    tmp.replace(path)
    return Copied({t: len(rows) for t, rows in data.items()})


def read_backup(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        raise StateError(f"{path}: not a readable reconciler state backup") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise StateError(f"{path}: not a reconciler state backup")
    if doc.get("version") != VERSION:
        raise StateError(
            f"{path}: state backup version {doc.get('version')!r}; this reconciler reads {VERSION}"
        )
    out: dict[str, list[tuple[Any, ...]]] = {}
    tables = doc.get("tables")
    if not isinstance(tables, dict):
        raise StateError(f"{path}: a state backup without tables")
    for t, cols in TABLES.items():
        entry = tables.get(t, {"columns": list(cols), "rows": []})
        if not isinstance(entry, dict) or tuple(entry.get("columns", ())) != cols:
            raise StateError(f"{path}: table {t} does not have the columns this reconciler expects")
        rows = entry.get("rows", [])
        if not isinstance(rows, list) or any(not isinstance(r, list) or len(r) != len(cols) for r in rows):
            raise StateError(f"{path}: table {t} has malformed rows")
        out[t] = [tuple(r) for r in rows]
    return out
