"""R25 and R8 on every PSA client against its simulator: an update writes only the
owned fields (first name, last name, email) and never the marker or lineage tag;
a removal sets the contact inactive, never deletes it; both are idempotent."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.core.model import NewContact
from reconciler.integrations.halo import client as halo_client
from reconciler.integrations.kinds import RecordField
from reconciler.providers.base import ContactBook
from reconciler.state.store import SqliteStore
from reconciler.testing.autotask import AutotaskSimulator
from reconciler.testing.connectwise import ConnectWiseSimulator
from reconciler.testing.halo import HaloSimulator
from reconciler.testing.httpsim import Simulator, TestCA
from tests.providers import test_autotask, test_connectwise, test_halo

MARKER = "acme/end-user/entra:5f0c2b7e-0000-4000-8000-000000000001"
LINEAGE = "0123456789abcdef0123456789abcdef"

Opener = Callable[[TestCA, Path, SqliteStore], tuple[Simulator, ContactBook]]


@pytest.fixture(params=["connectwise", "autotask", "halo"])
def psa(
    request: pytest.FixtureRequest, test_ca: TestCA, tmp_path: Path, store: SqliteStore,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[Simulator, ContactBook]]:  # fmt: skip
    kind = request.param
    if kind == "connectwise":
        for name, value in (("CW_PUBLIC", test_connectwise.PUBLIC), ("CW_PRIVATE", test_connectwise.PRIVATE),
                            ("CW_CLIENT", test_connectwise.CLIENT)):  # fmt: skip
            monkeypatch.setenv(name, value)
        cw = ConnectWiseSimulator(
            test_ca, company_id="contoso-msp", public_key=test_connectwise.PUBLIC,
            private_key=test_connectwise.PRIVATE, client_id=test_connectwise.CLIENT,
        )  # fmt: skip
        cw.add_company(5, "Acme Corp")
        with cw:
            yield cw, test_connectwise.book(cw, test_ca, tmp_path, store)
    elif kind == "autotask":
        for name, value in (("AT_USER", test_autotask.USER), ("AT_SECRET", test_autotask.SECRET),
                            ("AT_CODE", test_autotask.CODE)):  # fmt: skip
            monkeypatch.setenv(name, value)
        at = AutotaskSimulator(
            test_ca, username=test_autotask.USER, secret=test_autotask.SECRET,
            integration_code=test_autotask.CODE,
        )  # fmt: skip
        at.add_company(123, "Acme Corp")
        with at:
            yield at, test_autotask.book(at, test_ca, tmp_path, store)
    else:
        monkeypatch.setenv("HALO_SECRET", test_halo.SECRET)
        monkeypatch.setattr(halo_client, "_TOKENS", halo_client._TokenCache())
        halo = HaloSimulator(
            test_ca, client_id="reconciler-app", client_secret=test_halo.SECRET, tenant="acme-msp"
        )
        with halo:
            client = halo.add_client("Acme")
            yield halo, test_halo.users(halo, test_ca, tmp_path, store, client)


def writes(sim: Simulator) -> list[Any]:
    return [r for r in sim.requests if r.method in ("POST", "PATCH", "PUT") and "query" not in r.path.lower()]


def test_update_writes_only_the_owned_fields_and_keeps_the_marker(psa: tuple[Simulator, ContactBook]) -> None:
    sim, book = psa
    made = book.create_contact(NewContact("Dana", "Scully", "dana@acme.example", MARKER, LINEAGE))
    before = writes(sim)
    book.update_contact(
        made.id,
        {
            RecordField.FIRST_NAME: "Dana K.",
            RecordField.LAST_NAME: "Mulder",
            RecordField.CONTACT_EMAIL: "dk@acme.example",
        },
    )
    (sent,) = writes(sim)[len(before) :]
    text = sent.body.decode()
    assert "reconciler:managed" not in text and "reconciler:lineage" not in text  # never rewritten
    (now,) = [c for c in book.list_contacts() if c.id == made.id]
    assert (now.first_name, now.last_name, now.emails[0]) == ("Dana K.", "Mulder", "dk@acme.example")
    assert now.marker == MARKER and now.active
    # the same values again: the record is unchanged (idempotent)
    book.update_contact(made.id, {RecordField.FIRST_NAME: "Dana K."})
    assert [c for c in book.list_contacts() if c.id == made.id] == [now]


def test_deactivate_sets_inactive_never_deletes_and_repeats_safely(
    psa: tuple[Simulator, ContactBook],
) -> None:
    sim, book = psa
    made = book.create_contact(NewContact("Eve", "Polastri", "eve@acme.example", MARKER))
    book.deactivate_contact(made.id)
    book.deactivate_contact(made.id)  # a rerun after a crash: still inactive, nothing else
    (now,) = [c for c in book.list_contacts() if c.id == made.id]
    assert now.active is False and now.marker == MARKER
    assert not [r for r in sim.requests if r.method == "DELETE"]
