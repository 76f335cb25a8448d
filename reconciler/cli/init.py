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

import re
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
REPO_URL_TOKEN = "__RECONCILER_REPO_URL__"  # pre-commit `repo:`, GitLab's pip install
GITHUB_REPO_TOKEN = "__RECONCILER_GITHUB_REPO__"  # OWNER/NAME in the workflows' `uses:`
DEFAULT_REPO = "https://github.com/reconciler-dev/reconciler"
_REPO_URL = re.compile(r"^https://[^/\s?#@]+/([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+?)(\.git)?/?$")
CI_SECTION_TOKEN = b"__CI_SECTION__"  # README.md: how the chosen CI works (readme-ci/<ci>.md)


def repo_parts(url: str) -> tuple[str, str]:
    """(URL without .git, OWNER/NAME) of the repository reconciler is installed from."""
    m = _REPO_URL.match(url.strip())
    if m is None:
        raise ReconcilerError(f"--repo {url!r}: expected https://HOST/OWNER/NAME")
    clean = url.strip().rstrip("/").removesuffix(".git")
    return clean, m.group(1)


def _walk(node: Traversable, prefix: PurePosixPath, tokens: dict[str, str]) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for child in node.iterdir():
        name = "." + child.name[4:] if child.name.startswith("dot-") else child.name
        if child.is_dir():
            out.update(_walk(child, prefix / name, tokens))
        elif not name.endswith((".pyc", ".pyo")):
            data = child.read_bytes()
            for token, value in tokens.items():
                data = data.replace(token.encode(), value.encode())
            out[str(prefix / name)] = data
    return out


def scaffold(ci: str, repo: str = DEFAULT_REPO) -> dict[str, bytes]:
    """Relative path -> content of every file `init` writes. Every reference to
    reconciler's own repository (actions, pre-commit hooks, GitLab's install) is
    pinned to `v{package version}` of `repo`: the tag `scripts/release` makes."""
    url, owner_name = repo_parts(repo)
    tokens = {VERSION_TOKEN: __version__, REPO_URL_TOKEN: url, GITHUB_REPO_TOKEN: owner_name}
    root = files("reconciler").joinpath("templates")
    out = _walk(root.joinpath("policy-repo"), PurePosixPath(), tokens)
    if ci != "none":
        out.update(_walk(root.joinpath(ci), PurePosixPath(), tokens))
    out.update({f"schemas/{name}": text.encode() for name, text in all_schemas().items()})
    section = root.joinpath("readme-ci", f"{ci}.md").read_bytes().rstrip(b"\n")
    out["README.md"] = out["README.md"].replace(CI_SECTION_TOKEN, section)
    return dict(sorted(out.items()))


@click.command()
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--ci", type=click.Choice(CI_CHOICES), default="github", show_default=True, help="Which CI files to add."
)
@click.option(
    "--repo",
    default=DEFAULT_REPO,
    show_default=True,
    help="The repository reconciler comes from (your fork or mirror): the workflows, hooks and "
    "GitLab's install use its tag v" + __version__ + ".",
)
def init(directory: Path, ci: str, repo: str) -> None:
    """Scaffold a new policy repository in DIRECTORY (refuses to overwrite any file)."""
    content = scaffold(ci, repo)
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
