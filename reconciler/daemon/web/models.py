"""Daemon stage (HTTP): the JSON API's documents as pydantic models.

They are the single source of the answers (every answer is validated through
them) and of the OpenAPI document at /api/v1/openapi.json, so the two cannot
drift apart; schemathesis fuzzes the API against that document in the tests.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

from reconciler.daemon.web.fleet import CustomerStatus

API_VERSION = "1.0.0"


class Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Error(Doc):
    error: str


class LastRun(Doc):
    started_at: float | None
    finished_at: float
    result: str
    message: str
    commit: str
    changes_applied: int


class Blocked(Doc):
    reason: str
    since: float | None
    removals: int = Field(
        description="How many removals wait for approval (the list: the customer document)."
    )
    override_pending: bool


class CustomerSummary(Doc):
    name: str
    status: CustomerStatus
    configured: bool = Field(description="False for state left by a customer no longer in the config.")
    last_run: LastRun | None
    next_run_at: float | None
    last_success_at: float | None
    conflicts: int
    changes_pending: int
    failures: int
    quarantined: bool
    blocked: Blocked | None


class CustomerPage(Doc):
    items: list[CustomerSummary]
    total: int = Field(description="Customers matching the filter.")
    page: int
    per_page: int
    pages: int


class DaemonInfo(Doc):
    model_config = ConfigDict(extra="allow")
    running: bool


class FleetHold(Doc):
    state: str = Field(description="checking, held, released or clear (#12).")
    config_digest: str
    changed: int = Field(description="Customers whose settings changed since they were last applied.")
    digest: str | None = Field(description="What `reconciler override --fleet` takes.")
    reason: str | None
    customers: list[str]
    removals: int
    limit: int | None
    fleet: int | None
    since: float | None
    released_at: float | None
    released_by: str


class Fleet(Doc):
    customers: int
    problems: int
    by_status: dict[str, int]
    daemon: DaemonInfo
    config_error: str
    config_commit: str
    fleet_breaker: FleetHold | None = Field(
        default=None, description="The fleet breaker's last check and its hold, if any (#12)."
    )


class Candidate(Doc):
    id: str
    name: str
    detail: str


class Conflict(Doc):
    account_key: str
    label: str
    integration: str
    cause: str
    candidates: list[Candidate]
    pin: str = Field(description="The Customer `pins` entry (YAML) that resolves the conflict.")


class IntegrationReads(Doc):
    integration: str
    linked_id: str = Field(description="The customer's organization / company there (its YAML link).")
    last_full_read: str | None = Field(
        description="When a plan last listed it in full and found every linked record (ISO 8601 UTC); "
        "null: never, the next run lists it in full (#16)."
    )
    next_verification: str | None = Field(
        description="When its links are due to be proven again by a full read (verifyLinksEveryHours, "
        "jittered early per customer); null with no full read on record."
    )
    stale_target: bool = Field(
        description="The last full read was of another organization / company than the link now names: "
        "the next run lists in full."
    )


class Deferral(Doc):
    reason: str = Field(description="Why the last run was deferred (request budget or quiet hours).")
    until: str | None = Field(description="When it runs again (ISO 8601 UTC).")


class CustomerDetail(Doc):
    customer: CustomerSummary
    paused: bool
    conflicts: list[Conflict]
    blocked_removals: list[str] = Field(
        description="Accounts a safety block would remove, waiting for approval."
    )
    reads: list[IntegrationReads] = Field(
        default_factory=list,
        description="Per integration the customer links: its last full read and next verification (#16).",
    )
    deferred: Deferral | None = Field(
        default=None, description="Set when the last run was deferred (request budget or quiet hours)."
    )


class BudgetRow(Doc):
    integration: str
    limit: int = Field(description="Requests allowed per window, for the whole MSP.")
    window_seconds: float
    used: int = Field(description="Requests spent in the current window, by every process on this state.")
    left: int
    exhausted_until: str | None = Field(
        description="While the budget refuses runs: until when (ISO 8601 UTC); else null."
    )
    deferred_total: int = Field(
        description="Due customers this daemon deferred for this budget since it started."
    )


class Budgets(Doc):
    items: list[BudgetRow] = Field(description="Every integration with a budget; empty when none has one.")


class Run(Doc):
    model_config = ConfigDict(extra="allow")
    started: float
    finished: float
    duration: float
    result: str
    message: str
    applied: int
    failed: int
    pending: int
    conflicts: int
    commit: str
    host: str = Field(description="The replica (host) that ran it.")
    pid: int
    quarantined: bool


class RunHistory(Doc):
    customer: str
    items: list[Run]


class LastPlan(Doc):
    customer: str
    at: float
    commit: str
    status: str
    reason: str
    serial: int
    counts: dict[str, int]
    changes_total: int
    changes: list[dict[str, Any]] = Field(description="The first changes, as in the saved-plan JSON.")
    conflicts: list[Conflict]
    warnings: list[str]
    notes: list[str]


MODELS: tuple[type[Doc], ...] = (Error, Fleet, Budgets, CustomerPage, CustomerDetail, RunHistory, LastPlan)


def _param(name: str, schema: dict[str, Any], description: str, where: str = "query") -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": where == "path",
        "schema": schema,
        "description": description,
    }


def _answers(model: str, *errors: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "200": {"description": "OK", "content": {"application/json": {"schema": _ref(model)}}}
    }
    texts = {
        400: "invalid parameter",
        401: "the token is required",
        404: "no such customer or plan",
        503: "the state store is not available",
    }
    for code in (*errors, 401):
        out[str(code)] = {
            "description": texts[code],
            "content": {"application/json": {"schema": _ref("Error")}},
        }
    return out


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


NAME = _param(
    "name", {"type": "string", "pattern": "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"}, "customer", "path"
)


def openapi(max_per_page: int) -> dict[str, Any]:
    _, top = models_json_schema(
        [(m, "serialization") for m in MODELS], ref_template="#/components/schemas/{model}"
    )
    statuses = [s.value for s in CustomerStatus]
    page_params = [
        _param(
            "page",
            {"type": "integer", "minimum": 1, "maximum": 1_000_000, "default": 1},
            "page number, from 1",
        ),
        _param(
            "per_page",
            {"type": "integer", "minimum": 1, "maximum": max_per_page, "default": 100},
            "customers per page",
        ),
        _param("status", {"type": "string", "enum": statuses}, "only customers with this status"),
        _param("q", {"type": "string", "maxLength": 100}, "only names containing this text"),
        _param("problems", {"type": "boolean"}, "only quarantined, blocked, failing or conflicted customers"),
    ]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "reconciler daemon API",
            "version": API_VERSION,
            "description": "Read-only view of the fleet the daemon reconciles. Needs the daemon token "
            "(bearer) or a status-page session unless the listener is on loopback.",
        },
        "components": {
            "schemas": top.get("$defs", {}),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "reconciler_session"},
            },
        },
        "security": [{}, {"bearer": []}, {"session": []}],
        "paths": {
            "/api/v1/fleet": {
                "get": {"operationId": "fleet", "summary": "Counts by status", "responses": _answers("Fleet")}
            },
            "/api/v1/budgets": {
                "get": {
                    "operationId": "budgets",
                    "summary": "MSP-wide request budgets: used and left now, exhausted until when",
                    "responses": _answers("Budgets", 503),
                }
            },
            "/api/v1/customers": {
                "get": {
                    "operationId": "customers",
                    "summary": "Customers, problems first, filtered and paginated",
                    "parameters": page_params,
                    "responses": _answers("CustomerPage", 400),
                }
            },
            "/api/v1/customers/{name}": {
                "get": {
                    "operationId": "customer",
                    "summary": "One customer: status, conflicts with their pins, blocked removals",
                    "parameters": [NAME],
                    "responses": _answers("CustomerDetail", 404),
                }
            },
            "/api/v1/customers/{name}/runs": {
                "get": {
                    "operationId": "runs",
                    "summary": "The customer's run history, newest first",
                    "parameters": [
                        NAME,
                        _param(
                            "limit", {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}, "runs"
                        ),
                    ],
                    "responses": _answers("RunHistory", 400, 404),
                }
            },
            "/api/v1/customers/{name}/plan": {
                "get": {
                    "operationId": "plan",
                    "summary": "The plan of the customer's last run",
                    "parameters": [NAME],
                    "responses": _answers("LastPlan", 404),
                }
            },
        },
    }
