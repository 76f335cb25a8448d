"""JSON text for large documents (saved plans, snapshot files): the outer levels
indented, each deeper value (a change, a record) on one line.

`json.dumps(indent=...)` runs the pure-Python encoder, several times slower than
the C one on a 100,000-record document; encoding each inner value on its own
keeps the C encoder and a readable, line-per-record file.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

_ENCODE = json.JSONEncoder(sort_keys=True).encode  # one encoder: json.dumps(**kw) builds one per call


def dumps(obj: Any, expand: int, leaf: Callable[[Any], str] = _ENCODE) -> str:
    """`obj` as JSON with sorted keys; containers down to `expand` levels are
    indented (one space per level), deeper values are one line each, as `leaf`
    encodes them (by default `json.dumps(value, sort_keys=True)`; the saved plan
    writes its changes with a faster equivalent, reconciler/core/planfile.py)."""
    return _dump(obj, expand, 0, leaf) + "\n"


def _dump(obj: Any, expand: int, level: int, leaf: Callable[[Any], str]) -> str:
    if level >= expand or not isinstance(obj, dict | list) or not obj:
        return leaf(obj)
    pad = " " * (level + 1)
    if isinstance(obj, dict):
        items = [f"{_ENCODE(k)}: {_dump(obj[k], expand, level + 1, leaf)}" for k in sorted(obj)]
        opening, closing = "{", "}"
    else:
        # a list of one-line values (100,000 changes): no call per item but `leaf`'s
        items = (
            list(map(leaf, obj)) if level + 1 >= expand else [_dump(v, expand, level + 1, leaf) for v in obj]
        )
        opening, closing = "[", "]"
    sep = ",\n" + pad
    return f"{opening}\n{pad}{sep.join(items)}\n{' ' * level}{closing}"
