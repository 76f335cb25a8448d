"""Config stage: what a saved plan is bound to, and what changed since (#12).

The config digest covers the parsed documents (not their bytes: a comment, a
reordering or a move to another file changes nothing) and the welcome email
template's text (an edit to it changes every future email). Beside it, one
short digest per part ("Customer contoso", "template templates/welcome.txt"), so
a stale plan can be refused naming the documents that changed, not only "the
config changed".
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reconciler.config.models import API_VERSION, SettingsDoc

TEMPLATE = "template "  # the key of the welcome template's part: "template <path>"
NAMED = 8  # changed parts named in a stale-plan message before "and N more"


def config_digests(
    by_kind: Mapping[str, Mapping[str, Any]], root: Path, settings: SettingsDoc | None
) -> tuple[str, dict[str, str]]:
    """(digest of the whole config, digest of each part); `by_kind` maps kind -> name ->
    a loaded document (with `.doc`)."""
    digest = hashlib.sha256()
    parts: dict[str, str] = {}
    for kind in sorted(by_kind):
        for name in sorted(by_kind[kind]):
            data = by_kind[kind][name].doc.model_dump(mode="json", by_alias=True)
            line = json.dumps([kind, name, data], sort_keys=True).encode() + b"\n"
            digest.update(line)
            parts[f"{kind} {name}"] = hashlib.sha256(line).hexdigest()[:16]
    template = (
        settings
        or SettingsDoc.model_validate(
            {"apiVersion": API_VERSION, "kind": "Settings", "metadata": {"name": "default"}}
        )
    ).spec.welcome_email.template
    path = root / template
    with contextlib.suppress(OSError):
        if path.is_file() and path.stat().st_size <= 1_000_000:
            text = path.read_bytes()
            digest.update(b"template\0" + text)
            parts[TEMPLATE + template] = hashlib.sha256(text).hexdigest()[:16]
    return digest.hexdigest(), parts


def config_changes(
    before: Mapping[str, str], after: Mapping[str, str], files: Mapping[str, str]
) -> list[str]:
    """What differs between two configs' parts, one phrase each ("Customer contoso changed
    (customers/contoso.yaml)"); `files`: the file each part of `after` is in."""
    out = []
    for key in sorted(set(before) | set(after)):
        if before.get(key) == after.get(key):
            continue
        what = "added" if key not in before else "removed" if key not in after else "changed"
        where = f" ({files[key]})" if key in files and not key.startswith(TEMPLATE) else ""
        label = f"the welcome template {key.removeprefix(TEMPLATE)}" if key.startswith(TEMPLATE) else key
        out.append(f"{label} {what}{where}")
    return out


def stale_message(before: Mapping[str, str], after: Mapping[str, str], files: Mapping[str, str]) -> str:
    """Why a saved plan made from a config with parts `before` is stale now."""
    if not before:  # a plan saved before plans recorded their parts (format 5 and older)
        return "the config changed since this plan was made; plan again"
    changes = config_changes(before, after, files)
    if not changes:  # the same parts, a different digest: a change this version cannot name
        return "the config changed since this plan was made; plan again"
    shown = ", ".join(changes[:NAMED]) + (f" and {len(changes) - NAMED} more" if len(changes) > NAMED else "")
    return f"the config changed since this plan was made: {shown}; plan again"
