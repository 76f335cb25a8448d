"""Edge: turn secret references into values, only when a connection is used.

A resolved secret is a `pydantic.SecretStr`: its repr and str are masked, so it
cannot leak through logs, plans or exception messages by accident. Errors name
the reference (variable or file), never any content. A secret file is read only
from inside the config directory or a Settings `secretDirs` entry, symbolic links
followed (`reconciler.config.secretpaths`): checked at validation and again here.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import SecretStr

from reconciler.config.models import SecretRef
from reconciler.config.secretpaths import SecretRoots, outside_message
from reconciler.errors import SecretError

MAX_SECRET_FILE_BYTES = 64_000


def resolve(ref: SecretRef, roots: Path | SecretRoots, where: str) -> SecretStr:
    """Value of `ref`; `where` says which customer/connection needs it. `roots` is
    where secret files may be (a bare config directory: only inside it)."""
    if ref.env is not None:
        value = os.environ.get(ref.env)
        if value is None or value == "":
            raise SecretError(f"{where}: environment variable {ref.env} is not set")
        return SecretStr(value)
    assert ref.file is not None
    if isinstance(roots, Path):
        roots = SecretRoots(roots)
    if roots.outside(ref.file):
        raise SecretError(f"{where}: {outside_message(ref.file)}")
    path = roots.locate(ref.file)
    try:
        if path.stat().st_size > MAX_SECRET_FILE_BYTES:
            raise SecretError(f"{where}: secret file {ref.file} is larger than expected")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SecretError(f"{where}: secret file {ref.file} does not exist") from None
    except (OSError, UnicodeDecodeError):
        raise SecretError(f"{where}: secret file {ref.file} cannot be read") from None
    # a trailing newline from `echo secret > file` is never part of the secret
    value = text.rstrip("\r\n")
    if not value:
        raise SecretError(f"{where}: secret file {ref.file} is empty")
    return SecretStr(value)
