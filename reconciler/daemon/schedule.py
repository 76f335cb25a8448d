"""Daemon stage: when each customer runs next (R9), with jitter, backoff and quarantine.

Pure arithmetic over numbers and the resolved config: the scheduler passes the
time in and a seeded `random.Random`, so every decision is reproducible in tests.

- Interval: the shortest `schedule.intervalMinutes` of the customer's import
  settings (end-user or admin), else R9's defaults: 60 minutes for Entra-only
  customers, 180 as soon as Active Directory is a source.
- Jitter: a customer seen for the first time starts somewhere in the first
  jitter window (so hundreds of customers do not all start at once), and every
  later run lands up to `jitter` of the interval early or late (Argo CD / Flux).
- Failures back off exponentially per customer (never beyond the customer's own
  interval); after `quarantine_after` consecutive failures the customer is
  quarantined and only retried at the slow quarantine rate until it succeeds.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from reconciler.config.models import DaemonSettings, Source
from reconciler.config.resolve import EffectiveCustomer
from reconciler.daemon.runner import RunResult

ENTRA_ONLY_MINUTES = 60
WITH_AD_MINUTES = 180


@dataclass(frozen=True)
class RetryRules:
    jitter: float = 0.1
    backoff_initial: float = 60.0
    backoff_max: float = 1800.0
    quarantine_after: int = 5
    quarantine_retry: float = 720 * 60.0

    @classmethod
    def from_settings(cls, s: DaemonSettings) -> RetryRules:
        return cls(
            s.jitter_percent / 100.0,
            s.backoff_initial_seconds,
            s.backoff_max_seconds,
            s.quarantine_after_failures,
            s.quarantine_retry_minutes * 60.0,
        )


def interval_seconds(eff: EffectiveCustomer) -> float:
    bindings = [b for b in (eff.end_user, eff.admin) if b is not None]
    configured = [
        b.settings.schedule.interval_minutes for b in bindings if b.settings.schedule.interval_minutes
    ]
    if configured:
        return 60.0 * min(configured)
    with_ad = any(b.settings.source is Source.ACTIVE_DIRECTORY for b in bindings)
    return 60.0 * (WITH_AD_MINUTES if with_ad else ENTRA_ONLY_MINUTES)


def jittered(seconds: float, jitter: float, rng: random.Random) -> float:
    return seconds * (1.0 + rng.uniform(-jitter, jitter)) if jitter else seconds


def first_due(now: float, interval: float, rules: RetryRules, rng: random.Random) -> float:
    """A customer never run by this daemon: somewhere in the first jitter window."""
    return now + rng.uniform(0.0, interval * rules.jitter) if rules.jitter else now


def next_after_run(
    started: float, finished: float, interval: float, rules: RetryRules, rng: random.Random
) -> float:
    """After a run that did not fail: one (jittered) interval after it started."""
    return max(finished, started + jittered(interval, rules.jitter, rng))


def next_after_failure(
    finished: float, failures: int, interval: float, rules: RetryRules, rng: random.Random
) -> tuple[float, bool]:
    """(when, quarantined) after `failures` consecutive failures (>= 1)."""
    if failures >= rules.quarantine_after:
        return finished + jittered(rules.quarantine_retry, rules.jitter, rng), True
    delay = min(rules.backoff_initial * 2 ** (failures - 1), rules.backoff_max, interval)
    return finished + jittered(delay, rules.jitter, rng), False


def after_run(
    result: RunResult,
    started: float,
    finished: float,
    failures: int,
    quarantined: bool,
    interval: float,
    rules: RetryRules,
    rng: random.Random,
) -> tuple[float, int, bool]:
    """(next run, consecutive failures, quarantined) after a run ended with `result`."""
    if result is RunResult.ERROR:
        when, quarantined = next_after_failure(finished, failures + 1, interval, rules, rng)
        return when, failures + 1, quarantined
    if result is RunResult.BUSY:  # another apply holds the customer: not its failure
        return finished + rules.backoff_initial, failures, quarantined
    if result is RunResult.ABANDONED:  # stopped by shutdown: due again at the next start
        return finished, failures, quarantined
    return next_after_run(started, finished, interval, rules, rng), 0, False


def shortened(
    next_run: float,
    last_started: float | None,
    interval: float,
    rules: RetryRules,
    now: float,
    rng: random.Random,
) -> float | None:
    """A new, earlier time when the configured interval was shortened since the
    next run was planned; None when the planned time still fits."""
    if last_started is None:
        return None
    if next_run <= last_started + interval * (1.0 + rules.jitter):
        return None
    return max(now, last_started + jittered(interval, rules.jitter, rng))
