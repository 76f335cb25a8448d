"""Edges of "read integrations only when needed" (#16, docs/what-is-read-when.md
"Verifications"): nothing vanished goes unnoticed longer than one verification
period, whatever the clocks do. Real IT Glue client and simulator, real SQLite state."""

from __future__ import annotations

from pathlib import Path

from reconciler.core.plan import ChangeKind
from reconciler.core.reads import iso
from reconciler.testing.httpsim import TestCA
from reconciler.testing.itglue import ItGlueSimulator
from tests.engine.test_link_guard_sims import Later, engine_for, ours
from tests.engine.test_reads import listings, onboarded, setup
from tests.engine.test_vault_simulators import ca, itglue

__all__ = ["ca", "itglue"]  # fixtures used here


def test_a_last_full_read_in_the_future_does_not_postpone_verification(
    tmp_path: Path, ca: TestCA, itglue: ItGlueSimulator
) -> None:
    """A process whose clock ran a year ahead (a VM restored with a wrong clock, a CI
    runner) wrote the last full read: the others must not wait a year to verify."""
    root, org = setup(tmp_path, ca, itglue)
    ahead = Later()
    ahead.offset = 365 * 24 * 3600.0
    onboarded(root, ahead)
    gone = ours(itglue, org)[0]
    with itglue._data_lock:
        del itglue.store.passwords[gone]
    engine = engine_for(root, Later())  # the right time
    before = listings(itglue)
    cp = engine.plan().customers[0]
    assert listings(itglue) > before and cp.reads[0].listed, cp.reads[0]
    assert [(c.kind, getattr(c, "old_record_id", "")) for c in cp.changes] == [
        (ChangeKind.RECREATE_RECORD, str(gone))
    ]


class Slow(Later):
    """Each page of passwords takes ten minutes to come back."""

    def __init__(self, sim: ItGlueSimulator) -> None:
        super().__init__()
        self.sim = sim

    def __call__(self) -> float:
        return super().__call__() + 600.0 * listings(self.sim)


def test_a_verification_counts_from_when_its_listing_began(
    tmp_path: Path, ca: TestCA, itglue: ItGlueSimulator
) -> None:
    """A record deleted right after its page was read is in the answer; the next
    verification must come within one period of that moment, not of the listing's end."""
    root, _org = setup(tmp_path, ca, itglue)
    clock = Slow(itglue)
    engine = onboarded(root, clock)
    clock.verification_due()
    began = clock()
    cp = engine.plan().customers[0]
    assert cp.reads[0].listed and cp.reads[0].why.startswith("verification due")
    assert clock() > began  # the listing took its time
    after = engine.plan().customers[0].reads[0]
    assert not after.listed and after.last_full_read <= iso(began), (after.last_full_read, iso(began))


def test_a_change_of_record_fields_lists_the_entries_it_may_update(
    tmp_path: Path, ca: TestCA, itglue: ItGlueSimulator
) -> None:
    """R25 + #16 ("plans stay exact"): a policy that now owns `entryName` updates every
    linked entry whose name differs; the next plan must show those updates, not the
    plan after the next verification (up to verifyLinksEveryHours later)."""
    root, org = setup(tmp_path, ca, itglue)
    hand = itglue.add_password(org, "Ann's mailbox", "ann@acme.test", "Office 365")  # documented by hand
    clock = Later()
    onboarded(root, clock)
    assert engine_for(root, clock).plan().customers[0].changes == ()
    path = root / "settings.yaml"
    text = path.read_text()
    old = "options: {passwordEntryMatching: true}"
    assert old in text
    path.write_text(text.replace(old, old + "\n  recordFields: {entryName: directory}"))
    clock.offset += 3600
    cp = engine_for(root, clock).plan().customers[0]
    assert cp.reads[0].listed, cp.reads[0]
    assert [(c.kind, getattr(c, "record_id", "")) for c in cp.changes] == [
        (ChangeKind.UPDATE_RECORD, str(hand))
    ]
    # not applied yet: the next plan lists again and still shows the update
    engine = engine_for(root, clock)
    again = engine.plan()
    assert again.customers[0].reads[0].why == "record updates to make (R25)"
    assert again.customers[0].count(ChangeKind.UPDATE_RECORD) == 1
    assert not [o for r in engine.apply(again) for o in r.failed]
    assert engine.plan().customers[0].changes == ()  # lists once more, nothing left to update
    before = listings(itglue)
    quiet = engine.plan().customers[0]
    assert not quiet.reads[0].listed and quiet.changes == () and listings(itglue) == before


def test_a_cursor_written_before_record_fields_were_recorded_forces_no_listing() -> None:
    """An upgrade must not list every customer's integrations at once (the budgets)."""
    from reconciler.core.reads import FullRead

    old = FullRead.parse('{"at": 1.5, "target": "7"}')
    assert old == FullRead(1.5, "7", None)
    assert FullRead.parse(FullRead(2.0, "7", "").dump()) == FullRead(2.0, "7", "")
    assert FullRead.parse("[1, 2]") is None  # unreadable: as if never read
