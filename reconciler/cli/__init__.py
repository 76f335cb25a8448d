"""CLI: the `reconciler` command. Each sub-command lives in its own module.

Errors: a `ReconcilerError` prints its message (one line per problem) and exits
with its code; anything else is a bug and shows a short line, or the full
traceback with `--debug`.
"""

from __future__ import annotations

import logging
import sys

import click

from reconciler.cli.common import Ctx
from reconciler.errors import EXIT_ERROR, ReconcilerError
from reconciler.logfilter import install_url_redaction


class _Group(click.Group):
    # click exits 2 on usage errors, which `--detailed-exitcode` callers would read
    # as "changes pending": a wrong option or argument is an error, exit 1.
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            exc.exit_code = EXIT_ERROR  # type: ignore[misc]  # a ClassVar in the stubs; per instance is fine
            raise

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except ReconcilerError as exc:
            click.echo(str(exc), err=True)
            ctx.exit(exc.exit_code)
        except click.UsageError as exc:
            exc.exit_code = EXIT_ERROR  # type: ignore[misc]  # a ClassVar in the stubs; per instance is fine
            raise
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except BrokenPipeError:
            # the reader went away (`reconciler state list | head -1`): click's main
            # turns EPIPE into a quiet exit 1 and silences the final flush
            raise
        except Exception as exc:
            debug = ctx.obj is not None and getattr(ctx.obj, "debug", False)
            if debug:
                raise
            click.echo(
                f"internal error: {type(exc).__name__}; rerun with --debug for the traceback", err=True
            )
            ctx.exit(EXIT_ERROR)
        return None


@click.group(cls=_Group)
@click.option("--debug", is_flag=True, help="Show full tracebacks of unexpected errors.")
@click.option("-v", "--verbose", count=True, help="More log output.")
@click.version_option(package_name="reconciler")
@click.pass_context
def main(ctx: click.Context, debug: bool, verbose: int) -> None:
    """Policy-as-code onboarding of end-user accounts for MSPs."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    install_url_redaction()
    if verbose < 2:
        # their INFO lines carry full URLs: query strings with emails, delta tokens
        for noisy in ("httpx", "httpcore", "msal"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    ctx.obj = Ctx(debug=debug)


def _register() -> None:
    from reconciler.cli import (
        ci,
        customers,
        daemon,
        discover,
        explain,
        init,
        plan,
        sandbox,
        snapshot,
        state,
        validate,
    )

    for module in (validate, plan, explain, discover, state, customers, snapshot, sandbox, daemon, ci, init):
        for command in module.COMMANDS:
            main.add_command(command)


_register()
