"""Daemon stage (notifications): the `Notifier` the scheduler tells after every run.

Producers (a run's thread, the config refresh) only compute problems, update
the dedup record and queue deliveries: nothing here talks to the network on a
reconcile's path. One delivery thread sends them; a failure is retried with
exponential backoff (RETRY_BASE_SECONDS doubling, at most RETRY_MAX_SECONDS,
MAX_ATTEMPTS in all; 410 Gone drops at once), so a failing target never slows
reconciling or the other targets' queues for long (HTTP_TIMEOUT_SECONDS per
try). Email targets gather events and send one digest per `digestMinutes`.
Targets are read from the running config each time, so edits apply at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from reconciler.config.models import NotificationTarget, SettingsSpec, TlsOptions
from reconciler.config.resolve import EffectiveCustomer
from reconciler.config.secretpaths import SecretRoots
from reconciler.core.events import ConfigInvalid, Event, Problem
from reconciler.core.model import WelcomeEmail
from reconciler.daemon.clock import Clock
from reconciler.daemon.notify import targets as wire
from reconciler.daemon.notify.dedup import Delivery, observe
from reconciler.daemon.notify.durable import DurableQueue
from reconciler.daemon.notify.events import customer_problems, families
from reconciler.daemon.notify.tickets import TICKET_TYPES, TicketFiler
from reconciler.errors import HttpError, ReconcilerError
from reconciler.providers.http import HttpApi, RetryPolicy, build_client
from reconciler.providers.smtp import open_mailer
from reconciler.secrets import resolve
from reconciler.state.api import CustomerRecord, DaemonStore, StateStore

log = logging.getLogger("reconciler.daemon.notify")
RETRY_BASE_SECONDS = 2.0
RETRY_MAX_SECONDS = 300.0
MAX_ATTEMPTS = 8
RECOVER_SECONDS = 30.0  # how often the queue looks for deliveries a replica that is gone left
HTTP_TIMEOUT_SECONDS = 15.0
SKIPPED = ("busy", "abandoned", "deferred")  # runs that decide nothing about a customer's health


@dataclass(order=True)
class _Pending:
    due: float
    seq: int
    target: str = field(compare=False)
    event: dict[str, Any] = field(compare=False)
    attempt: int = field(default=0, compare=False)
    key: str = field(default="", compare=False)  # its record in the durable queue


class Notifier:
    def __init__(
        self,
        settings: Callable[[], SettingsSpec],
        root: Any,
        state: DaemonStore,
        clock: Clock,
        transport: httpx.BaseTransport | None = None,
        customers: Callable[[], dict[str, EffectiveCustomer]] | None = None,
        store: StateStore | None = None,
    ) -> None:
        self._settings, self._root, self._state, self._clock = settings, root, state, clock
        self._customers, self._store = customers, store
        self._transport = transport
        self._tickets = TicketFiler(settings, root, state, clock, transport, customers, store)
        self._cond = threading.Condition()
        self._observing = threading.Lock()
        self._pending: list[_Pending] = []
        self._digests: dict[str, list[dict[str, Any]]] = {}
        self._digest_keys: dict[str, list[str]] = {}
        self._durable = DurableQueue(state)
        self._recovered_at = float("-inf")
        self._digest_since: dict[str, float] = {}
        self._seq = 0
        self._stop = False
        self._thread: threading.Thread | None = None
        self.delivered = 0
        self.failed = 0

    # --- producers (never block on the network) ----------------------------------------------
    def targets(self) -> list[NotificationTarget]:
        return list(self._settings().notifications)

    def _secret_roots(self) -> SecretRoots:
        return SecretRoots.of(self._root, self._settings().secret_dirs)

    def after_run(self, result: str, rec: CustomerRecord, warnings: list[str] | None) -> None:
        if result in SKIPPED or not self.targets():
            return
        problems = customer_problems(rec, warnings)
        with self._observing:
            deliveries = observe(
                self._state,
                self.targets(),
                rec.customer,
                problems,
                families(warnings is not None),
                self._clock.now(),
            )
        self._queue(deliveries)

    def config_state(self, error: str) -> None:
        if error:
            self.emit(ConfigInvalid(error))
        else:
            self.resolve(ConfigInvalid())

    # --- the EventSink every part of the daemon emits through (reconciler.core.events) --------
    def emit(self, event: Event) -> None:
        """`event` is true now: opened once per (customer, cause), reminded, never blocking."""
        self._observe(event.customer, [event.problem()], frozenset())

    def resolve(self, event: Event) -> None:
        """`event`'s (customer, cause) is over: one resolved event to each target told."""
        self._observe(event.customer, [], frozenset({event.cause}))

    def _observe(self, customer: str, problems: list[Problem], causes: frozenset[str]) -> None:
        targets = self.targets()
        if not targets:
            return
        with self._observing:  # one writer per dedup record in this process
            deliveries = observe(
                self._state, targets, customer, problems, frozenset(), self._clock.now(), causes
            )
        self._queue(deliveries)

    def _queue(self, deliveries: list[Delivery]) -> None:
        if not deliveries:
            return
        now = self._clock.now()
        queued = []
        for target, ev in deliveries:
            try:  # written before it is queued: a crash from here on still sends it (durable.py)
                key = self._durable.add(target, ev, now)
            except ReconcilerError as exc:
                log.warning("notification queue: %s kept in memory only: %s", ev["type"], exc)
                key = ""
            queued.append((target, ev, key))
        self._enqueue(queued)

    def _enqueue(self, queued: list[tuple[str, dict[str, Any], str]]) -> None:
        with self._cond:
            for target, ev, key in queued:
                self._seq += 1
                self._pending.append(_Pending(time.monotonic(), self._seq, target, ev, key=key))
            self._cond.notify()

    def _recover(self) -> None:
        """Deliveries a replica that is gone (this one before a crash) left queued."""
        self._recovered_at = time.monotonic()
        try:
            found = self._durable.recover(self._clock.now())
        except ReconcilerError as exc:
            log.warning("notification queue: could not read the queued deliveries: %s", exc)
            return
        if found:
            log.info("notification queue: %d queued deliveries taken over", len(found))
            self._enqueue([(q.target, q.event, q.key) for q in found])

    def _forget(self, key: str) -> None:
        if key:
            self._durable.done(key)

    def _forget_all(self, keys: list[str]) -> None:
        for key in keys:
            self._forget(key)

    # --- the delivery thread --------------------------------------------------------------------
    def start(self) -> None:
        self._recover()
        self._thread = threading.Thread(target=self._loop, name="notifications", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Send what is due (digests too) for up to `timeout`, then stop."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.idle() is False:
            time.sleep(0.05)
        with self._cond:
            self._stop = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout)
        self.flush()

    def idle(self) -> bool:
        with self._cond:
            now = time.monotonic()
            return not any(p.due <= now for p in self._pending)

    def flush(self) -> None:
        """Send every email digest now (at shutdown; tests)."""
        for name in list(self._digests):
            self._send_digest(name)

    def _loop(self) -> None:
        while True:
            with self._cond:
                if self._stop:
                    return
                now = time.monotonic()
                recover = now - self._recovered_at >= RECOVER_SECONDS
                due = sorted(p for p in self._pending if p.due <= now)
                wait = min((p.due for p in self._pending), default=now + 1.0) - now
                if not due and not recover:
                    self._cond.wait(max(0.05, min(wait, 1.0)))
                    continue
                for p in due:
                    self._pending.remove(p)
            if recover:
                self._recover()
            for p in due:
                self._attempt(p)
            self._digests_due()

    def _attempt(self, p: _Pending) -> None:
        target = next((t for t in self.targets() if t.name == p.target), None)
        if target is None:
            self._forget(p.key)
            return  # removed from the config meanwhile
        try:
            self._deliver(target, p.event, p.key)
            self.delivered += 1
            if target.type != "email":  # a digest's events are forgotten when it is sent
                self._forget(p.key)
        except _Gone:
            log.error("notification target %s answered 410 Gone; dropped %s", target.name, p.event["type"])
            self.failed += 1
            self._forget(p.key)
        except (ReconcilerError, httpx.HTTPError, OSError) as exc:
            p.attempt += 1
            what = exc.status if isinstance(exc, HttpError) and exc.status else type(exc).__name__
            if p.attempt >= MAX_ATTEMPTS:
                log.error(
                    "notification target %s: %s not delivered after %d tries (%s)",
                    target.name,
                    p.event["type"],
                    p.attempt,
                    what,
                )
                self.failed += 1
                self._forget(p.key)
                return
            delay = min(RETRY_BASE_SECONDS * 2 ** (p.attempt - 1), RETRY_MAX_SECONDS)
            log.warning(
                "notification target %s: delivery failed (%s); retry %d in %.0fs",
                target.name,
                what,
                p.attempt,
                delay,
            )
            with self._cond:
                p.due = time.monotonic() + delay
                self._pending.append(p)

    def _deliver(self, target: NotificationTarget, ev: dict[str, Any], key: str = "") -> None:
        if target.type in TICKET_TYPES:
            self._tickets.deliver(target, ev)
            return
        if target.type == "email":
            with self._cond:
                self._digests.setdefault(target.name, []).append(ev)
                self._digest_keys.setdefault(target.name, []).append(key)
                self._digest_since.setdefault(target.name, time.monotonic())
            return
        assert target.url is not None
        where = f"notification target {target.name}"
        url = resolve(target.url, self._secret_roots(), where).get_secret_value()
        if target.type == "teams":
            self._post(where, url, json=wire.teams_payload(ev))
        elif target.type == "slack":
            self._post(where, url, json=wire.slack_payload(ev))
        else:
            assert target.secret is not None
            secret = resolve(target.secret, self._secret_roots(), where)
            body, headers = wire.webhook_request(ev, secret, int(time.time()))
            self._post(where, url, content=body, headers=headers)

    def _post(self, where: str, url: str, **kwargs: Any) -> None:
        client = build_client(
            where, TlsOptions(), self._root, timeout=HTTP_TIMEOUT_SECONDS, transport=self._transport
        )
        api = HttpApi(client, where, retry=RetryPolicy(max_attempts=1), integration="notifications")
        try:
            api.request("POST", url, ok=(), **kwargs)
        except HttpError as exc:
            if exc.status == 410:
                raise _Gone from None
            raise HttpError(
                where, f"HTTP {exc.status}" if exc.status else "delivery failed", exc.status
            ) from None
        finally:
            api.close()

    # --- email digests ----------------------------------------------------------------------------
    def _digests_due(self) -> None:
        now = time.monotonic()
        for target in self.targets():
            since = self._digest_since.get(target.name)
            if target.type == "email" and since is not None and now - since >= target.digest_minutes * 60:
                self._send_digest(target.name)

    def _send_digest(self, name: str) -> None:
        target = next((t for t in self.targets() if t.name == name), None)
        with self._cond:
            events = self._digests.pop(name, [])
            keys = self._digest_keys.pop(name, [])
            self._digest_since.pop(name, None)
        if target is None or not events:
            self._forget_all(keys)
            return
        conn = self._settings().connections.smtp
        if conn is None:
            log.error("notification target %s: an email digest needs Settings connections.smtp", name)
            self._forget_all(keys)
            return
        subject, body = wire.digest_text(events)
        where = f"notification target {name}"
        try:
            mailer = open_mailer(conn, self._root, where, self._settings().secret_dirs)
            with mailer:
                for to in target.to:
                    mailer.send(WelcomeEmail(to, subject, body, f"digest/{events[0]['id']}/{to}"))
            self.delivered += len(events)
            self._forget_all(keys)
        except ReconcilerError as exc:
            log.warning(
                "notification target %s: digest not sent (%s); kept for the next one",
                name,
                type(exc).__name__,
            )
            with self._cond:
                self._digests[name] = events + self._digests.get(name, [])
                self._digest_keys[name] = keys + self._digest_keys.get(name, [])
                self._digest_since.setdefault(name, time.monotonic())


class _Gone(Exception):
    """The receiver answered 410: it wants no more deliveries."""
