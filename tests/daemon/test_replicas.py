"""Daemon replicas on one PostgreSQL state, as real processes (real PostgreSQL, file
twins of Entra and IT Glue, welcome emails to a file outbox):

- kill -9 replicas at 10 random moments: the fleet converges with 0 duplicate IT
  Glue entries, 0 double welcome emails and no overlapping epochs;
- SIGSTOP a holder until its lease is taken over, SIGCONT: it writes, creates and
  sends nothing more;
- a CI-style `reconciler apply` while a replica holds the customer: it is told
  who holds the lease, and never both apply;
- PostgreSQL restarted under an apply: one clear line per customer, then the
  next run converges.
"""

from __future__ import annotations

import json
import random
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from reconciler.config import load_valid_config
from reconciler.state.backend import open_state
from reconciler.testing import pgcluster
from tests.daemon.replicafleet import (
    EXE,
    LEASE_SECONDS,
    Replica,
    claims,
    duplicates,
    overlapping,
    start,
    stop_all,
    wait_converged,
    write_fleet,
)

pytestmark = pytest.mark.usefixtures("pg_dsn")


def _held(root: Path) -> dict[str, tuple[int, int]]:
    """customer -> (pid, epoch) of its live lease."""
    backend = open_state(load_valid_config(root))
    try:
        return {lease.customer: (lease.pid, lease.epoch) for lease in backend.store.locks()}
    finally:
        backend.close()


