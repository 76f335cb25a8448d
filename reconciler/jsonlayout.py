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
    return "".join(pieces(obj, expand, leaf))


def pieces(obj: Any, expand: int, leaf: Callable[[Any], str] = _ENCODE) -> list[str]:
    """The text of `dumps` in pieces, for `writelines`: a 50 MB plan is then never
    copied whole from level to level (nor held as one string)."""
    out: list[str] = []
    _emit(obj, expand, 0, leaf, out)
    out.append("\n")
    return out


def _emit(obj: Any, expand: int, level: int, leaf: Callable[[Any], str], out: list[str]) -> None:
    if level >= expand or not isinstance(obj, dict | list) or not obj:
        out.append(leaf(obj))
        return
    pad = " " * (level + 1)
    sep = ",\n" + pad
    if isinstance(obj, dict):
        out.append("{\n" + pad)
        for i, key in enumerate(sorted(obj)):
            out.append(f"{sep if i else ''}{_ENCODE(key)}: ")
            _emit(obj[key], expand, level + 1, leaf, out)
        out.append("\n" + " " * level + "}")
        return
    out.append("[\n" + pad)
    if level + 1 >= expand:  # a list of one-line values (100,000 changes): no call per item but `leaf`'s
        out.append(sep.join(map(leaf, obj)))
    else:
        for i, value in enumerate(obj):
            if i:
                out.append(sep)
            _emit(value, expand, level + 1, leaf, out)
    out.append("\n" + " " * level + "]")
