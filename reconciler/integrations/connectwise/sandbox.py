"""ConnectWise's simulator hook-up for `reconciler sandbox` (loaded only by it)."""

from __future__ import annotations

from reconciler.testing.connectwise import ConnectWiseSimulator
from reconciler.testing.httpsim import TestCA, token
from reconciler.testing.sandbox_hookup import Hookup


def hookup(ca: TestCA) -> Hookup:
    sim = ConnectWiseSimulator(
        ca, company_id="demo-msp", public_key=token("cwpub"), private_key=token("cwpriv")
    )
    return Hookup(
        sim,
        secrets={
            "connectwise-public-key": sim.public_key,
            "connectwise-private-key": sim.private_key,
            "connectwise-client-id": sim.client_id,
        },
        settings=lambda ca_file: (
            f"""\
    connectwise:
      site: {sim.url.removeprefix("https://")}
      companyId: {sim.company_id}
      publicKey: {{file: secrets/connectwise-public-key}}
      privateKey: {{file: secrets/connectwise-private-key}}
      clientId: {{file: secrets/connectwise-client-id}}
      caFile: {ca_file}
"""
        ),
        endpoint=lambda: sim.url,
    )