def _wait(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_kill_9_replicas_at_random_moments_converges_without_duplicates(tmp_path: Path) -> None:
    root = tmp_path / "fleet"
    names = write_fleet(root, customers=6, users=40, batch=2)
    rng = random.Random(14)
    replicas = [start(root, n) for n in range(3)]
    killed: list[Replica] = []
    try:
        _wait(lambda: bool(_held(root)), 30, "a first claim")
        for n in range(10):
            live = [r for r in replicas if r.proc.poll() is None]
            # a replica holding a lease when there is one (runs are short: a random
            # victim could miss every run in flight, and then nothing is taken over)
            holders = {pid for pid, _ in _held(root).values()}
            victim = rng.choice([r for r in live if r.pid in holders] or live)
            victim.kill()  # kill -9: no release, no bookkeeping
            killed.append(victim)
            replicas.append(start(root, 3 + n))  # keep two or three running
            time.sleep(rng.uniform(0.2, 1.2))
        # every lease of the dead expires within leaseSeconds; a claim poll later it is taken over
        wait_converged(root, timeout=LEASE_SECONDS * 3 + 60)
    finally:
        stop_all(replicas)
    dup_entries, dup_mails, entries, mails = duplicates(root, names)
    assert dup_entries == [] and dup_mails == []
    assert entries == 6 * 40  # every account has its entry, exactly once
    assert mails <= 6 * 40  # a send interrupted by a kill is not repeated (R16)
    by_customer = claims(root, names)
    assert overlapping(by_customer) == []
    assert sum(len(c) for c in by_customer.values()) > len(names)  # takeovers did happen
    killed_pids = {r.pid for r in killed}
    assert any(c.pid in killed_pids for cs in by_customer.values() for c in cs)


def test_a_paused_holder_never_writes_after_its_lease_is_taken_over(tmp_path: Path) -> None:
    root = tmp_path / "fleet"
    names = write_fleet(root, customers=1, users=200, batch=1, in_flight=1)
    first = start(root, 0)
    replicas = [first]
    try:
        _wait(lambda: _held(root).get(names[0], (0, 0))[0] == first.pid, 30, "the first replica's claim")
        time.sleep(0.5)  # mid-apply
        first.proc.send_signal(signal.SIGSTOP)
        paused_epoch = _held(root)[names[0]][1]
        second = start(root, 1)
        replicas.append(second)
        _wait(lambda: _held(root).get(names[0], (0, 0))[0] == second.pid, LEASE_SECONDS + 120, "the takeover")
        first.proc.send_signal(signal.SIGCONT)
        wait_converged(root, timeout=120)
        time.sleep(1.0)  # the resumed replica had time to try
    finally:
        stop_all(replicas)
    by_customer = claims(root, names)
    assert overlapping(by_customer) == []
    old = next(c for c in by_customer[names[0]] if c.epoch == paused_epoch)
    new = next(c for c in by_customer[names[0]] if c.epoch == paused_epoch + 1)
    assert old.last_write_at is not None and old.last_write_at <= new.acquired_at
    dup_entries, dup_mails, entries, _ = duplicates(root, names)
    assert dup_entries == [] and dup_mails == [] and entries == 200
    said = " ".join(str(x.get("message", "")) for x in first.lines())
    assert "lease" in said and ("lost its lease" in said or "could not renew its lease" in said)


def test_a_ci_apply_while_a_replica_holds_the_customer_names_the_holder(tmp_path: Path) -> None:
    root = tmp_path / "fleet"
    names = write_fleet(root, customers=1, users=300, batch=1, in_flight=1)
    daemon = start(root, 0)
    try:
        _wait(lambda: names[0] in _held(root), 30, "the replica's claim")
        ci = subprocess.run(
            [str(EXE), "apply", "-c", str(root), "--auto-approve"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        held_now = names[0] in _held(root)
    finally:
        stop_all([daemon])
    out = ci.stdout + ci.stderr
    assert ci.returncode == 1, out
    assert f"{names[0]}: locked by reconciler daemon (pid {daemon.pid} on " in out or not held_now, out
    assert "Traceback" not in out
    dup_entries, dup_mails, _, _ = duplicates(root, names)
    assert dup_entries == [] and dup_mails == []
    assert overlapping(claims(root, names)) == []


def test_dropped_connections_and_a_postgresql_restart_under_an_apply(
    tmp_path: Path, pg_server: pgcluster.Cluster | None
) -> None:
    """Connections dropped mid-transaction: that customer's apply ends with one line
    naming it and the state database, no traceback; the others go on. A restart: the
    pool reconnects (an outage shorter than its timeout is waited out). Either way the
    next run converges, with nothing duplicated."""
    if pg_server is None:
        pytest.skip("restarts the fixture's own cluster (RECONCILER_TEST_PG_DSN is set)")
    root = tmp_path / "fleet"
    names = write_fleet(root, customers=2, users=300, batch=1)
    runs = []
    for disrupt in ("drop", "restart"):
        with (tmp_path / "out").open("w") as out_file, (tmp_path / "err").open("w") as err_file:
            apply = subprocess.Popen(
                [str(EXE), "apply", "-c", str(root), "--auto-approve"],
                stdout=out_file,
                stderr=err_file,
                text=True,
            )
            running = apply
            _wait(lambda: bool(_held(root)) or running.poll() is not None, 120, "the apply's lease")  # noqa: B023
            if disrupt == "drop":
                # until the apply ends: on a loaded machine a few seconds of drops may
                # fall between its transactions
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline and apply.poll() is None:
                    pg_server.psql(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE application_name = 'reconciler' AND pid <> pg_backend_pid()"
                    )
                    time.sleep(0.2)
            else:
                pg_server.restart()  # every connection is dropped
            apply.wait(180)
        out, err = (tmp_path / "out").read_text(), (tmp_path / "err").read_text()
        runs.append((disrupt, apply.returncode, err))
        assert "Traceback" not in out + err
        failed = [line for line in err.splitlines() if ": not applied: " in line]
        assert all(line.split(":")[0] in names and "state database (postgres" in line for line in failed), err
        assert (apply.returncode == 1) == bool(failed), out + err
        # more users arrive for the second round, so it has work to disrupt too
        for name in names:
            path = root / "live" / name / "entra.json"
            doc = json.loads(path.read_text())
            doc["users"] += [
                {**u, "id": "9" + u["id"][1:], "upn": "more" + u["upn"], "mail": "more" + u["mail"],
                 "proxy_addresses": ["SMTP:more" + u["mail"]]}
                for u in doc["users"][:300]
            ]  # fmt: skip
            path.write_text(json.dumps(doc), encoding="utf-8")
    assert runs[0][1] == 1, runs  # dropping connections until it ended certainly hit a transaction
    # the next run converges: a lease the interrupted apply could not release expires
    deadline = time.monotonic() + LEASE_SECONDS * 2 + 60
    while True:
        again = subprocess.run(
            [str(EXE), "apply", "-c", str(root), "--auto-approve"],
            capture_output=True,
            text=True,
            timeout=180,
        )
        if again.returncode == 0:
            break
        assert "locked by" in again.stderr, again.stderr
        assert time.monotonic() < deadline, again.stdout + again.stderr
        time.sleep(2)
    wait_converged(root, timeout=30)
    dup_entries, dup_mails, _, _ = duplicates(root, names)
    assert dup_entries == [] and dup_mails == []


def _status(root: Path) -> dict[str, object]:
    done = subprocess.run(
        [str(EXE), "status", "-c", str(root), "--format", "json"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    data: dict[str, object] = json.loads(done.stdout)
    return data


def test_the_fleet_breaker_holds_every_replica_until_its_digest_is_released(tmp_path: Path) -> None:
    """#12: the leader's check holds the fleet in the shared state; `reconciler override
    --fleet` from another process releases it, and both replicas apply what it showed."""
    root = tmp_path / "fleet"
    names = write_fleet(root, customers=6, users=10, batch=10, in_flight=2)
    replicas = [start(root, n) for n in range(2)]
    try:
        wait_converged(root, timeout=120)
        policy = root / "policies" / "entra-standard.yaml"
        policy.write_text(policy.read_text().replace("selfServe: true", "selfServe: false"))
        for name in names:  # and every tenant loses two users: six customers would remove
            path = root / "live" / name / "entra.json"
            data = json.loads(path.read_text())
            data["users"] = data["users"][:8]
            path.write_text(json.dumps(data))
        _wait(lambda: (_status(root).get("fleet") or {}).get("state") == "held", 90, "the hold")  # type: ignore[union-attr]
        fleet = _status(root)["fleet"]
        assert isinstance(fleet, dict) and fleet["customers"] == names and fleet["removals"] == 12
        stale = subprocess.run(
            [str(EXE), "override", "-c", str(root), "--fleet", "000000000000"], capture_output=True, text=True
        )
        assert stale.returncode == 1 and f"the fleet breaker now holds {fleet['digest']}" in stale.stderr
        done = subprocess.run(
            [str(EXE), "override", "-c", str(root), "--fleet", str(fleet["digest"])],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        wait_converged(root, timeout=120)
    finally:
        stop_all(replicas)
    backend = open_state(load_valid_config(root))
    try:
        assert [backend.store.count_accounts(n) for n in names] == [8] * 6
        ran = {f"{h['host']}:{h['pid']}" for n in names for h in backend.daemon.history(n, 1)}
    finally:
        backend.close()
    assert ran <= {f"{socket.gethostname()}:{r.pid}" for r in replicas}
    checked = [r for r in replicas if any(line.get("event") == "fleet.held" for line in r.lines())]
    assert len(checked) == 1  # one check, by the leader; the other replica read the shared hold
