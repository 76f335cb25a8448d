"""Halo PSA's simulator hook-up for `reconciler sandbox` (loaded only by it)."""

from __future__ import annotations

from reconciler.testing.halo import HaloSimulator
from reconciler.testing.httpsim import TestCA, token
from reconciler.testing.sandbox_hookup import Hookup, connection_hookup


def hookup(ca: TestCA) -> Hookup:
    sim = HaloSimulator(ca, client_id="demo-msp-reconciler", client_secret=token("halo"), tenant="demo-msp")
    return connection_hookup(
        sim,
        "halo",
        fields=lambda: {"baseUrl": sim.url, "tenant": sim.tenant, "clientId": sim.client_id},
        secrets={"clientSecret": ("halo-client-secret", sim.client_secret)},
        endpoint=lambda: f"{sim.url}/api",
    )
