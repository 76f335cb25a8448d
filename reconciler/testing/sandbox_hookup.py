"""Test helpers: what an integration's simulator hook-up gives the sandbox.

Each integration folder's `sandbox.py` has `hookup(ca) -> Hookup`; the sandbox
loads them by name from the integration table, starts every simulator, writes
their secrets and Settings blocks, and lists their endpoints.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Hookup:
    simulator: Any  # has start(), stop() and url once started
    secrets: dict[str, str] = field(default_factory=dict)  # file under secrets/ -> value
    settings: Callable[[str], str] = lambda ca_file: ""  # its `connections:` block, given the CA file
    endpoint: Callable[[], str] = lambda: ""  # what the summary shows, once started
