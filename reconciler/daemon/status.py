"""Daemon stage: what `reconciler status` shows (R19), from the state database only.

Per customer: the last run (by the daemon or a CLI apply, whichever is newer)
and its result, pending conflicts with their causes and candidates, the safety
block and any override waiting, failures/quarantine, and the next run. Daemon
wide: is it running (heartbeat), the config error it lives with, the commit, and
the fleet breaker's hold (#12) with the digest `reconciler override --fleet` takes.
Reading status never talks to a directory or integration.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from reconciler.config.resolve import EffectiveCustomer
from reconciler.core.words import count
from reconciler.daemon.fleet import read_view
from reconciler.daemon.runner import DAEMON_HOLDER
from reconciler.daemon.schedule import interval_seconds
from reconciler.state.api import LEADER, CustomerRecord, DaemonStore, LockInfo, RunRow, StateStore

STALE_HEARTBEAT = 60.0
WARNINGS_SHOWN = 5  # per customer in the text; JSON has every one


@dataclass(frozen=True)
class StatusInputs:
    customers: dict[str, EffectiveCustomer]  # from the config (empty when it cannot be read)
    store: StateStore
    state: DaemonStore
    now: float
    config_problem: str = ""


def collect(inputs: StatusInputs) -> dict[str, Any]:
    records = inputs.state.all()
    meta = inputs.state.meta()
    names = sorted(set(inputs.customers) | (set(records) if not inputs.customers else set()))
    running = {lock.customer: lock for lock in inputs.store.locks()}
    # one query each for the whole fleet, never one per customer
    newest = inputs.state.latest_history()
    runs = inputs.store.last_runs()
    leader = inputs.store.lease_of(LEADER)
    replicas = [
        {
            **asdict(r),
            "current": list(r.current),
            "leader": leader is not None and leader.holder.endswith(r.id),
        }
        for r in inputs.state.replicas()
        if r.live(inputs.now, STALE_HEARTBEAT)
    ]
    fleet = read_view(inputs.state, meta).to_dict()
    held = set(fleet["customers"]) if fleet and fleet["state"] == "held" else set()
    customers = [
        _customer(n, inputs, records.get(n), running.get(n), newest.get(n, {}), runs.get(n)) for n in names
    ]
    for c in customers:
        c["fleet_held"] = fleet["digest"] if fleet and c["customer"] in held else None
    return {
        "daemon": {**_daemon(meta, inputs.now), "replicas": len(replicas)},
        "fleet": fleet,
        "replicas": replicas,
        "config_error": inputs.config_problem or meta.get("config_error") or "",
        "config_commit": meta.get("config_commit") or "",
        "customers": customers,
    }


def _daemon(meta: dict[str, Any], now: float) -> dict[str, Any]:
    info = meta.get("daemon")
    if not isinstance(info, dict):
        return {"running": False}
    beat = float(info.get("heartbeat", 0))
    running = "stopped_at" not in info and now - beat < STALE_HEARTBEAT
    return {**info, "running": running}


def _customer(
    name: str,
    inputs: StatusInputs,
    rec: CustomerRecord | None,
    lock: LockInfo | None,
    where: dict[str, Any],
    row: RunRow | None,
) -> dict[str, Any]:
    eff = inputs.customers.get(name)
    out: dict[str, Any] = {
        "customer": name,
        # an apply holds the customer's lock while it runs (daemon or CLI)
        "running": None
        if lock is None
        else {
            "by": lock.holder,
            "pid": lock.pid,
            "host": lock.host,
            "since": lock.acquired_at,
            "alive": lock.alive,
        },
        "paused": eff.paused if eff else False,
        "interval_minutes": round(interval_seconds(eff) / 60) if eff else None,
        "last_run": _last_run(rec, where, row),
        "conflicts": list(rec.conflicts) if rec else [],
        "changes_pending": rec.changes_pending if rec else 0,
        "blocked": None,
        "override_pending": bool(rec and rec.override_pending),
        "failures": rec.failures if rec else 0,
        "quarantined": bool(rec and rec.quarantined),
        "next_run_at": rec.next_run_at if rec else None,
        "last_success_at": rec.last_success_at if rec else None,
        # the daemon's last plan: a renamed/moved OU or group kept in force, ... (#15)
        "warnings": _plan_warnings(inputs.state, name) if rec else [],
    }
    if rec is not None and rec.blocked:
        out["blocked"] = {
            "reason": rec.blocked_reason,
            "since": rec.blocked_since,
            "removals": list(rec.blocked_removals),
        }
    return out


def _plan_warnings(state: DaemonStore, name: str) -> list[str]:
    plan = state.get_record("plan", name) or {}
    warnings = plan.get("warnings")
    return [str(w) for w in warnings] if isinstance(warnings, list) else []


def _last_run(rec: CustomerRecord | None, where: dict[str, Any], row: RunRow | None) -> dict[str, Any] | None:
    """`where`: the customer's newest daemon history entry; `row`: its newest run row."""
    daemon: dict[str, Any] | None = None
    if rec is not None and rec.last_finished_at is not None:
        daemon = {
            "replica": f"{where['host']}:{where['pid']}" if "host" in where and "pid" in where else "",
            "by": "daemon",
            "started_at": rec.last_started_at,
            "finished_at": rec.last_finished_at,
            "result": rec.last_result,
            "message": rec.last_message,
            "changes_applied": rec.changes_applied,
            "commit": rec.last_commit,
        }
    cli: dict[str, Any] | None = None
    if row is not None and row[3].get("holder") != DAEMON_HOLDER:
        started, finished, result, detail = row
        applied, failed = int(detail.get("applied", 0)), int(detail.get("failed", 0))
        if detail.get("error"):
            message = str(detail["error"])
        elif result == "stopped":
            message = f"stopped: {applied} of {detail.get('planned', '?')} changes applied"
        else:
            message = f"{applied} applied, {failed} failed"
        cli = {
            "replica": str(detail.get("replica", "")),
            "by": "apply",
            "started_at": started,
            "finished_at": finished,
            "result": result,
            "message": message,
            "changes_applied": int(detail.get("applied", 0)),
            "commit": "",
        }
    if daemon is None or rec is None or rec.last_finished_at is None:
        return cli
    if cli is not None and cli["finished_at"] > rec.last_finished_at:
        return cli
    return daemon


