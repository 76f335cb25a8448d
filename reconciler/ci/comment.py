"""CI edge, pure part: the body of the sticky pull-request comment.

The body is the Markdown plan (`render_markdown`) between a hidden marker, which
lets the next run find and edit the same comment, and a footer saying where the
plan came from. The whole body stays within GitHub's comment limit; the plan is
what gets cut, with a visible note. When validate or plan fails, the comment
says so with the end of the command's output (our messages carry no secret
values), so an old plan is never left standing as if it were current.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from reconciler.core.plan import Plan
from reconciler.core.render import code_fence, render_markdown

COMMENT_LIMIT = 65_536  # characters in one GitHub issue or pull-request comment
MAX_LOG_CHARS = 20_000


@dataclass(frozen=True)
class Origin:
    """Where a plan came from, for the footer; every part is optional."""

    config_dir: str = ""
    sha: str = ""
    run_url: str = ""
    artifact: str = ""

    def footer(self) -> str:
        parts = []
        if self.config_dir:
            parts.append(f"config `{self.config_dir}`")
        if self.sha:
            parts.append(f"commit {self.sha[:12]}")
        if self.run_url:
            parts.append(f"[workflow run]({self.run_url})")
        if self.artifact:
            parts.append(f"saved plan: artifact `{self.artifact}`")
        return f"<sub>{' · '.join(parts)}</sub>" if parts else ""


def marker(key: str) -> str:
    """The hidden line that identifies the comment of one key (say, one config dir)."""
    safe = re.sub(r"-{2,}", "-", re.sub(r"[^A-Za-z0-9._/:-]", "_", key)) or "default"
    return f"<!-- reconciler-plan key={safe} -->"


def plan_comment(plan: Plan, key: str, origin: Origin, title: str = "", limit: int = COMMENT_LIMIT) -> str:
    head = [marker(key)] + ([f"### {title}", ""] if title else [])
    foot = ["", origin.footer()] if origin.footer() else []
    budget = limit - sum(len(x) + 1 for x in head + foot)
    where = f"artifact `{origin.artifact}` of the workflow run" if origin.artifact else "the saved plan file"
    body = render_markdown(plan, limit=budget, cut_note=f"The full plan is in {where}.")
    return "\n".join([*head, body.rstrip("\n"), *foot]) + "\n"


def failure_comment(step: str, log: str, key: str, origin: Origin, limit: int = COMMENT_LIMIT) -> str:
    """`reconciler <step>` failed: say so, with the end of its output."""
    tail = log[-MAX_LOG_CHARS:]
    if len(tail) < len(log):
        tail = tail.split("\n", 1)[-1]
    lines = tail.rstrip("\n").splitlines() or ["(no output)"]
    fence = code_fence(lines)
    out = [
        marker(key),
        "## reconciler plan",
        "",
        "> [!CAUTION]",
        f"> `reconciler {step}` failed, so there is no plan for this commit. Fix the problems below and push again.",
        "",
        fence,
        *lines,
        fence,
    ]
    if origin.footer():
        out += ["", origin.footer()]
    text = "\n".join(out) + "\n"
    assert len(text) <= limit, "MAX_LOG_CHARS keeps a failure comment far below the limit"
    return text
