"""Schedule arithmetic: R9 intervals, jitter, backoff, quarantine."""

from __future__ import annotations

import random
from pathlib import Path

from reconciler.config import load_valid_config
from reconciler.config.resolve import effective_customers
from reconciler.daemon.runner import RunResult
from reconciler.daemon.schedule import (
    RetryRules,
    after_run,
    first_due,
    interval_seconds,
    next_after_failure,
    next_after_run,
    shortened,
)

from .conftest import edit_yaml

NOW = 1_700_000_000.0


def test_r9_defaults_and_overrides(config_dir: Path) -> None:
    effs = effective_customers(load_valid_config(config_dir))
    assert interval_seconds(effs["contoso"]) == 3600  # Entra-only policy, no schedule: 1 h
    assert interval_seconds(effs["northwind"]) == 3 * 3600  # AD, customer-level, no schedule: 3 h
    assert interval_seconds(effs["fabrikam"]) == 3 * 3600  # AD policy says 180

    edit_yaml(
        config_dir / "policies" / "entra-standard.yaml",
        lambda d: d["spec"].update(schedule={"intervalMinutes": 15}),
    )
    edit_yaml(
        config_dir / "customers" / "northwind.yaml",
        lambda d: d["spec"]["import"].update(schedule={"intervalMinutes": 30}),
    )
    edit_yaml(  # tailspin has its own Entra settings (groups, R22)
        config_dir / "customers" / "tailspin.yaml",
        lambda d: d["spec"]["import"].update(schedule={"intervalMinutes": 20}),
    )
    effs = effective_customers(load_valid_config(config_dir))
    assert interval_seconds(effs["contoso"]) == 15 * 60
    assert interval_seconds(effs["tailspin"]) == 20 * 60
    assert interval_seconds(effs["northwind"]) == 30 * 60


def test_jitter_stays_within_bounds_and_spreads() -> None:
    rng = random.Random(1)
    rules = RetryRules(jitter=0.1)
    nexts = [next_after_run(NOW, NOW + 5, 3600, rules, rng) for _ in range(500)]
    assert all(NOW + 3240 <= t <= NOW + 3960 for t in nexts)
    assert max(nexts) - min(nexts) > 600  # really spread, not one value
    assert next_after_run(NOW, NOW + 5, 3600, RetryRules(jitter=0), rng) == NOW + 3600


def test_first_runs_of_a_fleet_are_spread_over_the_jitter_window() -> None:
    rng = random.Random(2)
    rules = RetryRules(jitter=0.1)
    starts = sorted(first_due(NOW, 3600, rules, rng) for _ in range(200))
    assert starts[0] >= NOW and starts[-1] <= NOW + 360
    per_minute = [sum(1 for s in starts if NOW + 60 * m <= s < NOW + 60 * (m + 1)) for m in range(6)]
    assert max(per_minute) < 60  # ~33 a minute, never all 200 at once


def test_a_run_longer_than_its_interval_is_not_rescheduled_into_the_past() -> None:
    assert next_after_run(NOW, NOW + 5000, 3600, RetryRules(jitter=0), random.Random()) == NOW + 5000


def test_backoff_doubles_is_capped_then_quarantines() -> None:
    rules = RetryRules(
        jitter=0, backoff_initial=60, backoff_max=400, quarantine_after=6, quarantine_retry=7200
    )
    rng = random.Random()
    delays = [next_after_failure(NOW, n, 3600, rules, rng) for n in range(1, 7)]
    assert [(t - NOW, q) for t, q in delays] == [
        (60, False),
        (120, False),
        (240, False),
        (400, False),
        (400, False),
        (7200, True),
    ]
    # never backs off beyond the customer's own interval
    short = RetryRules(jitter=0, backoff_initial=60, backoff_max=10_000, quarantine_after=99)
    assert next_after_failure(NOW, 10, 300, short, rng) == (NOW + 300, False)


def test_shortened_interval_takes_effect_before_the_old_next_run() -> None:
    rules = RetryRules(jitter=0)
    rng = random.Random()
    started = NOW - 600
    # planned with 3 h; now the interval is 1 h -> one hour after the last start
    assert shortened(started + 3 * 3600, started, 3600, rules, NOW, rng) == started + 3600
    # still fits -> unchanged
    assert shortened(started + 3600, started, 3600, rules, NOW, rng) is None
    # overdue by the new interval -> now
    assert shortened(started + 3 * 3600, started, 300, rules, NOW, rng) == NOW


def test_after_run_counts_only_real_failures() -> None:
    rules = RetryRules(jitter=0, backoff_initial=60, quarantine_after=2, quarantine_retry=7200)
    rng = random.Random()
    assert after_run(RunResult.ERROR, NOW, NOW + 1, 0, False, 3600, rules, rng) == (NOW + 61, 1, False)
    assert after_run(RunResult.ERROR, NOW, NOW + 1, 1, False, 3600, rules, rng) == (NOW + 7201, 2, True)
    # a lock held by someone else, or a shutdown, is nobody's failure
    assert after_run(RunResult.BUSY, NOW, NOW + 1, 1, False, 3600, rules, rng) == (NOW + 61, 1, False)
    assert after_run(RunResult.ABANDONED, NOW, NOW + 1, 1, True, 3600, rules, rng) == (NOW + 1, 1, True)
    # anything that planned (even blocked or paused) ends the failure streak and quarantine
    for ok in (RunResult.IN_SYNC, RunResult.APPLIED, RunResult.BLOCKED, RunResult.PAUSED):
        assert after_run(ok, NOW, NOW + 1, 4, True, 3600, rules, rng) == (NOW + 3600, 0, False)
