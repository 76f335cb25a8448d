"""Hudu's simulator hook-up for `reconciler sandbox` (loaded only by it)."""

from __future__ import annotations

from reconciler.testing.httpsim import TestCA, token
from reconciler.testing.hudu import HuduSimulator
from reconciler.testing.sandbox_hookup import Hookup


def hookup(ca: TestCA) -> Hookup:
    sim = HuduSimulator(ca, api_key=token("hudu"))
    return Hookup(
        sim,
        secrets={"hudu-api-key": sim.api_key},
        settings=lambda ca_file: (
            f"""\
    hudu:
      baseUrl: {sim.url}/api/v1
      apiKey: {{file: secrets/hudu-api-key}}
      caFile: {ca_file}
"""
        ),
        endpoint=lambda: f"{sim.url}/api/v1",
    )
