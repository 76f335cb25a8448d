"""Config stage: where `{file: ...}` secrets may be read from.

A pull request that changes a connection URL and points a secret at
`../../home/ci/.ssh/id_rsa` (or at an absolute path, or at a symlink that leads
out) would send that file to another host from a plan run that has CI's
secrets. So a secret file resolves, symbolic links included, only inside the
config directory or inside a directory listed in Settings `secretDirs`
(absolute, or relative to the config directory; e.g. /run/secrets).

`check_secret_paths` reports every reference outside them at validation, with
its location; `reconciler.secrets.resolve` checks again when it reads the file,
so a symlink changed after validation cannot lead out either.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from reconciler.config.base import SecretRef
from reconciler.config.load import ConfigSet
from reconciler.config.yamlsrc import Path_
from reconciler.errors import Problem


@dataclass(frozen=True)
class SecretRoots:
    """The config directory and the extra secret directories, as written."""

    root: Path
    dirs: tuple[str, ...] = ()

    @classmethod
    def of(cls, root: Path, secret_dirs: tuple[str, ...] = ()) -> SecretRoots:
        return cls(root, tuple(secret_dirs))

    def allowed(self) -> list[Path]:
        return [self.root.resolve(), *((self.root / d).resolve() for d in self.dirs)]

    def locate(self, file: str) -> Path:
        """The real path of secret `file` (relative to the config directory), every
        existing symlink followed."""
        return (self.root / file).resolve()

    def outside(self, file: str) -> bool:
        real = self.locate(file)
        return not any(real.is_relative_to(d) for d in self.allowed())


def roots_of(config: ConfigSet) -> SecretRoots:
    return SecretRoots.of(config.root, config.settings_doc.spec.secret_dirs)


def outside_message(file: str) -> str:
    return (
        f"secret file {file} is outside the config directory and every Settings secretDirs entry "
        "(symbolic links followed); refused: keep it in the config directory or list its directory in secretDirs"
    )


def check_secret_paths(config: ConfigSet) -> list[Problem]:
    roots = roots_of(config)
    problems: list[Problem] = []
    loaded: list[Any] = [config.settings] if config.settings is not None else []
    loaded += [*config.customers.values(), *config.policies.values(), *config.admin_policies.values()]
    for item in loaded:
        for path, ref in secret_refs(item.doc, ()):
            if ref.file is not None and roots.outside(ref.file):
                problems.append(item.src.problem((*path, "file"), outside_message(ref.file)))
    if config.settings is not None:
        for i, entry in enumerate(config.settings_doc.spec.secret_dirs):
            if (config.root / entry).resolve() == Path("/"):
                problems.append(
                    config.settings.src.problem(
                        ("spec", "secretDirs", i), "secretDirs must not be the file system root"
                    )
                )
    return problems


def secret_refs(value: Any, path: Path_) -> Iterator[tuple[Path_, SecretRef]]:
    """Every secret reference inside a model, with its YAML path (camelCase keys)."""
    if isinstance(value, SecretRef):
        yield path, value
    elif isinstance(value, BaseModel):
        for name, info in type(value).model_fields.items():
            yield from secret_refs(getattr(value, name), (*path, info.alias or name))
    elif isinstance(value, (tuple, list)):
        for i, item in enumerate(value):
            yield from secret_refs(item, (*path, i))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from secret_refs(item, (*path, key))