# --- text ------------------------------------------------------------------------------------


def render_text(data: dict[str, Any], now: float, config_dir: str = ".") -> str:
    lines = [_daemon_line(data["daemon"], now, data["config_commit"])]
    replicas = data.get("replicas", [])
    if len(replicas) > 1 or any(r["current"] for r in replicas):
        for r in replicas:
            work = ", ".join(r["current"]) or "idle"
            lead = ", leader" if r["leader"] else ""
            lines.append(
                f"  replica {r['id']} (v{r['version']}{lead}, heartbeat {_ago(r['heartbeat'], now)}): {work}"
            )
    if data["config_error"]:
        lines.append(
            f"config: INVALID on disk; the daemon runs the last valid config: {data['config_error']}"
        )
    lines.extend(_fleet_lines(data.get("fleet"), now, config_dir))
    lines.append("")
    for c in data["customers"]:
        lines.extend(_customer_lines(c, now, config_dir))
    return "\n".join(lines).rstrip() + "\n"


def _fleet_lines(f: dict[str, Any] | None, now: float, config_dir: str) -> list[str]:
    if f is None or f["state"] == "clear":
        return []
    if f["state"] == "checking":
        return [
            f"fleet: checking config {f['config_digest'][:12]}: {count(f['changed'], 'customer')} whose "
            "settings changed are planned before any of them is applied"
        ]
    names = ", ".join(f["customers"])
    if f["state"] == "released":
        return [
            f"fleet: breaker {f['digest']} released by {f['released_by'] or '?'} {_ago(f['released_at'], now)}; "
            f"{names} apply exactly the removals it showed"
        ]
    return [
        f"fleet: HELD since {_ago(f['since'], now)}: {f['reason']}: {names} "
        f"({count(f['removals'], 'removal')} waiting)",
        f"  to release it: reconciler override -c {config_dir} --fleet {f['digest']}",
    ]


