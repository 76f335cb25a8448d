"""Pure core: counted nouns for messages ("1 customer", "2 import policies").

"1 customers" and "change(s)" read as unfinished; every count in a message goes
through `count`.
"""

from __future__ import annotations

_IRREGULAR = {"policy": "policies", "entry": "entries", "was": "were", "is": "are"}


def plural(word: str) -> str:
    """The plural of `word`; only the last word of a phrase changes."""
    head, _, last = word.rpartition(" ")
    many = _IRREGULAR.get(last) or (last + "es" if last.endswith(("s", "x", "sh", "ch")) else last + "s")
    return f"{head} {many}" if head else many


def count(n: int, word: str, many: str | None = None) -> str:
    """`n word`, the word in the plural unless n is 1: count(2, "import policy")."""
    return f"{n} {word if n == 1 else many or plural(word)}"
