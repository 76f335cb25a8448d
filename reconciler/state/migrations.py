"""State: versioned, ordered schema migrations, the same mechanism for every backend.

A backend lists its migrations in order (version 1, 2, ...). Opening a store
applies the ones its database has not seen, each in one transaction together
with the bump of the schema-version row, so a crash leaves the database at
one version or the next, never between. A database whose schema is newer than
this reconciler knows is refused: an older binary must not write into a
layout it does not understand.
"""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.errors import StateError


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


def latest(migrations: tuple[Migration, ...]) -> int:
    return migrations[-1].version if migrations else 0


def pending(migrations: tuple[Migration, ...], current: int, where: str) -> list[Migration]:
    """The migrations after `current`, in order; StateError for a newer database."""
    versions = [m.version for m in migrations]
    assert versions == list(range(1, len(versions) + 1)), "migrations must be numbered 1, 2, ..."
    if current > latest(migrations):
        raise StateError(
            f"{where}: state schema {current} is newer than this reconciler understands "
            f"(it knows up to {latest(migrations)}); upgrade reconciler"
        )
    return [m for m in migrations if m.version > current]
