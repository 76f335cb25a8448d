"""CLI: `reconciler init DIR`, a new policy repository that works at once.

The files are package data (`reconciler/templates/`), so a pip-installed
reconciler has them: Settings in offline snapshot mode with a small `live/`
folder (validate, plan and apply run without credentials), one import policy and
one customer with comments, the welcome email template, the JSON Schemas for
editors, a .gitignore for local state, pre-commit hooks, and the CI workflows with
a README that describes them. Nothing is ever overwritten.
Template paths spell a leading dot as `dot-` (packaging tools skip dotfiles).
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path, PurePosixPath

import click

from reconciler import __version__
from reconciler.config.schema import all_schemas
from reconciler.core.words import count
from reconciler.errors import ReconcilerError

CI_CHOICES = ("github", "gitlab", "none")
VERSION_TOKEN = "__RECONCILER_VERSION__"
CI_SECTION_TOKEN = b"__CI_SECTION__"  # README.md: how the chosen CI works (readme-ci/<ci>.md)


def _walk(node: Traversable, prefix: PurePosixPath) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for child in node.iterdir():
        name = "." + child.name[4:] if child.name.startswith("dot-") else child.name
        if child.is_dir():
            out.update(_walk(child, prefix / name))
        elif not name.endswith((".pyc", ".pyo")):
            out[str(prefix / name)] = child.read_bytes().replace(VERSION_TOKEN.encode(), __version__.encode())
    return out


def scaffold(ci: str) -> dict[str, bytes]:
    """Relative path -> content of every file `init` writes."""
    root = files("reconciler").joinpath("templates")
    out = _walk(root.joinpath("policy-repo"), PurePosixPath())
    if ci != "none":
        out.update(_walk(root.joinpath(ci), PurePosixPath()))
    out.update({f"schemas/{name}": text.encode() for name, text in all_schemas().items()})
    section = root.joinpath("readme-ci", f"{ci}.md").read_bytes().rstrip(b"\n")
    out["README.md"] = out["README.md"].replace(CI_SECTION_TOKEN, section)
    return dict(sorted(out.items()))


@click.command()
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--ci", type=click.Choice(CI_CHOICES), default="github", show_default=True, help="Which CI files to add."
)
def init(directory: Path, ci: str) -> None:
    """Scaffold a new policy repository in DIRECTORY (refuses to overwrite any file)."""
    content = scaffold(ci)
    clash = [rel for rel in content if (directory / rel).exists() or (directory / rel).is_symlink()]
    if clash:
        shown = ", ".join(clash[:5]) + (f" and {len(clash) - 5} more" if len(clash) > 5 else "")
        raise ReconcilerError(f"{directory}: refusing to overwrite existing files: {shown}")
    for rel, data in content.items():
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("xb") as fh:  # "x": never replace a file that appeared meanwhile
            fh.write(data)
    click.echo(f"Created a policy repository in {directory} ({count(len(content), 'file')}). Next:")
    for step in (
        f"reconciler validate -c {directory}",
        f"reconciler plan -c {directory} -o {directory}/example.plan.json",
        f"reconciler apply -c {directory} {directory}/example.plan.json",
    ):
        click.echo(f"  {step}")
    click.echo("Then edit settings.yaml, policies/ and customers/, and see README.md for CI.")


COMMANDS = (init,)
