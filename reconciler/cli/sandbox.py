"""CLI: `sandbox` - every simulator and an SMTP server on loopback, with a demo MSP.

    reconciler sandbox [--dir DIR]

starts the simulators (see `reconciler.testing.sandbox`), writes a config
directory pointing at them into DIR, prints what to run next, and serves until
Ctrl-C or SIGTERM, then stops everything cleanly. Nothing leaves this machine.
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from types import FrameType

import click

SANDBOX_EXTRA = ("trustme", "aiosmtpd")  # pyproject's `sandbox` extra


@click.command("sandbox")
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("reconciler-sandbox"),
    show_default=True,
    help="Config directory to write (empty, or a previous sandbox's; rewritten).",
)
def sandbox(directory: Path) -> None:
    """Run the real clients against local simulators of every vendor, no tenant needed."""
    try:
        from reconciler.testing.sandbox import Sandbox  # the simulators load only for this command
    except ModuleNotFoundError as exc:
        if exc.name not in SANDBOX_EXTRA:
            raise
        raise click.ClickException(
            f"reconciler sandbox needs the sandbox extra ({exc.name} is missing): "
            "pip install 'reconciler[sandbox]'"
        ) from None

    # aiosmtpd logs a deprecation of its own on every login; keep the sandbox's output readable
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        box = Sandbox.start(directory)
        try:
            click.echo(box.summary(), nl=True)
            while not stop.wait(0.5):
                pass
            click.echo("Stopping the sandbox...")
        finally:
            box.stop()
        click.echo("Sandbox stopped.")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


COMMANDS = [sandbox]
