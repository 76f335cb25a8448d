"""IT Glue's simulator hook-up for `reconciler sandbox` (loaded only by it)."""

from __future__ import annotations

from reconciler.testing.httpsim import TestCA, token
from reconciler.testing.itglue import ItGlueSimulator
from reconciler.testing.sandbox_hookup import Hookup, connection_hookup


def hookup(ca: TestCA) -> Hookup:
    sim = ItGlueSimulator(ca, api_key=token("itglue"))
    return connection_hookup(
        sim,
        "itglue",
        fields=lambda: {"baseUrl": sim.url},
        secrets={"apiKey": ("itglue-api-key", sim.api_key)},
        endpoint=lambda: sim.url,
    )
