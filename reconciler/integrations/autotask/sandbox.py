"""Autotask's simulator hook-up for `reconciler sandbox` (loaded only by it)."""

from __future__ import annotations

from reconciler.testing.autotask import AutotaskSimulator
from reconciler.testing.httpsim import TestCA, token
from reconciler.testing.sandbox_hookup import Hookup


def hookup(ca: TestCA) -> Hookup:
    sim = AutotaskSimulator(
        ca, username="api@demo-msp.example", secret=token("atsecret"), integration_code=token("atcode")
    )
    return Hookup(
        sim,
        secrets={
            "autotask-username": sim.username,
            "autotask-secret": sim.secret,
            "autotask-integration-code": sim.integration_code,
        },
        settings=lambda ca_file: (
            f"""\
    autotask:
      username: {{file: secrets/autotask-username}}
      secret: {{file: secrets/autotask-secret}}
      integrationCode: {{file: secrets/autotask-integration-code}}
      zoneDiscoveryUrl: {sim.url}/ATServicesRest/
      caFile: {ca_file}
"""
        ),
        endpoint=lambda: f"{sim.url}/ATServicesRest/",
    )
