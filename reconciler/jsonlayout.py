"""JSON text for large documents (saved plans, snapshot files): the outer levels
indented, each deeper value (a change, a record) on one line.

`json.dumps(indent=...)` runs the pure-Python encoder, several times slower than
the C one on a 100,000-record document; encoding each inner value on its own
keeps the C encoder and a readable, line-per-record file.
"""

from __future__ import annotations

import json
from typing import Any

_ENCODE = json.JSONEncoder(sort_keys=True).encode  # one encoder: json.dumps(**kw) builds one per call


def dumps(obj: Any, expand: int) -> str:
    """`obj` as JSON with sorted keys; containers down to `expand` levels are
    indented (one space per level), deeper values are one line each."""
    return _dump(obj, expand, 0) + "\n"


def _dump(obj: Any, expand: int, level: int) -> str:
    if level >= expand or not isinstance(obj, dict | list) or not obj:
        return _ENCODE(obj)
    pad = " " * (level + 1)
    if isinstance(obj, dict):
        items = [f"{pad}{_ENCODE(k)}: {_dump(obj[k], expand, level + 1)}" for k in sorted(obj)]
        return "{\n" + ",\n".join(items) + "\n" + " " * level + "}"
    rows = [pad + _dump(v, expand, level + 1) for v in obj]
    return "[\n" + ",\n".join(rows) + "\n" + " " * level + "]"
