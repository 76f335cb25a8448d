"""Hudu's simulator hook-up for `reconciler sandbox` (loaded only by it)."""

from __future__ import annotations

from reconciler.testing.httpsim import TestCA, token
from reconciler.testing.hudu import HuduSimulator
from reconciler.testing.sandbox_hookup import Hookup, connection_hookup


def hookup(ca: TestCA) -> Hookup:
    sim = HuduSimulator(ca, api_key=token("hudu"))
    return connection_hookup(
        sim,
        "hudu",
        fields=lambda: {"baseUrl": f"{sim.url}/api/v1"},
        secrets={"apiKey": ("hudu-api-key", sim.api_key)},
        endpoint=lambda: f"{sim.url}/api/v1",
    )
