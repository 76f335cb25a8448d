"""Live stage: the file-backed provider for every source and integration.

Settings `snapshot.dir` points at a directory with one sub-directory per customer:

    <dir>/<customer>/entra.json        {"users": [DirectoryUser fields...], "groups": [DirectoryGroup
                                        fields, members = user ids...], "roles": [{"id", "name",
                                        "holders": [RoleHolder fields...]}], "skus": [Sku fields...]}
    <dir>/<customer>/ad.json           {"users": [...], "groups": [DirectoryGroup fields...]}
    <dir>/<customer>/itglue.json       {"entries": [PasswordEntry fields...]}   (or hudu.json)
    <dir>/<customer>/connectwise.json  {"contacts": [PsaContact fields...]}     (or autotask.json)
    <dir>/<customer>/outbox/           welcome emails, one .eml file each

Field names are those of the dataclasses in `reconciler.core.model` (snake_case;
`source` and `integration` are implied by the file). A missing file reads as
empty. `apply` writes to these files like a real target (atomic replace), so the
quickstart runs plan -> apply -> plan offline. `reconciler snapshot` writes the
same format from real systems.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import MISSING, asdict, fields
from email.message import EmailMessage
from pathlib import Path
from typing import Any

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
from reconciler.providers.base import CustomerProviders, DirectoryScope, ProviderContext

FORMAT_VERSION = 1


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
        kind = IntegrationKind.ITGLUE if links.itglue_organization_id else IntegrationKind.HUDU
        out.vault = FileVault(base / f"{kind.value}.json", kind, ctx.name)
    if contacts:
        kind = IntegrationKind.CONNECTWISE if links.connectwise_company_id else IntegrationKind.AUTOTASK
        out.contacts = FileContacts(base / f"{kind.value}.json", kind, ctx.name)
    if mail:
        out.mailer = FileMailer(base / "outbox", ctx.name)
    return out


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
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1, sort_keys=True)
            fh.write("\n")
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


def _build(cls: Any, raw: dict[str, Any], implied: dict[str, Any], path: Path, where: str, i: int) -> Any:
    names = {f.name for f in fields(cls)}
    unknown = set(raw) - names
    if unknown:
        raise ProviderError(where, f"{path}: item {i}: unknown field(s) {', '.join(sorted(unknown))}")
    required = {f.name for f in fields(cls) if f.default is MISSING} - set(implied)
    missing = required - set(raw)
    if missing:
        raise ProviderError(where, f"{path}: item {i}: missing field(s) {', '.join(sorted(missing))}")
    types = {f.name: str(f.type) for f in fields(cls)}
    for key, value in raw.items():
        problem = _type_problem(types[key], value)
        if problem:
            raise ProviderError(where, f"{path}: item {i}: field {key!r} {problem}")
    kw = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}
    kw.update(implied)
    return cls(**kw)


def _type_problem(annotation: str, value: Any) -> str:
    """Check a JSON value against a model field's annotation (as written in model.py)."""
    if value is None:
        return "" if "None" in annotation else "must not be null"
    if annotation.startswith("tuple[str"):
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        return "" if ok else "must be a list of strings"
    if annotation.startswith("bool"):
        return "" if isinstance(value, bool) else "must be true or false"
    if annotation.startswith("int"):
        return "" if isinstance(value, int) and not isinstance(value, bool) else "must be a whole number"
    if annotation.startswith("str"):
        return "" if isinstance(value, str) else "must be a string"
    return ""


def _dump(obj: Any, drop: str) -> dict[str, Any]:
    """Fields of a record, leaving out those equal to their defaults (short files)."""
    defaults = {f.name: f.default for f in fields(obj) if f.default is not MISSING}
    return {
        k: (list(v) if isinstance(v, tuple) else v)
        for k, v in asdict(obj).items()
        if k != drop and not (k in defaults and defaults[k] == v)
    }


def load_directory(path: Path, source: DirSource, where: str) -> DirectorySnapshot:
    data = read_json(path, where)
    users = tuple(
        _build(DirectoryUser, raw, {"source": source}, path, where, i)
        for i, raw in enumerate(_items(data, "users", path, where))
    )
    groups = tuple(
        _build(DirectoryGroup, raw, {"source": source}, path, where, i)
        for i, raw in enumerate(_items(data, "groups", path, where))
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


class FileVault:
    def __init__(self, path: Path, kind: IntegrationKind, where: str) -> None:
        self.path, self.kind, self.where = path, kind, f"{where}/{kind.value}"

    def list_entries(self) -> list[PasswordEntry]:
        data = read_json(self.path, self.where)
        return [
            _build(PasswordEntry, raw, {"integration": self.kind}, self.path, self.where, i)
            for i, raw in enumerate(_items(data, "entries", self.path, self.where))
        ]

    def create_entry(self, new: NewPasswordEntry) -> PasswordEntry:
        entries = self.list_entries()
        entry = PasswordEntry(
            self.kind,
            _next_id(e.id for e in entries),
            new.name,
            new.username,
            new.category,
            marker=new.marker,
        )
        dump_entries(self.path, [*entries, entry])
        return entry


class FileContacts:
    def __init__(self, path: Path, kind: IntegrationKind, where: str) -> None:
        self.path, self.kind, self.where = path, kind, f"{where}/{kind.value}"

    def list_contacts(self) -> list[PsaContact]:
        data = read_json(self.path, self.where)
        return [
            _build(PsaContact, raw, {"integration": self.kind}, self.path, self.where, i)
            for i, raw in enumerate(_items(data, "contacts", self.path, self.where))
        ]

    def create_contact(self, new: NewContact) -> PsaContact:
        contacts = self.list_contacts()
        emails = (new.email,) if new.email else ()
        contact = PsaContact(
            self.kind,
            _next_id(c.id for c in contacts),
            new.first_name,
            new.last_name,
            emails,
            marker=new.marker,
        )
        dump_contacts(self.path, [*contacts, contact])
        return contact


class FileMailer:
    def __init__(self, outbox: Path, where: str) -> None:
        self.outbox, self.where = outbox, where

    def send(self, mail: WelcomeEmail) -> None:
        msg = EmailMessage()
        msg["To"] = mail.to
        msg["Subject"] = mail.subject
        msg["X-Reconciler"] = marker_text(mail.marker)
        msg.set_content(mail.body)
        self.outbox.mkdir(parents=True, exist_ok=True)
        name = mail.marker.replace("/", "_").replace(":", "_") + ".eml"
        (self.outbox / name).write_bytes(bytes(msg))


def _next_id(ids: Any) -> str:
    numeric = [int(i) for i in ids if str(i).isdigit()]
    return str(max(numeric, default=1000) + 1)
