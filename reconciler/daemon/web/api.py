"""Daemon stage (HTTP): the read-only JSON API under /api/v1/ (OpenAPI at /api/v1/openapi.json).

    GET /api/v1/fleet                      counts by status, daemon heartbeat, config error
    GET /api/v1/budgets                    MSP-wide request budgets: used, left, exhausted until (#16)
    GET /api/v1/customers                  ?status= &q= &problems= &page= &per_page=  (problems first)
    GET /api/v1/customers/{name}           status, conflicts with their pins, blocked removals,
                                           last full read and next verification per integration,
                                           why and until when its last run was deferred
    GET /api/v1/customers/{name}/runs      run history, newest first (?limit=)
    GET /api/v1/customers/{name}/plan      the plan of the last run

Viewing needs the daemon token (bearer) or a status-page session, unless the
listener is on loopback: plans carry names and email addresses.
"""

from __future__ import annotations

import logging
import math
import re
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from reconciler.config.models import NAME_PATTERN
from reconciler.config.resolve import EffectiveCustomer
from reconciler.core.reads import FullRead, cursor_name, iso, verify_after
from reconciler.daemon.budgets import DEFERRAL
from reconciler.daemon.budgets import RECORD as BUDGET_RECORD
from reconciler.daemon.fleet import read_view
from reconciler.daemon.status import _daemon as daemon_info
from reconciler.daemon.web.access import view_refusal
from reconciler.daemon.web.common import daemon_of, json_response
from reconciler.daemon.web.fleet import CustomerStatus, Row, brief_of, fleet, select
from reconciler.daemon.web.models import (
    Budgets,
    CustomerDetail,
    CustomerPage,
    Fleet,
    LastPlan,
    RunHistory,
    openapi,
)
from reconciler.daemon.web.snapshot import Snapshot
from reconciler.integrations.table import TABLE
from reconciler.state.api import CustomerRecord

MAX_PER_PAGE = 500
MAX_PAGE = 1_000_000
_NAME = re.compile(NAME_PATTERN)
log = logging.getLogger("reconciler.daemon.http")


class BadParameter(ValueError):
    pass


def _answer(model: type[BaseModel], data: dict[str, Any]) -> Response:
    return json_response(200, model.model_validate(data).model_dump(mode="json"))


def snapshot_of(request: Request) -> Snapshot:
    daemon = daemon_of(request)
    sched = daemon.scheduler
    return daemon.fleet.get(lambda: (fleet(sched.state.briefs(), sched.customers()), sched.state.meta()))


def fleet_summary(request: Request, snap: Snapshot) -> dict[str, Any]:
    """Counts and the daemon's heartbeat, from the snapshot: no query per request."""
    sched = daemon_of(request).scheduler
    meta = snap.meta
    return {
        "customers": len(snap.rows),
        "problems": snap.problems,
        "by_status": snap.counts,
        "daemon": daemon_info(meta, sched.clock.now()),
        "config_error": sched.source.error or meta.get("config_error") or "",
        "config_commit": meta.get("config_commit") or "",
        "fleet_breaker": read_view(sched.state, meta).to_dict(),
    }


def _int(request: Request, name: str, default: int, low: int, high: int) -> int:
    text = request.query_params.get(name)
    if text is None:
        return default
    if not re.fullmatch(r"[0-9]{1,9}", text) or not low <= int(text) <= high:
        raise BadParameter(f"{name}: a whole number from {low} to {high}")
    return int(text)


def page_of(request: Request, rows: list[Row], problems_first: int | None = None) -> dict[str, Any]:
    """One page of `rows` as the query asks (status, q, problems, page, per_page)."""
    params = request.query_params
    status = params.get("status")
    if status is not None and status not in {s.value for s in CustomerStatus}:
        raise BadParameter(f"status: one of {', '.join(s.value for s in CustomerStatus)}")
    query = params.get("q", "")
    if len(query) > 100:
        raise BadParameter("q: at most 100 characters")
    problems_text = params.get("problems", "false")
    if problems_text not in ("true", "false"):
        raise BadParameter("problems: true or false")
    per_page = _int(request, "per_page", 100, 1, MAX_PER_PAGE)
    page = _int(request, "page", 1, 1, MAX_PAGE)
    chosen = select(rows, status or "", query, problems_text == "true", problems_first)
    start = (page - 1) * per_page
    return {
        "items": [r.summary() for r in chosen[start : start + per_page]],
        "total": len(chosen),
        "page": page,
        "per_page": per_page,
        "pages": max(1, math.ceil(len(chosen) / per_page)),
    }


def customer_detail(request: Request, name: str) -> dict[str, Any] | None:
    sched = daemon_of(request).scheduler
    if not _NAME.match(name):
        return None
    rec = sched.state.get(name)
    eff = sched.customers().get(name)
    if rec is None and eff is None:
        return None
    row = fleet([brief_of(rec)] if rec else [], {name: eff} if eff else {})[0]
    return {
        "customer": row.summary(),
        "paused": bool(eff and eff.paused),
        "conflicts": list(rec.conflicts) if rec else [],
        "blocked_removals": list(rec.blocked_removals) if rec and rec.blocked else [],
        "reads": reads_of(request, eff) if eff is not None else [],
        "deferred": deferral_of(rec, sched.state.get_record(DEFERRAL, name)),
    }


