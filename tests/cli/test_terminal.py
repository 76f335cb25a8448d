"""CLI on a terminal (a real pty): progress while reading (#17 item 8)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.cli.entry import run, run_pty

LINE = re.compile(r"\[(\d+)/(\d+)\] ([a-z0-9-]+): ([^\n\r\x1b]*)")


def test_plan_on_a_terminal_shows_a_spinner_and_a_line_per_customer(quickstart: Path) -> None:
    result = run_pty(["plan", "-c", str(quickstart)])
    assert result.code == 0, result.stdout
    seen = LINE.findall(result.stdout)
    assert sorted(int(done) for done, *_ in seen) == [1, 2, 3, 4]
    assert {name: what for _, _, name, what in seen} == {
        "contoso": "16 changes",
        "fabrikam": "8 changes",
        "northwind": "4 changes",
        "tailspin": "paused, 3 changes",
    }
    assert re.search(r"[|/\\-] reading \d/4 customers, \d+s", result.stdout)
    assert "Plan: " in result.stdout


def test_no_progress_when_stderr_is_not_a_terminal(quickstart: Path) -> None:
    result = run(["plan", "-c", str(quickstart)])
    assert result.code == 0
    assert "reading" not in result.stderr and not LINE.search(result.stderr)
