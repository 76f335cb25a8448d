"""CLI through the real entry point: a closed pipe on stdout is quiet (#17 item 4).

`reconciler state list | head -1` used to end with "internal error:
BrokenPipeError"; every command must stop quietly when its reader goes away.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.entry import run, run_closed_pipe, run_head


@pytest.fixture
def applied(quickstart: Path) -> Path:
    done = run(["apply", "-c", str(quickstart), "--auto-approve"])
    assert done.code == 0, done.stderr
    return quickstart


COMMANDS = [
    ["state", "list"],
    ["state", "list", "--format", "json"],
    ["plan"],
    ["plan", "--format", "json"],
    ["validate"],
    ["status"],
    ["schema", "Customer"],
    ["--help"],
    ["plan", "--help"],
    ["--version"],
]


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_a_closed_pipe_is_quiet(applied: Path, args: list[str]) -> None:
    needs_dir = args[0] in ("state", "plan", "validate", "status") and "--help" not in args
    result = run_closed_pipe([*args, *(["-c", str(applied)] if needs_dir else [])])
    assert result.stderr == ""
    assert result.code in (0, 1)


def test_state_list_into_head(applied: Path, tmp_path: Path) -> None:
    # enough accounts that the output cannot fit in the pipe before head exits
    listing = run(["state", "list", "-c", str(applied)])
    assert listing.code == 0
    result, head = run_head(["state", "list", "-c", str(applied)], 1, cwd=tmp_path)
    assert head == listing.stdout.splitlines(keepends=True)[0]
    assert "Error" not in result.stderr and "internal error" not in result.stderr
    assert result.stderr == ""
