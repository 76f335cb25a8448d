"""Edge: mask known secret values in text that is about to be shown.

Whole values only: a secret is masked where it stands on its own, never inside a
longer word. Masking every occurrence of a short secret's characters ("o***ening",
"ref***sed") garbles unrelated text and tells the secret by elimination. This is
the last line of defence: messages are built from our own words, exception types
and result codes, not from text that could hold a secret.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "***"


def redact_values(text: str, secrets: Iterable[str]) -> str:
    """`text` with every whole occurrence of each secret replaced by `***`."""
    values = sorted({s for s in secrets if s}, key=len, reverse=True)  # longest first
    for value in values:
        # a value counts as whole when no letter or digit touches it on either side
        pattern = rf"(?<![^\W_]){re.escape(value)}(?![^\W_])"
        text = re.sub(pattern, MASK, text)
    return text