def _daemon_line(d: dict[str, Any], now: float, commit: str) -> str:
    if not d.get("pid"):
        return "daemon: never ran against this state"
    tail = f", config commit {commit[:12]}" if commit else ""
    if d.get("replicas", 0) > 1:
        return f"daemon: {d['replicas']} replicas running{tail}"
    if d["running"]:
        return f"daemon: running (pid {d['pid']} on {d.get('host', '?')}, heartbeat {_ago(d['heartbeat'], now)}){tail}"
    when = d.get("stopped_at") or d.get("heartbeat")
    return f"daemon: not running (last seen {_ago(when, now)}){tail}"


def _customer_lines(c: dict[str, Any], now: float, config_dir: str) -> list[str]:
    name = c["customer"]
    run = c["last_run"]
    if run is None:
        head = "never run"
    else:
        head = f"{run['result']} {_ago(run['finished_at'], now)} ({run['message']})"
        if run.get("commit"):
            head += f" at commit {run['commit'][:12]}"
        if run.get("replica"):
            head += f" on {run['replica']}"
    if c["paused"]:
        head = "PAUSED (R10) · " + head
    lock = c["running"]
    if lock is not None:
        gone = "" if lock["alive"] else "; its process is gone: reconciler state unlock"
        head = (
            f"RUNNING ({lock['by']}, pid {lock['pid']} on {lock['host']}, "
            f"since {_ago(lock['since'], now)}{gone}) · last {head}"
        )
    lines = [f"customer {name}: {head}"]
    sched = []
    if c["next_run_at"] is not None:
        sched.append(f"next run {_in(c['next_run_at'], now)}")
    if c["interval_minutes"]:
        sched.append(f"every {c['interval_minutes']}m")
    if c["quarantined"]:
        sched.append(f"QUARANTINED after {c['failures']} consecutive failures (slow retry)")
    elif c["failures"]:
        sched.append(f"{count(c['failures'], 'consecutive failure')}, backing off")
    if sched:
        lines.append("  " + ", ".join(sched))
    blocked = c["blocked"]
    if c.get("fleet_held") and not (blocked and "fleet breaker" in blocked["reason"]):
        lines.append(f"  HELD by fleet breaker {c['fleet_held']} (see fleet above)")
    if blocked:
        lines.append(f"  BLOCKED since {_ago(blocked['since'], now)}: {blocked['reason']}")
        if c["override_pending"]:
            lines.append("  override given; it is used by the next run")
        else:
            lines.append(f"  to apply it once anyway: reconciler override -c {config_dir} {name}")
    if c["changes_pending"]:
        lines.append(f"  {count(c['changes_pending'], 'change')} planned, not applied")
    warnings = c.get("warnings", [])
    lines.extend(f"  warning: {w}" for w in warnings[:WARNINGS_SHOWN])
    if len(warnings) > WARNINGS_SHOWN:
        lines.append(
            f"  ... {count(len(warnings) - WARNINGS_SHOWN, 'more warning')} (--format json lists all)"
        )
    for k in c["conflicts"]:
        cands = ", ".join(f"{x['id']} {x['name']!r}" for x in k.get("candidates", []))
        lines.append(f"  conflict: {k['label']} in {k['integration']}: {k['cause']} (candidates: {cands})")
    return lines


def _ago(ts: float | None, now: float) -> str:
    if ts is None:
        return "?"
    return f"{_span(now - ts)} ago" if now >= ts else f"in {_span(ts - now)}"


def _in(ts: float, now: float) -> str:
    return "now (overdue)" if ts <= now else f"in {_span(ts - now)}"


def _span(seconds: float) -> str:
    s = int(seconds)
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}m"
    if s < 172800:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86400}d"
