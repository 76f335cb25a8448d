"""Daemon stage: wire config, state, scheduler, metrics and listener; run until a signal.

SIGTERM/SIGINT: stop taking work (readyz turns 503), let the runs in flight
finish for `shutdownGraceSeconds`, then stop them between two changes; release
every lock this process holds and exit 0. A second signal skips the grace.
The whole stop is bounded: grace + ABANDON_SECONDS.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from reconciler.apply.lease import HeldLease
from reconciler.daemon.clock import Clock, SystemClock
from reconciler.daemon.configsource import ConfigSource, GitRepo
from reconciler.daemon.listener import DaemonHttpServer, parse_listen
from reconciler.daemon.logs import configure, event
from reconciler.daemon.metrics import DaemonMetrics
from reconciler.daemon.notify.outbox import Notifier
from reconciler.daemon.replicas import exclusive
from reconciler.daemon.scheduler import Scheduler
from reconciler.errors import ReconcilerError
from reconciler.state.backend import StateBackend, open_state

ABANDON_SECONDS = 10.0
NOTIFY_FLUSH_SECONDS = 5.0  # at stop: deliveries due and email digests get this long


@dataclass(frozen=True)
class DaemonOptions:
    config_dir: Path
    listen: str | None = None
    git: bool = False
    log_format: str = "text"
    log_level: int = logging.INFO


def run(options: DaemonOptions, clock: Clock | None = None) -> int:
    configure(options.log_format, options.log_level)
    clock = clock or SystemClock()
    git = GitRepo(options.config_dir) if options.git else None
    # with --git the first pull waits for the first cycle: only the leader pulls
    source = ConfigSource(options.config_dir, clock, git, pull_first=False)
    spec = source.config.settings_doc.spec
    backend = open_state(source.config)
    store, state = backend.store, backend.daemon
    try:  # SQLite: one daemon per state file; PostgreSQL: any number of replicas
        only = exclusive(store) if backend.settings.backend == "sqlite" else None
    except ReconcilerError:
        backend.close()
        raise
    metrics = DaemonMetrics()
    notifier = Notifier(
        lambda: source.config.settings_doc.spec,
        options.config_dir,
        state,
        clock,
        customers=lambda: scheduler.customers(),
        store=store,
    )
    notifier.start()
    scheduler = Scheduler(source, store, state, clock, metrics, notifier=notifier)
    listen = options.listen or spec.daemon.listen
    try:
        server = DaemonHttpServer(parse_listen(listen), scheduler, metrics, spec.daemon.tls)
        server.start()
    except (ValueError, OSError) as exc:
        _close(backend, only)
        raise ReconcilerError(f"cannot listen on {listen}: {exc}") from None
    except ReconcilerError:
        _close(backend, only)
        raise
    _on_signals(scheduler)
    event(
        logging.INFO,
        "daemon.started",
        f"daemon started: {len(source.config.customers)} customers, listening on {server.url}",
        pid=os.getpid(),
        listen=server.url,
        commit=source.commit[:12],
    )
    stuck: list[str] = []
    try:
        scheduler.run_forever()
    finally:
        grace = 0.0 if scheduler.abandon.is_set() else scheduler.settings.shutdown_grace_seconds
        stuck = scheduler.shutdown(grace, ABANDON_SECONDS)
        server.stop()
        notifier.stop(NOTIFY_FLUSH_SECONDS)
        meta = state.meta().get("daemon") or {}
        state.put_meta("daemon", {**meta, "stopped_at": clock.now()})
        event(logging.INFO, "daemon.stopped", "daemon stopped", abandoned=", ".join(stuck) or None)
    if stuck:
        # a thread is inside a vendor call; its committed work and journal are consistent
        # and its lock is released: leave without waiting for it
        logging.shutdown()
        sys.stderr.flush()
        os._exit(0)
    _close(backend, only)
    return 0


def _close(backend: StateBackend, only: HeldLease | None) -> None:
    if only is not None:
        only.close()
    backend.close()


def _on_signals(scheduler: Scheduler) -> None:
    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        if scheduler.stopping.is_set():
            scheduler.abandon.set()  # second signal: no grace
            return
        event(logging.INFO, "daemon.stopping", f"{signal.Signals(signum).name}: stopping; no new runs start")
        scheduler.stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
