"""CLI: the `reconciler` command. Each sub-command lives in its own module.

Errors: a `ReconcilerError` prints its message (one line per problem) and exits
with its code; anything else is a bug and shows a short line, or the full
traceback with `--debug`.
"""

from __future__ import annotations

import importlib
import logging
import sys

import click

from reconciler.cli.common import Ctx
from reconciler.errors import EXIT_ERROR, ReconcilerError
from reconciler.logfilter import install_url_redaction

GLOBAL_FLAGS = frozenset({"-v", "-vv", "-vvv", "--verbose", "--debug"})


def hoist_global_flags(args: list[str]) -> list[str]:
    """`reconciler plan -v` as `reconciler -v plan`: the global flags may follow the
    sub-command (as in git, kubectl); they move to the front, up to a `--`."""
    end = args.index("--") if "--" in args else len(args)
    flags = [a for a in args[:end] if a in GLOBAL_FLAGS]
    rest = [a for a in args[:end] if a not in GLOBAL_FLAGS]
    return [*flags, *rest, *args[end:]]


class _Group(click.Group):
    # click exits 2 on usage errors, which `--detailed-exitcode` callers would read
    # as "changes pending": a wrong option or argument is an error, exit 1.
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, hoist_global_flags(args))
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


# name -> (module, short help). Sub-commands are imported only when run (or asked
# for by name), so `reconciler --help` and a plan do not pay for every command's
# imports; tests/cli/test_lazy.py keeps this table equal to the commands' own help.
COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("validate", "Check every document: structure, then the rules (R2-R20)."),
    "schema": ("validate", "Print the JSON Schema of KIND, or write every schema with --write DIR."),
    "plan": ("plan", "Show what apply would change, per customer."),
    "apply": ("plan", "Apply a saved PLANFILE exactly, or plan now, show it and ask first."),
    "show": ("plan", "Render a saved plan."),
    "explain": ("explain", "Why USER is or is not imported for CUSTOMER, step by step."),
    "discover": ("discover", "List what CUSTOMER's directories offer to select."),
    "state": ("state", "Inspect and edit the state store: list, show, rm, import, mv, unlock."),
    "customers": ("customers", "Customers: generate Customer documents from IT Glue or Hudu (R21)."),
    "snapshot": ("snapshot", "Write customers' live directories and integration records as snapshot files."),
    "sandbox": (
        "sandbox",
        "Run the real clients against local simulators of every vendor, no tenant needed.",
    ),
    "daemon": ("daemon", "Reconcile every customer on its schedule until SIGTERM (R9, R10)."),
    "status": (
        "daemon",
        "Per customer: last run and result, conflicts and causes, blocked reason, next run (R19).",
    ),
    "override": (
        "daemon",
        "Let the daemon apply a blocked CUSTOMER's plan once, with exactly the removals it showed; "
        "or, with --fleet DIGEST, the customers the fleet breaker holds (#12).",
    ),
    "ci": ("ci", "Steps for CI pipelines: pull-request comment, artifacts, apply of a reviewed plan."),
    "init": ("init", "Scaffold a new policy repository in DIRECTORY (refuses to overwrite any file)."),
    "completion": ("completion", "Print the completion script for SHELL (bash, zsh or fish)."),
}


class _LazyGroup(_Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            module = importlib.import_module(f"reconciler.cli.{COMMANDS[cmd_name][0]}")
            for command in module.COMMANDS:
                self.add_command(command)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from the table, without importing any sub-command."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(n) for n in names)
        rows = [
            (n, click.Command(n, help=COMMANDS[n][1]).get_short_help_str(limit))
            if n in COMMANDS
            else (n, self.commands[n].get_short_help_str(limit))
            for n in names
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


class _Plain(logging.Formatter):
    """Up to -v: INFO lines as they are, others prefixed with their level."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return text if record.levelno == logging.INFO else f"{record.levelname.lower()}: {text}"


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks of unexpected errors.")
@click.option(
    "-v",
    "--verbose",
    count=True,
    help="-v: a line per customer and per request batch; -vv: debug, with every HTTP request.",
)
@click.version_option(package_name="reconciler")
@click.pass_context
def main(ctx: click.Context, debug: bool, verbose: int) -> None:
    """Policy-as-code onboarding of end-user accounts for MSPs.

    Global flags (-v, -vv, --debug) may also follow the sub-command."""
    level = logging.WARNING - 10 * min(verbose, 2)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(levelname)s %(name)s: %(message)s") if verbose >= 2 else _Plain()
    )
    logging.basicConfig(level=level, handlers=[handler])
    install_url_redaction()
    if verbose < 2:
        # their INFO lines carry full URLs: query strings with emails, delta tokens
        for noisy in ("httpx", "httpcore", "msal"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    ctx.obj = Ctx(debug=debug, verbose=verbose)
