"""CLI: what the GitHub (`ci comment`) and GitLab (`ci gitlab-comment`) comment
commands share: their options, gathered into one `CommentInput`, and the body.

One decorator instead of two near-copies of seven options (review D2): a new
option, or a fix to one, reaches both commands.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from reconciler.ci.comment import Origin, failure_comment, plan_comment
from reconciler.cli.plan import load_plan

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class CommentInput:
    planfile: Path | None
    failed_step: str | None
    log_file: Path | None
    key: str
    title: str
    artifact: str
    body_out: Path | None

    def body(self, origin_of: Callable[[str, str], Origin]) -> str:
        """The Markdown: the plan of PLANFILE, or why there is none (--failed with --log).
        `origin_of(key, artifact)` says where it comes from (commit, run, artifact)."""
        origin = origin_of(self.key, "" if self.failed_step else self.artifact)
        if self.failed_step:
            log_file = self.log_file
            log = (
                log_file.read_text(encoding="utf-8", errors="replace")
                if log_file and log_file.is_file()
                else ""
            )
            body = failure_comment(self.failed_step, log, self.key, origin)
        elif self.planfile is not None:
            body = plan_comment(load_plan(self.planfile), self.key, origin, self.title)
        else:
            raise click.UsageError("give a PLANFILE, or --failed STEP with --log FILE")
        if self.body_out is not None:
            self.body_out.write_text(body, encoding="utf-8")
        return body


_FIELDS = ("planfile", "failed_step", "log_file", "key", "title", "artifact", "body_out")


def comment_options(artifact_help: str) -> Callable[[F], F]:
    """The shared arguments and options; the command receives them as `comment: CommentInput`."""

    def decorate(command: F) -> F:
        @functools.wraps(command)
        def wrapper(**kwargs: Any) -> Any:
            comment = CommentInput(**{name: kwargs.pop(name) for name in _FIELDS})
            return command(comment=comment, **kwargs)

        options = (
            click.argument(
                "planfile", required=False, type=click.Path(path_type=Path, dir_okay=False, exists=True)
            ),
            click.option(
                "--failed", "failed_step", help="Instead of a plan: this step (validate, plan) failed."
            ),
            click.option(
                "--log", "log_file", type=click.Path(path_type=Path, dir_okay=False), help="Its output."
            ),
            click.option("--key", default="default", show_default=True, help="One sticky comment per key."),
            click.option("--title", default="", help="A heading above the plan."),
            click.option("--artifact", default="", help=artifact_help),
            click.option(
                "--body-out",
                type=click.Path(path_type=Path, dir_okay=False),
                help="Also write the body here.",
            ),
        )
        decorated: Any = wrapper
        for option in reversed(options):
            decorated = option(decorated)
        return decorated  # type: ignore[no-any-return]

    return decorate
