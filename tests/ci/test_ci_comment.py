"""The sticky comment's body: marker, plan, footer, limit, failures."""

from __future__ import annotations

from pathlib import Path

from reconciler.ci.comment import COMMENT_LIMIT, Origin, failure_comment, marker, plan_comment
from tests.ci.cisupport import make_plan


def test_plan_comment_starts_with_the_marker_and_ends_with_where_it_came_from(quickstart: Path) -> None:
    origin = Origin(
        ".", "0123456789abcdef0123", "https://github.example/msp/p/actions/runs/9", "reconciler-plan"
    )
    body = plan_comment(make_plan(quickstart), ".", origin)
    lines = body.splitlines()
    assert lines[0] == marker(".") == "<!-- reconciler-plan key=. -->"
    assert lines[1] == "## reconciler plan"
    assert lines[-1] == (
        "<sub>config `.` · commit 0123456789ab · [workflow run](https://github.example/msp/p/actions/runs/9)"
        " · saved plan: artifact `reconciler-plan`</sub>"
    )


def test_markers_cannot_close_the_html_comment() -> None:
    assert marker("a --> <b>") == "<!-- reconciler-plan key=a_-___b_ -->"
    assert marker("policies/eu:apply") == "<!-- reconciler-plan key=policies/eu:apply -->"
    assert marker("") == "<!-- reconciler-plan key=default -->"


def test_the_whole_body_stays_within_the_limit(quickstart: Path) -> None:
    plan = make_plan(quickstart)
    body = plan_comment(plan, ".", Origin(".", "abc", "", "reconciler-plan"), limit=1_500)
    assert len(body) <= 1_500
    assert "The full plan is in artifact `reconciler-plan` of the workflow run." in body
    assert body.rstrip().endswith(
        "<sub>config `.` · commit abc · saved plan: artifact `reconciler-plan`</sub>"
    )
    assert len(plan_comment(plan, ".", Origin())) <= COMMENT_LIMIT


def test_failure_comment_shows_the_end_of_the_output() -> None:
    log = "\n".join(f"line {i}" for i in range(10_000)) + "\ncustomers/a.yaml:3:5: unknown field 'foo'\n"
    body = failure_comment("validate", log, ".", Origin())
    assert body.startswith(
        marker(".") + "\n## reconciler plan\n\n> [!CAUTION]\n> `reconciler validate` failed"
    )
    assert "customers/a.yaml:3:5: unknown field 'foo'\n```\n" in body
    assert "line 0\n" not in body
    assert len(body) < 25_000
