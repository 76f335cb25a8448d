"""The systemd unit and the Containerfile (#17), checked by the tools that run them:
`systemd-analyze verify` and `security --offline` for the unit (scripts/install-systemd
installs them), click's own parser for the image's command."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest

from reconciler.cli import main
from tests.ci.test_ci_workflows import shellcheck

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "deploy" / "reconciler.service"
CONTAINERFILE = ROOT / "Containerfile"
VENV_BIN = Path(sys.executable).parent


def analyze(*args: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("systemd-analyze")
    assert tool, "systemd-analyze is missing: bash scripts/install-systemd"
    return subprocess.run([tool, *args], capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def unit(tmp_path: Path) -> Path:
    """The unit as installed next to this checkout's reconciler (verify checks ExecStart exists)."""
    text = UNIT.read_text().replace("/opt/reconciler/bin/reconciler", str(VENV_BIN / "reconciler"))
    path = tmp_path / "reconciler.service"
    path.write_text(text)
    return path


def settings(path: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith(("#", "[")):
            key, _, value = line.partition("=")
            out.setdefault(key.strip(), []).append(value.strip())
    return out


def test_the_unit_verifies_cleanly(unit: Path) -> None:
    done = analyze("verify", str(unit))
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


def test_verify_does_catch_mistakes(tmp_path: Path, unit: Path) -> None:
    broken = tmp_path / "broken.service"
    broken.write_text(unit.read_text().replace(str(VENV_BIN / "reconciler"), "/nonexistent/reconciler"))
    assert analyze("verify", str(broken)).returncode != 0
    typo = tmp_path / "typo.service"
    typo.write_text(unit.read_text().replace("ProtectSystem=strict", "ProtectSytem=strict"))
    assert "Unknown key" in analyze("verify", str(typo)).stderr


def test_the_unit_is_hardened(unit: Path) -> None:
    done = analyze("security", "--offline=yes", str(unit))
    assert done.returncode == 0, done.stderr
    m = re.search(r"Overall exposure level for reconciler\.service: (\d+\.\d)", done.stdout)
    assert m is not None, done.stdout
    assert float(m.group(1)) <= 2.0  # systemd calls below 4 "OK"; this unit scored 1.3 when written
    s = settings(unit)
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "CapabilityBoundingSet": "",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
        "User": "reconciler",
    }.items():
        assert s[key] == [value], key


def test_the_unit_runs_the_daemon_with_real_options(unit: Path) -> None:
    (command,) = settings(unit)["ExecStart"]
    argv = shlex.split(command)
    assert argv[0] == str(VENV_BIN / "reconciler")
    daemon = main.get_command(click.Context(main), "daemon")
    assert daemon is not None
    daemon.make_context("daemon", argv[2:])  # raises on an unknown option or a bad choice
    stop = int(settings(unit)["TimeoutStopSec"][0])
    assert stop > 30  # more than the default shutdownGraceSeconds: the daemon stops at a change boundary


def instructions(path: Path) -> list[tuple[str, str]]:
    text = re.sub(r"\\\n\s*", " ", path.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_the_containerfile(tmp_path: Path) -> None:
    steps = instructions(CONTAINERFILE)
    known = {"FROM", "WORKDIR", "COPY", "RUN", "ENV", "USER", "VOLUME", "EXPOSE", "STOPSIGNAL", "HEALTHCHECK",
             "ENTRYPOINT", "CMD"}  # fmt: skip
    assert {w for w, _ in steps} <= known
    for word, rest in steps:
        if word == "COPY" and not rest.startswith("--from"):
            *sources, _dest = rest.split()
            assert all((ROOT / s).exists() for s in sources), rest
    user = [rest for word, rest in steps if word == "USER"]
    assert user and not user[-1].startswith(("0", "root"))  # never runs as root
    assert ("STOPSIGNAL", "SIGTERM") in steps
    entry = json.loads(next(rest for word, rest in steps if word == "ENTRYPOINT"))
    cmd = json.loads(next(rest for word, rest in steps if word == "CMD"))
    assert entry == ["reconciler"]  # exec form: SIGTERM reaches the daemon, not a shell
    daemon = main.get_command(click.Context(main), "daemon")
    assert daemon is not None and cmd[0] == "daemon"
    daemon.make_context("daemon", cmd[1:])
    port = cmd[cmd.index("--listen") + 1].rsplit(":", 1)[1]
    assert ("EXPOSE", port) in steps


def test_the_install_script_passes_shellcheck() -> None:
    shellcheck(ROOT / "scripts" / "install-systemd")
