"""ConnectWise's simulator hook-up for `reconciler sandbox` (loaded only by it)."""

from __future__ import annotations

from reconciler.testing.connectwise import ConnectWiseSimulator
from reconciler.testing.httpsim import TestCA, token
from reconciler.testing.sandbox_hookup import Hookup, connection_hookup


def hookup(ca: TestCA) -> Hookup:
    sim = ConnectWiseSimulator(
        ca, company_id="demo-msp", public_key=token("cwpub"), private_key=token("cwpriv")
    )
    return connection_hookup(
        sim,
        "connectwise",
        fields=lambda: {"site": sim.url.removeprefix("https://"), "companyId": sim.company_id},
        secrets={
            "publicKey": ("connectwise-public-key", sim.public_key),
            "privateKey": ("connectwise-private-key", sim.private_key),
            "clientId": ("connectwise-client-id", sim.client_id),
        },
        endpoint=lambda: sim.url,
    )
