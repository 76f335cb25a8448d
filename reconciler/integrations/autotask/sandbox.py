"""Autotask's simulator hook-up for `reconciler sandbox` (loaded only by it)."""

from __future__ import annotations

from reconciler.testing.autotask import AutotaskSimulator
from reconciler.testing.httpsim import TestCA, token
from reconciler.testing.sandbox_hookup import Hookup, connection_hookup


def hookup(ca: TestCA) -> Hookup:
    sim = AutotaskSimulator(
        ca, username="api@demo-msp.example", secret=token("atsecret"), integration_code=token("atcode")
    )
    return connection_hookup(
        sim,
        "autotask",
        fields=lambda: {"zoneDiscoveryUrl": f"{sim.url}/ATServicesRest/"},
        secrets={
            "username": ("autotask-username", sim.username),
            "secret": ("autotask-secret", sim.secret),
            "integrationCode": ("autotask-integration-code", sim.integration_code),
        },
        endpoint=lambda: f"{sim.url}/ATServicesRest/",
    )
