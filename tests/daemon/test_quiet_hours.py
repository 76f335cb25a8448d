"""Run windows (quiet hours, #16) in the daemon: a customer whose plan writes during a
closed window is planned (reads still run) but not applied; its next run is when
the window opens, and that run applies. Deferral is not a failure."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reconciler.daemon.configsource import ConfigSource
from reconciler.daemon.metrics import DaemonMetrics
from reconciler.daemon.scheduler import Scheduler
from reconciler.state.backend import open_state
from reconciler.testing.clock import FakeClock
from tests.daemon.conftest import Rig, edit_yaml

TUESDAY_10 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC).timestamp()
OPENS = datetime(2026, 12, 1, 17, 0, tzinfo=UTC).timestamp()  # 18:00 in Berlin (CET)


def rig_at(root: Path, now: float) -> Rig:
    clock = FakeClock(now)
    source = ConfigSource(root, clock, None)
    backend = open_state(source.config)
    store, state, metrics = backend.store, backend.daemon, DaemonMetrics()
    scheduler = Scheduler(source, store, state, clock, metrics, random.Random(7))
    return Rig(root, clock, store, state, metrics, scheduler)


def test_the_daemon_defers_in_quiet_hours_and_applies_when_they_end(config_dir: Path) -> None:
    def quiet(doc: dict[str, Any]) -> None:
        doc["spec"]["quietHours"] = [
            {"name": "business", "start": "08:00", "end": "18:00", "timeZone": "Europe/Berlin"}
        ]

    edit_yaml(config_dir / "settings.yaml", quiet)
    rig = rig_at(config_dir, TUESDAY_10)
    try:
        rig.cycle()
        rec = rig.record("contoso")
        assert rec.last_result == "deferred", rec.last_message
        assert "quiet hours 'business'" in rec.last_message
        assert rec.next_run_at == OPENS and rec.failures == 0 and not rec.quarantined
        assert rec.changes_pending > 0 and rig.accounts("contoso") == set()  # planned, nothing applied
        rig.clock.advance(OPENS - TUESDAY_10)
        rig.cycle()
        rec = rig.record("contoso")
        assert rec.last_result == "applied", rec.last_message
        assert rig.accounts("contoso")
    finally:
        rig.close()
