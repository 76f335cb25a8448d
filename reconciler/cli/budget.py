"""CLI: `--budget-wait SECONDS` on plan and apply, and budget lines for `status`.

Without it, a customer whose run the MSP-wide request budget (#16) cannot cover
is reported "budget exhausted until HH:MM" and the command exits 1; with it,
each request may wait up to SECONDS in all for budget to free up.
"""

from __future__ import annotations

from typing import Any

import click

from reconciler.config import ConfigSet
from reconciler.core.budget import duration
from reconciler.engine import Engine
from reconciler.providers.budget import Budgets
from reconciler.spending import open_budgets
from reconciler.state.api import StateStore

budget_wait_option = click.option(
    "--budget-wait",
    "budget_wait",
    type=click.FloatRange(0, 86_400),
    default=0.0,
    metavar="SECONDS",
    help="Wait up to SECONDS for the MSP-wide request budget of an integration instead of "
    "reporting the customer 'budget exhausted until HH:MM'.",
)


def set_budget_wait(engine: Engine, seconds: float) -> None:
    if engine.budgets is not None:
        engine.budgets.wait_seconds = seconds


def budget_rows(budgets: Budgets | None) -> list[dict[str, Any]]:
    """Per integration with a budget: limit, window, used and left now (for status)."""
    if budgets is None:
        return []
    return [
        {
            "integration": kind.value,
            "limit": tally.limit.requests,
            "window_seconds": tally.limit.window,
            "used": tally.used,
            "left": tally.left,
        }
        for kind, tally in sorted(budgets.tallies().items())
    ]


def budget_status(config: ConfigSet | None, store: StateStore) -> list[dict[str, Any]]:
    """`status`: every budget of the config on this state, used and left now."""
    if config is None:
        return []
    budgets = open_budgets(config, store)
    try:
        return budget_rows(budgets)
    finally:
        if budgets is not None and budgets.ledger is not None:
            budgets.ledger.close()


def budget_lines(rows: list[dict[str, Any]]) -> list[str]:
    return [
        f"  {r['integration']}: {r['used']} used, {r['left']} left of {r['limit']} per "
        f"{duration(r['window_seconds'])}"
        for r in rows
    ]
