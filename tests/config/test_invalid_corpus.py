"""Config stage: every invalid config in `invalid/` fails `reconciler validate`
with exactly the problems its files announce.

A case is a directory of small YAML files. A file announces each problem it
must produce with a comment `# expect: LINE:COL fragment` (or `# expect: -
fragment` for a problem about the whole file), and may list text that must not
appear in the output with `# never-shown: TEXT` (literal secrets). The run must
exit 1, print no traceback, and print one line per announced problem and
nothing else, so a case also proves that no other rule fires on it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import main

INVALID = Path(__file__).parent / "invalid"
CASES = sorted(p for p in INVALID.iterdir() if p.is_dir())
EXPECT = re.compile(rb"^\s*# expect: (?:(\d+):(\d+)|-) (.+?)\s*$", re.MULTILINE)
NEVER_SHOWN = re.compile(rb"^\s*# never-shown: (.+?)\s*$", re.MULTILINE)
LINE = re.compile(r"^(?P<file>[^:]+?)(?::(?P<line>\d+):(?P<col>\d+))?: (?P<message>.+)$")


@dataclass(frozen=True)
class Expected:
    file: str
    line: int | None
    col: int | None
    fragment: str

    def matches(self, output_line: str) -> bool:
        m = LINE.match(output_line)
        if m is None or m["file"] != self.file or self.fragment not in m["message"]:
            return False
        if self.line is None:
            return m["line"] is None
        return m["line"] is not None and (int(m["line"]), int(m["col"])) == (self.line, self.col)

    def __str__(self) -> str:
        at = "" if self.line is None else f":{self.line}:{self.col}"
        return f"{self.file}{at}: ...{self.fragment}..."


def expectations(case: Path) -> list[Expected]:
    out = []
    for path in sorted(case.rglob("*")):
        if not path.is_file():
            continue
        rel = str(path.relative_to(case))
        # bytes: some cases are deliberately not UTF-8
        for m in EXPECT.finditer(path.read_bytes()):
            line = int(m[1]) if m[1] else None
            col = int(m[2]) if m[2] else None
            out.append(Expected(rel, line, col, m[3].decode("utf-8")))
    return out


def never_shown(case: Path) -> list[str]:
    return [
        m[1].decode("utf-8")
        for path in sorted(case.rglob("*.yaml"))
        for m in NEVER_SHOWN.finditer(path.read_bytes())
    ]


def test_corpus_is_big_enough() -> None:
    assert len(CASES) >= 30


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_invalid_config_is_reported_where_it_is(case: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = expectations(case)
    assert expected, f"{case.name} announces no '# expect:' problem"
    monkeypatch.chdir(case)  # output paths are then relative to the case

    result = CliRunner().invoke(main, ["validate", "-c", "."])

    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert "internal error" not in result.output
    lines = result.output.splitlines()
    missing = [str(e) for e in expected if not any(e.matches(line) for line in lines)]
    assert not missing, f"not reported: {missing}\noutput:\n{result.output}"
    unexpected = [line for line in lines if not any(e.matches(line) for e in expected)]
    assert not unexpected, f"not announced: {unexpected}"
    assert len(lines) == len(expected), result.output
    for text in never_shown(case):
        assert text not in result.output
