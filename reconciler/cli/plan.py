"""CLI: `plan`, `apply` and `show`."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from reconciler.apply.executor import ApplyOutcome, CustomerResult
from reconciler.cli.budget import budget_wait_option, set_budget_wait
from reconciler.cli.common import Ctx, config_dir_option
from reconciler.cli.jsonout import emit
from reconciler.cli.progress import reading
from reconciler.cli.selection import chosen, customer_option, exclude_option
from reconciler.config import load_valid_config
from reconciler.config.idle import idle_warnings
from reconciler.config.resolve import effective_customers
from reconciler.core.drift import CustomerDrift
from reconciler.core.plan import Plan, Status
from reconciler.core.planfile import plan_pieces
from reconciler.core.render import render_json, render_markdown, render_text
from reconciler.core.words import count
from reconciler.engine import Engine
from reconciler.errors import (
    EXIT_CHANGES,
    EXIT_DEFERRED,
    EXIT_ERROR,
    EXIT_OK,
    EXIT_REFUSED,
    ReconcilerError,
)
from reconciler.gcpause import gc_paused

format_option = click.option(
    "--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True
)


def is_verbose(ctx: click.Context) -> bool:
    """-v / --verbose (a global flag, also after the sub-command): the text plan then
    names every directory user that was seen but not imported."""
    obj = ctx.find_object(Ctx)
    return obj is not None and obj.verbose > 0


def render(plan: Plan, fmt: str, verbose: bool = False) -> str:
    if fmt == "json":
        return render_json(plan)
    if fmt == "markdown":
        return render_markdown(plan)
    return render_text(plan, color=sys.stdout.isatty() and "NO_COLOR" not in os.environ, verbose=verbose)


def save_plan(plan: Plan, path: Path) -> None:
    # the plan's outer levels indented, a change per line (`show` renders it)
    with path.open("w", encoding="utf-8") as out:
        out.writelines(plan_pieces(plan))


def load_plan(path: Path) -> Plan:
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("the file does not hold a JSON object")
        return Plan.from_dict(data)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ReconcilerError(f"{path}: not a reconciler plan file ({type(exc).__name__}: {exc})") from None


def plan_with_progress(
    engine: Engine,
    customers: tuple[str, ...],
    allow_mass_removal: bool,
    full_sync: bool = False,
    allow_fleet_removal: bool = False,
    allow_mass_update: bool = False,
) -> Plan:
    """engine.plan, with a spinner and a line per customer on a terminal."""
    with reading(len(engine.customers(customers))) as progress:
        return engine.plan(
            customers,
            allow_mass_removal,
            full_sync,
            progress=progress.customer if progress else None,
            allow_fleet_removal=allow_fleet_removal,
            allow_mass_update=allow_mass_update,
        )


def warn_idle(engine: Engine, names: tuple[str, ...]) -> None:
    """#17 item 3: a located warning on stderr for each chosen customer that will do nothing."""
    for problem in idle_warnings(engine.config, names):
        click.echo(str(problem), err=True)


def show_drift(drifts: list[CustomerDrift], fmt: str, detailed: bool) -> int:
    """`plan --refresh-only`: drift per customer; exit 2 (with --detailed-exitcode) when any."""
    found = sum(len(d.items) for d in drifts)
    failed = [d for d in drifts if d.error]
    if fmt == "json":
        emit("drift", {"customers": [d.to_dict() for d in drifts], "drift": found})
    else:
        symbols = {"directory": "~", "deleted": "-", "edited": "!"}
        for d in drifts:
            if d.error:
                click.echo(f"customer {d.customer}: ERROR: {d.error}")
                continue
            if not d.items and not d.untracked:
                continue
            click.echo(f"customer {d.customer}: {count(len(d.items), 'change')} outside reconciler")
            for item in d.items:
                click.echo(f"  {symbols[item.kind]} {item.label}: {item.detail}")
            if d.untracked:
                click.echo(
                    f"  ? {count(d.untracked, 'linked record')} without a fingerprint (linked before "
                    "this version): edits to them are not detected until they are linked again"
                )
        click.echo(
            f"Drift: {count(found, 'change')} outside reconciler since the last apply; nothing is proposed."
            if found
            else "No drift: everything matches the last apply."
        )
    if failed:
        return EXIT_ERROR
    return EXIT_CHANGES if detailed and found else EXIT_OK


def plan_exit_code(plan: Plan, detailed: bool) -> int:
    if any(cp.status is Status.REFUSED for cp in plan.customers):
        return EXIT_REFUSED
    if any(cp.status is Status.ERROR for cp in plan.customers):
        return EXIT_ERROR
    if detailed and plan.summary().has_changes:
        return EXIT_CHANGES
    return EXIT_OK


