"""Live stage: the file-backed provider for every source and integration.

Settings `snapshot.dir` points at a directory with one sub-directory per customer:

    <dir>/<customer>/entra.json        {"users": [DirectoryUser fields...], "groups": [DirectoryGroup
                                        fields, members = user ids...], "roles": [{"id", "name",
                                        "holders": [RoleHolder fields...]}], "skus": [Sku fields...]}
    <dir>/<customer>/ad.json           {"users": [...], "groups": [DirectoryGroup fields...]}
    <dir>/<customer>/<vault>.json      {"entries": [PasswordEntry fields...]}   (itglue.json, hudu.json)
    <dir>/<customer>/<psa>.json        {"contacts": [PsaContact fields...]}     (connectwise.json, ...)
    <dir>/<customer>/outbox/           welcome emails, one .eml file each

Field names are those of the dataclasses in `reconciler.core.model` (snake_case;
`source` and `integration` are implied by the file; `<vault>` and `<psa>` are
the kinds of the integration table the customer links, one twin per role). A missing file reads as
empty. `apply` writes to these files like a real target (atomic replace), so the
quickstart runs plan -> apply -> plan offline. `reconciler snapshot` writes the
same format from real systems.
"""

from __future__ import annotations

import itertools
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import MISSING, dataclass, fields, replace
from email.message import EmailMessage
from functools import cache
from pathlib import Path
from typing import Any

from reconciler import jsonlayout
from reconciler.config.values import one_line
from reconciler.core.model import (
    DirectoryGroup,
    DirectoryRole,
    DirectorySnapshot,
    DirectoryUser,
    DirSource,
    IntegrationKind,
    NewContact,
    NewPasswordEntry,
    PasswordEntry,
    PsaContact,
    RoleHolder,
    Sku,
    WelcomeEmail,
    marker_text,
)
from reconciler.errors import ProviderError
from reconciler.integrations.kinds import RecordField, Role
from reconciler.integrations.table import linked, of_role
from reconciler.providers.base import CustomerProviders, DirectoryScope, ProviderContext

FORMAT_VERSION = 1
_ENCODE = json.JSONEncoder(sort_keys=True).encode  # a record's line, as jsonlayout.dumps writes it


def customer_dir(ctx: ProviderContext) -> Path:
    assert ctx.settings.snapshot is not None
    return ctx.config_root / ctx.settings.snapshot.dir / ctx.name


def open_customer(
    ctx: ProviderContext, entra: bool, ad: bool, vault: bool, contacts: bool, mail: bool
) -> CustomerProviders:
    base = customer_dir(ctx)
    links = ctx.customer.doc.spec.integrations
    out = CustomerProviders()
    if entra:
        out.entra = FileDirectory(base / "entra.json", DirSource.ENTRA, ctx.name)
    if ad:
        out.ad = FileDirectory(base / "ad.json", DirSource.AD, ctx.name)
    if vault:
        kind = _linked_kind(links, Role.VAULT)
        out.vault = FileVault(base / f"{kind.value}.json", kind, ctx.name)
    if contacts:
        kind = _linked_kind(links, Role.PSA)
        out.contacts = FileContacts(base / f"{kind.value}.json", kind, ctx.name)
    if mail:
        out.mailer = FileMailer(base / "outbox", ctx.name)
    return out


def _linked_kind(links: object, role: Role) -> IntegrationKind:
    """The customer's integration of `role` (the first of the table when none is linked:
    a missing file reads as empty, as for any twin)."""
    found = linked(links, role) or of_role(role)
    return found[0].kind


# --- reading and writing the files ------------------------------------------------------


