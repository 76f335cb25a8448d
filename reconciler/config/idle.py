"""Config stage: customers that are valid but will do nothing (#17 item 3).

A customer in no policy and without import settings (`spec: {}`), or, in
snapshot mode, one whose directory files are missing, validates and plans
"No changes." for ever. These are warnings, located at the customer (a
customer generated from IT Glue before its import is decided is legitimate),
printed by `validate` and `plan`. Where nothing can ever work the caller makes
it an error (`validate --live` in snapshot mode: there is no live directory).
Reads only whether files exist; never their content.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from reconciler.config.load import ConfigSet
from reconciler.config.models import Source
from reconciler.config.resolve import EffectiveCustomer, effective_customers
from reconciler.errors import WARNING, Problem


def idle_warnings(config: ConfigSet, names: Sequence[str] = ()) -> list[Problem]:
    """One located warning per customer (of `names`, else all) that will import nothing."""
    out: list[Problem] = []
    snapshot = config.settings_doc.spec.snapshot
    base = (Path(config.root) / snapshot.dir) if snapshot is not None else None
    if base is not None and not base.is_dir() and config.settings is not None:
        assert snapshot is not None
        out.append(
            _warn(
                config.settings.src.problem(("spec", "snapshot", "dir"), ""),
                f"snapshot directory {snapshot.dir} does not exist: every customer reads as empty",
            )
        )
        base = None  # one warning, not one per customer
    for name, eff in effective_customers(config).items():
        if names and name not in names:
            continue
        out.extend(_customer(config, eff, base))
    return out


def live_in_snapshot_mode(config: ConfigSet) -> Problem | None:
    """`validate --live` with Settings spec.snapshot: the directories are files, so
    their selections cannot be checked live. With no live notification target (a
    PSA ticket queue) either, there is nothing live to check, ever: an error; with
    one, a warning that only it is checked."""
    spec = config.settings_doc.spec
    if spec.snapshot is None:
        return None
    at = config.settings.src.problem(("spec", "snapshot"), "") if config.settings else Problem("")
    if any(t.type in LIVE_TARGETS for t in spec.notifications):
        message = (
            f"{WARNING}validate --live: Settings spec.snapshot is set (offline mode): directory "
            "selections are read from files and not checked live; only notification targets are"
        )
    else:
        message = (
            "validate --live: Settings spec.snapshot is set (offline mode), so there is no live "
            "directory to check; drop --live, or remove spec.snapshot to talk to the real systems"
        )
    return Problem(message, at.file, at.line, at.column)


# notification targets `validate --live` checks against their system (daemon/notify/checks.py)
LIVE_TARGETS = frozenset({"autotask-ticket", "connectwise-ticket", "halo-ticket"})


def _warn(at: Problem, message: str) -> Problem:
    return Problem(WARNING + message, at.file, at.line, at.column)


def _customer(config: ConfigSet, eff: EffectiveCustomer, base: Path | None) -> Iterator[Problem]:
    src = config.customers[eff.name].src
    bindings = [b for b in (eff.end_user, eff.admin) if b is not None]
    if not bindings:
        yield _warn(
            src.problem(("spec",), ""),
            f"customer {eff.name!r} is in no import policy and has no import or adminImport "
            "settings: it imports nothing (R20)",
        )
        return
    if base is None:
        return
    folder = base / eff.name
    shown = (
        Path(config.settings_doc.spec.snapshot.dir if config.settings_doc.spec.snapshot else "") / eff.name
    )
    at = src.problem(("metadata", "name"), "")
    if not folder.is_dir():
        yield _warn(
            at,
            f"snapshot mode: there is no {shown}/ for customer {eff.name!r}, so its directories "
            "read as empty and it imports nothing",
        )
        return
    needs: dict[str, str] = {}
    for b in bindings:
        if b.settings.source is Source.ACTIVE_DIRECTORY:
            needs.setdefault("ad.json", f"the Active Directory import ({b.origin}) sees no users")
            if b.settings.password_sync:
                needs.setdefault("entra.json", f"password sync ({b.origin}) finds no Entra match (R3)")
        else:
            needs.setdefault("entra.json", f"the Entra import ({b.origin}) sees no users")
    for file, consequence in needs.items():
        if not (folder / file).is_file():
            yield _warn(at, f"snapshot mode: {shown}/{file} does not exist: {consequence}")