@click.command()
@config_dir_option
@customer_option
@exclude_option
@click.option(
    "-o", "--out", "out", type=click.Path(path_type=Path, dir_okay=False), help="Save the plan for apply."
)
@format_option
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when there are changes.")
@click.option("--allow-mass-removal", is_flag=True, help="Plan removals beyond the safety threshold.")
@click.option(
    "--allow-mass-update", is_flag=True, help="Plan record updates (R25) beyond the safety threshold."
)
@click.option(
    "--allow-fleet-removal",
    is_flag=True,
    help="Do not hold customers when many whose settings changed would remove accounts.",
)
@click.option("--full-sync", is_flag=True, help="Ignore incremental cursors and read directories in full.")
@click.option(
    "--refresh-only",
    is_flag=True,
    help="Only show what changed outside since the last apply (drift); propose no changes. Reads everything.",
)
@budget_wait_option
@click.pass_context
def plan(
    ctx: click.Context,
    config_dir: Path,
    customers: tuple[str, ...],
    excluded: tuple[str, ...],
    out: Path | None,
    fmt: str,
    detailed_exitcode: bool,
    allow_mass_removal: bool,
    allow_mass_update: bool,
    allow_fleet_removal: bool,
    full_sync: bool,
    refresh_only: bool,
    budget_wait: float,
) -> None:
    """Show what apply would change, per customer. Changes nothing."""
    engine = Engine.open(load_valid_config(config_dir))
    set_budget_wait(engine, budget_wait)
    names = chosen(effective_customers(engine.config), customers, excluded)
    warn_idle(engine, names)
    if refresh_only:
        if out is not None:
            raise click.UsageError("--refresh-only proposes no changes: there is no plan to save with -o")
        ctx.exit(show_drift(engine.refresh(names), fmt, detailed_exitcode))
    # one pause from the reads to the saved file (the engine's own pauses nest in it):
    # re-enabled between stages, the collector walked every record read so far
    with gc_paused():  # planning, rendering and saving build no cycles
        result = plan_with_progress(
            engine, names, allow_mass_removal, full_sync, allow_fleet_removal, allow_mass_update
        )
        _in_flight_notes(engine, result)
        click.echo(render(result, fmt, is_verbose(ctx)), nl=False)
        if out is not None:
            save_plan(result, out)
    if out is not None:
        click.echo(
            f"Saved the plan to {out}; apply exactly it with: reconciler apply -c {config_dir} {out}",
            err=True,
        )
    ctx.exit(plan_exit_code(result, detailed_exitcode))


@click.command()
@config_dir_option
@click.argument("planfile", required=False, type=click.Path(path_type=Path, dir_okay=False, exists=True))
@customer_option
@exclude_option
@click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation.")
@click.option("--allow-mass-removal", is_flag=True, help="Apply removals beyond the safety threshold.")
@click.option(
    "--allow-mass-update", is_flag=True, help="Apply record updates (R25) beyond the safety threshold."
)
@click.option(
    "--allow-fleet-removal",
    is_flag=True,
    help="Do not hold customers when many whose settings changed would remove accounts.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one document with the result of every change (needs a PLANFILE or --auto-approve).",
)
@budget_wait_option
@click.pass_context
def apply(
    ctx: click.Context,
    config_dir: Path,
    planfile: Path | None,
    customers: tuple[str, ...],
    excluded: tuple[str, ...],
    auto_approve: bool,
    allow_mass_removal: bool,
    allow_mass_update: bool,
    allow_fleet_removal: bool,
    fmt: str,
    budget_wait: float,
) -> None:
    """Apply a saved PLANFILE exactly, or plan now, show it and ask first."""
    if fmt == "json" and planfile is None and not auto_approve:
        raise ReconcilerError("--format json cannot ask for confirmation: give a PLANFILE or --auto-approve")
    engine = Engine.open(load_valid_config(config_dir))
    set_budget_wait(engine, budget_wait)
    names = chosen(effective_customers(engine.config), customers, excluded)
    if planfile is not None:
        the_plan = load_plan(planfile)
        if names:
            the_plan = replace(
                the_plan, customers=tuple(cp for cp in the_plan.customers if cp.customer in names)
            )
        engine.check_fresh(the_plan)
    else:
        warn_idle(engine, names)
        the_plan = plan_with_progress(
            engine, names, allow_mass_removal, False, allow_fleet_removal, allow_mass_update
        )
        if fmt == "text":
            click.echo(render(the_plan, "text"), nl=False)
        if the_plan.summary().has_changes and not auto_approve:
            if not sys.stdin.isatty():
                raise ReconcilerError(
                    "no terminal to confirm on; use --auto-approve or apply a saved plan file"
                )
            if not click.confirm("Apply these changes?"):
                click.echo("Nothing applied.")
                ctx.exit(EXIT_OK)
    if not the_plan.summary().has_changes:
        if fmt == "json":
            emit("apply", apply_document(the_plan, []))
        else:
            click.echo("Nothing to apply.")
        ctx.exit(plan_exit_code(the_plan, False))
    with _progress() as progress:
        results = engine.apply(
            the_plan,
            progress=progress,
            allow_mass_removal=allow_mass_removal,
            allow_mass_update=allow_mass_update,
        )
    if fmt == "json":
        emit("apply", apply_document(the_plan, results))
        ctx.exit(_exit_code(the_plan, results))
    ctx.exit(_report(the_plan, results))


