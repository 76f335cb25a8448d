"""Run the installed `reconciler` entry point as a user would: a subprocess whose
stdout is a real pipe (optionally closed by its reader first) or a pseudo-terminal."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

BIN = Path(sys.executable).with_name("reconciler")


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str


def env(extra: dict[str, str] | None = None) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("RECONCILER_")}
    out.update({"NO_COLOR": "1", "COLUMNS": "120", **(extra or {})})
    return out


def run(args: list[str], cwd: Path | None = None, extra_env: dict[str, str] | None = None) -> Run:
    """The command with stdin closed and stdout/stderr on pipes."""
    proc = subprocess.run(
        [str(BIN), *args],
        cwd=cwd,
        env=env(extra_env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,  # a loaded CI machine: slow is not a failure here
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def run_closed_pipe(args: list[str], cwd: Path | None = None) -> Run:
    """stdout is a pipe whose reader has already gone (`cmd | head -0`): every write
    fails with EPIPE, deterministically, however short the output."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run(
            [str(BIN), *args],
            cwd=cwd,
            env=env(),
            stdin=subprocess.DEVNULL,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=600,  # a loaded CI machine: slow is not a failure here
        )
    finally:
        os.close(write_end)
    return Run(proc.returncode, "", proc.stderr)


def run_head(args: list[str], lines: int = 1, cwd: Path | None = None) -> tuple[Run, str]:
    """`reconciler ARGS | head -N` through a shell pipeline; the head's output too."""
    import shlex

    line = " ".join(shlex.quote(a) for a in [str(BIN), *args])
    proc = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {line} 2>stderr.txt | head -{lines}; echo rc=${{PIPESTATUS[0]}}"],
        cwd=cwd,
        env=env(),
        capture_output=True,
        text=True,
        timeout=600,  # a loaded CI machine: slow is not a failure here
    )
    head, _, rc = proc.stdout.rpartition("rc=")
    stderr = (Path(cwd or ".") / "stderr.txt").read_text(encoding="utf-8")
    return Run(int(rc.strip()), "", stderr), head


def run_pty(
    args: list[str],
    cwd: Path | None = None,
    extra_env: dict[str, str] | None = None,
    timeout: float = 120,
    answer: str = "",
) -> Run:
    """The command with stdin, stdout and stderr on one pseudo-terminal (as in an
    interactive shell); `answer` is typed once it asks ("[y/N]"); returns everything
    it wrote to the terminal."""
    pid, fd = pty.fork()
    if pid == 0:  # child
        if cwd is not None:
            os.chdir(cwd)
        os.execve(str(BIN), [str(BIN), *args], env(extra_env))
    chunks: list[bytes] = []
    pending = answer.encode()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if not ready:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            continue
        try:
            data = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
        if pending and b"[y/N]" in b"".join(chunks):
            os.write(fd, pending)
            pending = b""
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    text = b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")
    return Run(os.waitstatus_to_exitcode(status), text, "")