def reads_of(request: Request, eff: EffectiveCustomer) -> list[dict[str, Any]]:
    """Per integration the customer links: when a plan last listed it in full (the
    engine's `reads/<integration>` cursor, core/reads.py) and when its links are due
    to be verified again."""
    sched = daemon_of(request).scheduler
    hours = sched.source.config.settings_doc.spec.verify_links_every_hours
    out: list[dict[str, Any]] = []
    for kind, facts in TABLE.items():
        target = facts.linked_id(eff.doc.spec.integrations)
        if target is None:
            continue
        last = FullRead.parse(sched.store.get_cursor(eff.name, cursor_name(kind)))
        out.append(
            {
                "integration": kind.value,
                "linked_id": target,
                "last_full_read": iso(last.at) if last is not None else None,
                "next_verification": (
                    iso(last.at + verify_after(eff.name, kind, hours)) if last is not None else None
                ),
                "stale_target": last is not None and last.target != target,
            }
        )
    return out


def deferral_of(rec: CustomerRecord | None, before: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """Why and until when the customer waits (request budget, quiet hours): a last run
    that ended deferred (its message; its next run, which the scheduler moved to when it
    can go on), or a deferral before any run was started (`before`, the daemon's
    `deferral` record: budgets that could not cover it), while newer than the last run."""
    if rec is not None and rec.last_result == "deferred":
        return {
            "reason": rec.last_message,
            "until": iso(rec.next_run_at) if rec.next_run_at is not None else None,
        }
    if before is None or float(before.get("at", 0.0)) <= float((rec and rec.last_finished_at) or 0.0):
        return None
    return {"reason": str(before.get("reason", "")), "until": iso(float(before.get("until", 0.0)))}


def budget_rows(request: Request) -> list[dict[str, Any]]:
    """Per integration with a budget: limit, window, used and left now (from the shared
    ledger), until when it refuses runs (the open exhaustion the daemon keeps in its
    state) and how many due customers this daemon deferred for it."""
    daemon = daemon_of(request)
    sched = daemon.scheduler
    budgets = sched.budgets.budgets
    if budgets is None:  # no budget, offline, or before the scheduler's first cycle
        return []
    tallies = budgets.tallies()
    exhausted = sched.state.records(BUDGET_RECORD) if tallies else {}
    now = sched.clock.now()
    rows = []
    for kind, tally in sorted(tallies.items()):
        until = float((exhausted.get(kind.value) or {}).get("until", 0.0))
        deferred = daemon.metrics.registry.get_sample_value(
            "reconciler_budget_deferred_total", {"integration": kind.value}
        )
        rows.append(
            {
                "integration": kind.value,
                "limit": tally.limit.requests,
                "window_seconds": tally.limit.window,
                "used": tally.used,
                "left": tally.left,
                "exhausted_until": iso(until) if until > now else None,
                "deferred_total": int(deferred or 0),
            }
        )
    return rows


def _guarded(request: Request) -> Response | None:
    return view_refusal(request)


def api_fleet(request: Request) -> Response:
    return _guarded(request) or _answer(Fleet, fleet_summary(request, snapshot_of(request)))


def api_budgets(request: Request) -> Response:
    if refusal := _guarded(request):
        return refusal
    try:
        rows = budget_rows(request)
    except Exception:  # the state store (ledger) is down: say so, not a 500
        log.warning("budgets: the state store is not available", exc_info=True)
        return json_response(503, {"error": "the state store is not available"})
    return _answer(Budgets, {"items": rows})


def api_customers(request: Request) -> Response:
    if refusal := _guarded(request):
        return refusal
    snap = snapshot_of(request)

    def render() -> bytes:
        return bytes(_answer(CustomerPage, page_of(request, snap.rows, snap.problems)).body)

    try:  # one rendering per snapshot and query string
        body = snap.rendered(("api/customers", request.url.query), render)
    except BadParameter as exc:
        return json_response(400, {"error": str(exc)})
    return Response(body, 200, media_type="application/json")


def api_customer(request: Request) -> Response:
    if refusal := _guarded(request):
        return refusal
    detail = customer_detail(request, request.path_params["name"])
    if detail is None:
        return json_response(404, {"error": "unknown customer"})
    return _answer(CustomerDetail, detail)


def api_runs(request: Request) -> Response:
    if refusal := _guarded(request):
        return refusal
    name = request.path_params["name"]
    try:
        limit = _int(request, "limit", 20, 1, 100)
    except BadParameter as exc:
        return json_response(400, {"error": str(exc)})
    if customer_detail(request, name) is None:
        return json_response(404, {"error": "unknown customer"})
    items = daemon_of(request).scheduler.state.history(name, limit)
    return _answer(RunHistory, {"customer": name, "items": items})


def last_plan(request: Request, name: str) -> dict[str, Any] | None:
    if not _NAME.match(name):
        return None
    plan = daemon_of(request).scheduler.state.get_record("plan", name)
    return {"customer": name, **plan} if plan is not None else None


def api_plan(request: Request) -> Response:
    if refusal := _guarded(request):
        return refusal
    plan = last_plan(request, request.path_params["name"])
    if plan is None:
        return json_response(404, {"error": "no plan recorded for this customer yet"})
    return _answer(LastPlan, plan)


def api_openapi(request: Request) -> Response:
    return json_response(200, openapi(MAX_PER_PAGE))


def routes() -> list[Route]:
    return [
        Route("/api/v1/openapi.json", api_openapi, methods=["GET"]),
        Route("/api/v1/fleet", api_fleet, methods=["GET"]),
        Route("/api/v1/budgets", api_budgets, methods=["GET"]),
        Route("/api/v1/customers", api_customers, methods=["GET"]),
        Route("/api/v1/customers/{name}", api_customer, methods=["GET"]),
        Route("/api/v1/customers/{name}/runs", api_runs, methods=["GET"]),
        Route("/api/v1/customers/{name}/plan", api_plan, methods=["GET"]),
    ]
