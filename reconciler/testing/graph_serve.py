"""Test helpers: run the Graph simulator on its own, e.g. for examples/entra-simulator.

    python -m reconciler.testing.graph_serve --dir examples/entra-simulator/.sim \\
        --port 8443 --tenant 22222222-2222-2222-2222-222222222222 --users 60

writes `<dir>/test-ca.pem` (trust it with Settings `caFile`) and
`<dir>/client-secret` (point `credential.clientSecret.file` at it), prints the
URL, and serves until interrupted. Every run makes a new CA and secret.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading
from pathlib import Path

from reconciler.testing.graph import GraphSimulator
from reconciler.testing.httpsim import TestCA


def serve(directory: Path, port: int, tenants: list[str], users: int) -> GraphSimulator:
    """Start a simulator with `users` users in each tenant; write its CA and secret."""
    ca = TestCA.create(directory)
    sim = GraphSimulator(ca, tenants=tuple(tenants))
    for i, tenant in enumerate(tenants):
        sim.seed(tenant, users, seed=i + 1, domain=f"tenant{i + 1}.test")
    secret_file = directory / "client-secret"
    secret_file.write_text(sim.identity.client_secret + "\n", encoding="utf-8")
    secret_file.chmod(0o600)
    sim.start(port)
    return sim


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--dir", type=Path, required=True, help="Where to write test-ca.pem and client-secret."
    )
    parser.add_argument("--port", type=int, default=8443)
    parser.add_argument("--tenant", action="append", required=True, help="Tenant id (repeatable).")
    parser.add_argument("--users", type=int, default=60, help="Users per tenant.")
    args = parser.parse_args(argv)
    sim = serve(args.dir, args.port, args.tenant, args.users)
    print(f"Graph simulator at {sim.url} (client id {sim.identity.client_id}); Ctrl-C stops it", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    sim.stop()


if __name__ == "__main__":
    main()
