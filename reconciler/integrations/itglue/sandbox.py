"""IT Glue's simulator hook-up for `reconciler sandbox` (loaded only by it)."""

from __future__ import annotations

from reconciler.testing.httpsim import TestCA, token
from reconciler.testing.itglue import ItGlueSimulator
from reconciler.testing.sandbox_hookup import Hookup


def hookup(ca: TestCA) -> Hookup:
    sim = ItGlueSimulator(ca, api_key=token("itglue"))
    return Hookup(
        sim,
        secrets={"itglue-api-key": sim.api_key},
        settings=lambda ca_file: (
            f"""\
    itglue:
      baseUrl: {sim.url}
      apiKey: {{file: secrets/itglue-api-key}}
      caFile: {ca_file}
"""
        ),
        endpoint=lambda: sim.url,
    )
