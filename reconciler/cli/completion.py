"""CLI: `reconciler completion bash|zsh|fish`, the shell completion script.

click completes commands, options and choices when the shell calls the program
with `_RECONCILER_COMPLETE` set; this prints the script that makes the shell do
so, to be sourced from the shell's start-up file.
"""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class

SHELLS = ("bash", "zsh", "fish")
HOW = {
    "bash": 'eval "$(reconciler completion bash)"        # in ~/.bashrc',
    "zsh": 'eval "$(reconciler completion zsh)"         # in ~/.zshrc',
    "fish": "reconciler completion fish | source       # in ~/.config/fish/config.fish",
}


@click.command()
@click.argument("shell", type=click.Choice(SHELLS))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Print the completion script for SHELL (bash, zsh or fish).

    \b
      eval "$(reconciler completion bash)"     # ~/.bashrc
      eval "$(reconciler completion zsh)"      # ~/.zshrc
      reconciler completion fish | source      # ~/.config/fish/config.fish
    """
    root = ctx.find_root()
    cls = get_completion_class(shell)
    assert cls is not None  # every name in SHELLS is one of click's
    script = cls(root.command, {}, "reconciler", "_RECONCILER_COMPLETE").source()
    click.echo(script)


COMMANDS = (completion,)
