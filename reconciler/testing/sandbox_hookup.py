"""Test helpers: what an integration's simulator hook-up gives the sandbox.

Each integration folder's `sandbox.py` has `hookup(ca) -> Hookup`; the sandbox
loads them by name from the integration table, starts every simulator, writes
their secrets and Settings blocks, and lists their endpoints. `connection_hookup`
is the one factory they use: a vendor's hook-up says only its simulator, its
settings fields and which of them are secrets.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Hookup:
    simulator: Any  # has start(), stop() and url once started
    secrets: dict[str, str] = field(default_factory=dict)  # file under secrets/ -> value
    settings: Callable[[str], str] = lambda ca_file: ""  # its `connections:` block, given the CA file
    endpoint: Callable[[], str] = lambda: ""  # what the summary shows, once started


def connection_hookup(
    simulator: Any,
    kind: str,
    *,
    fields: Callable[[], Mapping[str, object]],
    secrets: Mapping[str, tuple[str, str]],
    endpoint: Callable[[], str],
) -> Hookup:
    """The hook-up of one simulated vendor: its `connections.<kind>` block is `fields`
    (read once the simulator has started, for its URL), every secret field as a file
    reference (`secrets`: settings field -> (file under secrets/, value)) and the CA file."""

    def settings(ca_file: str) -> str:
        lines = [f"    {kind}:"]
        lines += [f"      {name}: {value}" for name, value in fields().items()]
        lines += [f"      {name}: {{file: secrets/{file}}}" for name, (file, _) in secrets.items()]
        lines.append(f"      caFile: {ca_file}")
        return "\n".join(lines) + "\n"

    return Hookup(simulator, {file: value for file, value in secrets.values()}, settings, endpoint)