@contextmanager
def _progress() -> Iterator[Callable[[str, int], Callable[[int], None]] | None]:
    """R11: a progress bar per customer on a terminal; nothing otherwise."""
    if not sys.stderr.isatty():
        yield None
        return
    bars: list[Any] = []

    def start(customer: str, total: int) -> Callable[[int], None]:
        bar = click.progressbar(length=total, label=customer, file=sys.stderr)
        bar.__enter__()
        bars.append(bar)
        return bar.update

    try:
        yield start
    finally:
        for bar in bars:
            bar.__exit__(None, None, None)


def _exit_code(the_plan: Plan, results: list[CustomerResult]) -> int:
    """The worst outcome wins: refused 3, error 1, deferred by quiet hours 4, else the plan's."""
    code = plan_exit_code(the_plan, False)
    deferred = False
    for r in results:
        if r.outcome is ApplyOutcome.DEFERRED and not r.failed:
            deferred = True
            continue
        if r.error or r.failed:
            refused = r.outcome is ApplyOutcome.REFUSED
            code = EXIT_REFUSED if (r.error and refused) or code == EXIT_REFUSED else EXIT_ERROR
    if deferred and code in (EXIT_OK, EXIT_CHANGES):
        return EXIT_DEFERRED
    return code


def _iso(ts: float | None) -> str | None:
    return None if ts is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def apply_document(the_plan: Plan, results: list[CustomerResult]) -> dict[str, Any]:
    """`apply --format json`: per customer, every change with its outcome."""
    return {
        "config_digest": the_plan.config_digest,
        "customers": [
            {
                "customer": r.customer,
                "error": r.error,
                "outcome": r.outcome.value,
                "refused": r.outcome is ApplyOutcome.REFUSED,
                "busy": r.outcome is ApplyOutcome.BUSY,
                "deferred_until": _iso(r.retry_at),
                "stopped": r.stopped,
                "changes": [{**o.change.to_dict(), "ok": o.ok, "message": o.message} for o in r.outcomes],
            }
            for r in results
        ],
        "applied": sum(len(r.succeeded) for r in results),
        "failed": sum(len(r.failed) for r in results),
    }


def _in_flight_notes(engine: Engine, the_plan: Plan) -> None:
    """A customer being applied right now (a daemon, CI, a person): say so first, on
    stderr; this plan may be stale by the time it is applied."""
    held = engine.in_flight()
    now = time.time()
    for cp in the_plan.customers:
        lease = held.get(cp.customer)
        if lease is not None:
            click.echo(
                f"note: {cp.customer} is being applied right now by {lease.describe(now)}; "
                "this plan may be stale before it is applied",
                err=True,
            )


def _report(the_plan: Plan, results: list[CustomerResult]) -> int:
    for r in results:
        if r.error:
            click.echo(f"{r.customer}: not applied: {r.error}", err=True)
            continue
        click.echo(f"{r.customer}: {len(r.succeeded)} applied, {len(r.failed)} failed")
        for o in r.failed:
            click.echo(f"  failed: {o.change.kind.value} {o.change.label}: {o.message}", err=True)
    code = _exit_code(the_plan, results)
    done = sum(len(r.succeeded) for r in results)
    failed = sum(len(r.failed) for r in results)
    click.echo(f"Apply complete: {count(done, 'change')} applied, {failed} failed.")
    return code


@click.command()
@click.argument("planfile", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@format_option
@click.pass_context
def show(ctx: click.Context, planfile: Path, fmt: str) -> None:
    """Render a saved plan."""
    click.echo(render(load_plan(planfile), fmt, is_verbose(ctx)), nl=False)


COMMANDS = (plan, apply, show)