def read_json(path: Path, where: str) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ProviderError(where, f"cannot read {path}: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProviderError(where, f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise ProviderError(where, f"{path}: expected a JSON object")
    return data


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Atomic replace: a crash leaves the old file or the new one, never half of one."""
    write_text(path, jsonlayout.dumps(data, expand=2))


def write_text(path: Path, text: str) -> None:
    """`text` as the file's whole content, by atomic replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _items(data: dict[str, Any], key: str, path: Path, where: str) -> list[dict[str, Any]]:
    items = data.get(key, [])
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ProviderError(where, f"{path}: {key!r} must be a list of objects")
    return items


@dataclass(frozen=True)
class _Schema:
    """A model class's fields, computed once per class (not per record)."""

    names: frozenset[str]
    required: frozenset[str]
    kinds: dict[str, tuple[type | None, bool]]  # JSON type expected (None: unchecked), nullable
    defaults: dict[str, Any]
    order: tuple[str, ...]


_JSON_TYPES: tuple[tuple[str, type], ...] = (("tuple[str", list), ("bool", bool), ("int", int), ("str", str))
_PROBLEM = {list: "must be a list of strings", bool: "must be true or false", int: "must be a whole number"}


def _kind(annotation: str) -> tuple[type | None, bool]:
    """The JSON type a model field's annotation (as written in model.py) asks for."""
    expected = next((t for prefix, t in _JSON_TYPES if annotation.startswith(prefix)), None)
    return expected, "None" in annotation


@cache
def _schema(cls: type) -> _Schema:
    fs = fields(cls)
    return _Schema(
        frozenset(f.name for f in fs),
        frozenset(f.name for f in fs if f.default is MISSING),
        {f.name: _kind(str(f.type)) for f in fs},
        {f.name: f.default for f in fs if f.default is not MISSING},
        tuple(f.name for f in fs),
    )


def _build(cls: Any, raw: dict[str, Any], implied: dict[str, Any], path: Path, where: str, i: int) -> Any:
    schema = _schema(cls)
    if not raw.keys() <= schema.names:
        unknown = set(raw) - schema.names
        raise ProviderError(
            where,
            f"{path}: item {i}: unknown {'field' if len(unknown) == 1 else 'fields'} {', '.join(sorted(unknown))}",
        )
    if not schema.required <= raw.keys() | implied.keys():
        missing = schema.required - set(raw) - set(implied)
        raise ProviderError(
            where,
            f"{path}: item {i}: missing {'field' if len(missing) == 1 else 'fields'} {', '.join(sorted(missing))}",
        )
    kw = dict(implied)
    kinds = schema.kinds
    for key, value in raw.items():
        expected, nullable = kinds[key]
        if value is None:
            if not nullable:
                raise ProviderError(where, f"{path}: item {i}: field {key!r} must not be null")
        elif expected is not None and (
            type(value) is not expected  # exact: a JSON true is not a whole number
            or (expected is list and not _all_text(raw[key]))
        ):
            problem = _PROBLEM.get(expected, "must be a string")
            raise ProviderError(where, f"{path}: item {i}: field {key!r} {problem}")
        kw[key] = tuple(value) if type(value) is list else value
    return cls(**kw)


def _build_all(
    cls: Any, items: list[dict[str, Any]], implied: dict[str, Any], path: Path, where: str
) -> list[Any]:
    """`_build` of every item. The records of one file nearly all share their keys and
    value types (their shape), and whether a record passes `_build`'s checks depends on
    its shape alone, but for the strings in its lists: a shape is checked once, by
    `_build`, and later records of that shape only have their lists checked (a third
    of a 300,000-record snapshot's load went to checking every field of every record)."""
    kinds = _schema(cls).kinds
    shapes: dict[tuple[Any, ...], tuple[tuple[str, bool], ...]] = {}
    out: list[Any] = []
    for i, raw in enumerate(items):
        shape = (*raw, *map(type, raw.values()))
        lists = shapes.get(shape)
        if lists is None:
            out.append(_build(cls, raw, implied, path, where, i))  # raises on a bad record
            shapes[shape] = tuple((k, kinds[k][0] is list) for k, v in raw.items() if type(v) is list)
            continue
        kw = {**implied, **raw}
        for key, checked in lists:
            if checked and not _all_text(raw[key]):
                _build(cls, raw, implied, path, where, i)  # raises, with the message of any record
            kw[key] = tuple(raw[key])
        out.append(cls(**kw))
    return out


def _all_text(values: list[Any]) -> bool:
    return all(type(v) is str for v in values)


def _dump(obj: Any, drop: str) -> dict[str, Any]:
    """Fields of a record, leaving out those equal to their defaults (short files)."""
    schema = _schema(obj.__class__)
    defaults = schema.defaults
    out: dict[str, Any] = {}
    for name in schema.order:
        if name == drop:
            continue
        value = getattr(obj, name)
        if name in defaults and defaults[name] == value:
            continue
        out[name] = list(value) if isinstance(value, tuple) else value
    return out


def load_directory(path: Path, source: DirSource, where: str) -> DirectorySnapshot:
    data = read_json(path, where)
    users = tuple(
        _build_all(DirectoryUser, _items(data, "users", path, where), {"source": source}, path, where)
    )
    groups = tuple(
        _build_all(DirectoryGroup, _items(data, "groups", path, where), {"source": source}, path, where)
    )
    roles = []
    for i, raw in enumerate(_items(data, "roles", path, where)):
        holders = raw.get("holders", [])
        if not isinstance(holders, list) or not all(isinstance(h, dict) for h in holders):
            raise ProviderError(where, f"{path}: role {i}: 'holders' must be a list of objects")
        built = tuple(_build(RoleHolder, h, {}, path, where, j) for j, h in enumerate(holders))
        role = _build(DirectoryRole, {k: v for k, v in raw.items() if k != "holders"}, {}, path, where, i)
        roles.append(DirectoryRole(role.id, role.name, built))
    skus = tuple(
        _build(Sku, raw, {}, path, where, i) for i, raw in enumerate(_items(data, "skus", path, where))
    )
    return DirectorySnapshot(users, groups, tuple(roles), skus)


def dump_directory(path: Path, snapshot: DirectorySnapshot) -> None:
    data: dict[str, Any] = {"format": FORMAT_VERSION, "users": [_dump(u, "source") for u in snapshot.users]}
    if snapshot.groups:
        data["groups"] = [_dump(g, "source") for g in snapshot.groups]
    if snapshot.roles:
        data["roles"] = [
            {"id": r.id, "name": r.name, "holders": [_dump(h, "") for h in r.holders]} for r in snapshot.roles
        ]
    if snapshot.skus:
        data["skus"] = [_dump(s, "") for s in snapshot.skus]
    write_json(path, data)


def dump_entries(path: Path, entries: list[PasswordEntry]) -> None:
    write_json(path, {"format": FORMAT_VERSION, "entries": [_dump(e, "integration") for e in entries]})


def dump_contacts(path: Path, contacts: list[PsaContact]) -> None:
    write_json(path, {"format": FORMAT_VERSION, "contacts": [_dump(c, "integration") for c in contacts]})


# --- providers ---------------------------------------------------------------------------


class FileDirectory:
    def __init__(self, path: Path, source: DirSource, where: str) -> None:
        self.path, self.source, self.where = path, source, where

    def read(self, scope: DirectoryScope) -> DirectorySnapshot:
        return load_directory(self.path, self.source, f"{self.where}/{self.source.value}")


class _RecordFile:
    """One integration file. Outside `writes()` every create rewrites the file; inside,
    creates gather in memory and the file is written once, atomically, when the
    batch ends (a crash before that leaves the old file: the records were never made).

    Between the batches of one apply the records stay in memory, each with its line of
    the file, for as long as the file is the one this twin last wrote (same inode,
    size and mtime): a batch then costs encoding its own records and one write, not a
    parse and an encoding of every record in the file (#16)."""

    key = ""

    def __init__(self, path: Path, kind: IntegrationKind, where: str) -> None:
        self.path, self.kind, self.where = path, kind, f"{where}/{kind.value}"
        self._batch: list[Any] | None = None
        self._last_id = 0
        self._kept: _Kept | None = None
        self._edited: int | None = None  # the first record an update or archive changed in the batch

    def _read(self, cls: type) -> list[Any]:
        if self._batch is not None:
            return list(self._batch)
        data = read_json(self.path, self.where)
        items = _items(data, self.key, self.path, self.where)
        return _build_all(cls, items, {"integration": self.kind}, self.path, self.where)

    @contextmanager
    def writes(self) -> Iterator[None]:
        if self._batch is not None:
            yield
            return
        kept = self._kept
        stamp = _stamp(self.path)
        if kept is None or kept.stamp != stamp:
            records = self._read(self._cls())  # (a change after the stat: read again next time)
            kept = _Kept(records, [], _last_id(r.id for r in records), stamp)
        self._kept = None  # kept again only once this batch is written
        self._batch, self._last_id = kept.records, kept.last_id
        count = len(self._batch)
        self._edited = None
        try:
            yield
            if self._edited is not None:  # those lines are made again
                del kept.lines[self._edited :]
            if len(self._batch) != count or self._edited is not None:
                self.flush(kept)
            kept.last_id = self._last_id
            self._kept = kept
        finally:
            self._batch, self._edited = None, None

    def _add(self, make: Callable[[str], Any]) -> Any:
        if self._batch is None:
            with self.writes():
                return self._add(make)
        self._last_id += 1
        record = make(str(self._last_id))
        self._batch.append(record)
        return record

    def _edit(self, record_id: str, change: Callable[[Any], Any]) -> None:
        """Replace one record by `change(record)` (an update or archive, R25 / R8);
        a record that does not exist is an error, like a vendor's 404."""
        if self._batch is None:
            with self.writes():
                self._edit(record_id, change)
                return
        for i, record in enumerate(self._batch):
            if record.id == record_id:
                new = change(record)
                if new != record:
                    self._batch[i] = new
                    self._edited = i if self._edited is None else min(i, self._edited)
                return
        raise ProviderError(self.where, f"record {record_id} does not exist")

    def flush(self, kept: _Kept) -> None:
        """Write the file: the lines of records new since the last write are made now."""
        lines = kept.lines
        lines.extend(_ENCODE(_dump(r, "integration")) for r in kept.records[len(lines) :])
        try:
            # the lines are this layout's own (jsonlayout.dumps(data, expand=2)), made once per record
            write_text(self.path, jsonlayout.dumps({"format": FORMAT_VERSION, self.key: lines}, 2, _verbatim))
            kept.stamp = _stamp(self.path)
        except OSError as exc:
            raise ProviderError(self.where, f"cannot write {self.path}: {exc.strerror}") from None

    def _cls(self) -> type:
        raise NotImplementedError


@dataclass
class _Kept:
    """A twin's records between batches: their lines in the file (encoded so far), the
    highest id given, and the file's stamp when last read or written (None: no file)."""

    records: list[Any]
    lines: list[str]
    last_id: int
    stamp: tuple[int, int, int] | None


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


def _verbatim(value: Any) -> str:
    """`jsonlayout` leaf of a twin file: a record's line as made, else (the format number,
    an empty list) the value encoded."""
    return value if type(value) is str else _ENCODE(value)


class FileVault(_RecordFile):
    key = "entries"

    def _cls(self) -> type:
        return PasswordEntry

    def list_entries(self) -> list[PasswordEntry]:
        return self._read(PasswordEntry)

    def create_entry(self, new: NewPasswordEntry) -> PasswordEntry:
        entry: PasswordEntry = self._add(
            lambda rid: PasswordEntry(
                self.kind, rid, new.name, new.username, new.category, marker=new.marker, lineage=new.lineage
            )
        )
        return entry

    def update_entry(self, record_id: str, values: Mapping[RecordField, str]) -> None:
        self._edit(
            record_id,
            lambda e: replace(
                e,
                name=values.get(RecordField.ENTRY_NAME, e.name),
                username=values.get(RecordField.USERNAME, e.username),
            ),
        )

    def archive_entry(self, record_id: str) -> None:
        self._edit(record_id, lambda e: replace(e, archived=True))


class FileContacts(_RecordFile):
    key = "contacts"

    def _cls(self) -> type:
        return PsaContact

    def list_contacts(self) -> list[PsaContact]:
        return self._read(PsaContact)

    def create_contact(self, new: NewContact) -> PsaContact:
        emails = (new.email,) if new.email else ()
        contact: PsaContact = self._add(
            lambda rid: PsaContact(
                self.kind, rid, new.first_name, new.last_name, emails, marker=new.marker, lineage=new.lineage
            )
        )
        return contact

    def update_contact(self, record_id: str, values: Mapping[RecordField, str]) -> None:
        def change(c: PsaContact) -> PsaContact:
            email = values.get(RecordField.CONTACT_EMAIL)
            return replace(
                c,
                first_name=values.get(RecordField.FIRST_NAME, c.first_name),
                last_name=values.get(RecordField.LAST_NAME, c.last_name),
                emails=(email, *c.emails[1:]) if email else c.emails,
            )

        self._edit(record_id, change)

    def deactivate_contact(self, record_id: str) -> None:
        self._edit(record_id, lambda c: replace(c, active=False))


class FileMailer:
    def __init__(self, outbox: Path, where: str) -> None:
        self.outbox, self.where = outbox, where

    def send(self, mail: WelcomeEmail) -> None:
        msg = EmailMessage()
        msg["To"] = mail.to
        msg["Subject"] = one_line(mail.subject)
        msg["X-Reconciler"] = marker_text(mail.marker)
        msg.set_content(mail.body)
        self.outbox.mkdir(parents=True, exist_ok=True)
        stem = mail.marker.replace("/", "_").replace(":", "_")
        # like a mailbox: a second send of one email is a second message, never hidden
        for n in itertools.count(1):
            try:
                with (self.outbox / (f"{stem}.eml" if n == 1 else f"{stem}.{n}.eml")).open("xb") as out:
                    out.write(bytes(msg))
                return
            except FileExistsError:
                continue


def _last_id(ids: Iterable[str]) -> int:
    return max((int(i) for i in ids if str(i).isdigit()), default=1000)
