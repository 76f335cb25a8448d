"""Daemon stage: Prometheus metrics on a registry of our own (never the global one).

Per run: a duration histogram and a run counter by result, changes applied and
failed by kind. Per customer: last success time, pending conflicts (R18),
blocked and quarantined flags, plus fleet totals of both; the fleet breaker's hold. API requests, throttles
and retries by integration come from the HTTP seam's process-wide counters,
read at scrape time.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from reconciler.integrations.table import TABLE
from reconciler.providers.http import ApiStats, api_totals
from reconciler.state.api import CustomerRecord

DURATION_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 1800.0)


class _ApiCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        # every integration of the table has its series from the start (0 until used)
        totals = {kind.value: ApiStats() for kind in TABLE} | api_totals()
        families = (
            ("reconciler_api_requests", "HTTP requests sent to integrations", "requests"),
            ("reconciler_api_throttled", "Requests answered 429 (throttled)", "throttled"),
            (
                "reconciler_api_retries",
                "Requests retried after a throttle, 5xx or transport error",
                "retries",
            ),
            (
                "reconciler_api_throttle_wait_seconds",
                "Seconds waited for a vendor's fixed rate-limit window to end after a 429 without Retry-After",
                "throttle_wait_seconds",
            ),
        )
        for name, doc, attr in families:
            family = CounterMetricFamily(name, doc, labels=["integration"])
            for integration, stats in sorted(totals.items()):
                family.add_metric([integration], getattr(stats, attr))
            yield family


class DaemonMetrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.duration = Histogram(
            "reconciler_reconcile_duration_seconds",
            "Time of one customer's reconcile (plan and apply)",
            ["result"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.runs = Counter(
            "reconciler_reconcile_runs", "Customer reconciles by result", ["result"], registry=r
        )
        self.last_success = Gauge(
            "reconciler_last_success_timestamp_seconds",
            "When the customer was last reconciled successfully",
            ["customer"],
            registry=r,
        )
        self.applied = Counter("reconciler_changes_applied", "Changes applied, by kind", ["kind"], registry=r)
        self.failed = Counter(
            "reconciler_changes_failed", "Changes that failed, by kind", ["kind"], registry=r
        )
        self.conflicts = Gauge(
            "reconciler_conflicts", "Pending matching conflicts (R18) per customer", ["customer"], registry=r
        )
        self.customer_blocked = Gauge(
            "reconciler_customer_blocked",
            "1 while a safety guard blocks the customer",
            ["customer"],
            registry=r,
        )
        self.customer_quarantined = Gauge(
            "reconciler_customer_quarantined", "1 while the customer is quarantined", ["customer"], registry=r
        )
        self.blocked = Gauge(
            "reconciler_customers_blocked", "Customers blocked by a safety guard", registry=r
        )
        self.quarantined = Gauge("reconciler_customers_quarantined", "Customers quarantined", registry=r)
        self.in_flight = Gauge("reconciler_customers_in_flight", "Customers being reconciled now", registry=r)
        self.config_valid = Gauge(
            "reconciler_config_valid",
            "1 when the config on disk is valid (0: running the last valid one)",
            registry=r,
        )
        self.config_reload_errors = Counter(
            "reconciler_config_reload_errors", "Config reloads refused as invalid", registry=r
        )
        self.fleet_held = Gauge(
            "reconciler_fleet_held", "1 while the fleet breaker holds removals (#12)", registry=r
        )
        self.fleet_held_customers = Gauge(
            "reconciler_fleet_held_customers", "Customers the fleet breaker holds", registry=r
        )
        r.register(_ApiCollector())
        self._lock = threading.Lock()
        self._blocked: set[str] = set()
        self._quarantined: set[str] = set()

    def observe_run(
        self, result: str, duration: float, applied: dict[str, int], failed: dict[str, int]
    ) -> None:
        self.duration.labels(result).observe(duration)
        self.runs.labels(result).inc()
        for kind, n in applied.items():
            self.applied.labels(kind).inc(n)
        for kind, n in failed.items():
            self.failed.labels(kind).inc(n)

    def record(self, rec: CustomerRecord) -> None:
        """Per-customer gauges from the customer's daemon record."""
        name = rec.customer
        if rec.last_success_at is not None:
            self.last_success.labels(name).set(rec.last_success_at)
        self.conflicts.labels(name).set(len(rec.conflicts))
        self.customer_blocked.labels(name).set(1 if rec.blocked else 0)
        self.customer_quarantined.labels(name).set(1 if rec.quarantined else 0)
        with self._lock:
            for flag, members in ((rec.blocked, self._blocked), (rec.quarantined, self._quarantined)):
                if flag:
                    members.add(name)
                else:
                    members.discard(name)
            self.blocked.set(len(self._blocked))
            self.quarantined.set(len(self._quarantined))

    def fleet(self, held: bool, customers: int) -> None:
        self.fleet_held.set(1 if held else 0)
        self.fleet_held_customers.set(customers)

    def retain(self, customers: Iterable[str]) -> None:
        """Drop the series of customers that left the config."""
        keep = set(customers)
        for gauge in (self.last_success, self.conflicts, self.customer_blocked, self.customer_quarantined):
            for labels in list(_label_values(gauge)):
                if labels[0] not in keep:
                    gauge.remove(*labels)
        with self._lock:
            self._blocked &= keep
            self._quarantined &= keep
            self.blocked.set(len(self._blocked))
            self.quarantined.set(len(self._quarantined))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def _label_values(gauge: Gauge) -> list[tuple[str, ...]]:
    return [tuple(s.labels.values()) for m in gauge.collect() for s in m.samples]
