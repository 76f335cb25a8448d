"""`reconciler sandbox` as a user runs it: a separate process, used from another
"terminal", stopped by Ctrl-C (SIGINT) or SIGTERM."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import main


def read_until(proc: subprocess.Popen[bytes], marker: str, timeout: float) -> str:
    """What the process printed, up to `marker`; raw reads, so no buffer hides a line."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    sel = selectors.DefaultSelector()
    sel.register(fd, selectors.EVENT_READ)
    out = b""
    deadline = time.monotonic() + timeout
    while marker.encode() not in out:
        left = deadline - time.monotonic()
        if left <= 0 or proc.poll() is not None:
            raise AssertionError(f"no {marker!r} from the sandbox:\n{out.decode()}")
        if sel.select(left):
            out += os.read(fd, 65536)
    return out.decode()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_sandbox_serves_until_interrupted_then_stops_cleanly(tmp_path: Path, sig: signal.Signals) -> None:
    directory = tmp_path / "sb"
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler.cli", "sandbox", "--dir", str(directory)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        banner = read_until(proc, "Ctrl-C stops the sandbox.", timeout=30)
        assert f"reconciler plan -c {directory}" in banner
        result = CliRunner().invoke(main, ["plan", "-c", str(directory), "--customer", "northwind"])
        assert result.exit_code == 0, result.output
        assert "send welcome email to liam.lee@northwind.test" in result.output

        proc.send_signal(sig)
        tail, _ = proc.communicate(timeout=15)
        rest = tail.decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, rest
    assert "Sandbox stopped." in rest
    assert "Traceback" not in banner + rest
