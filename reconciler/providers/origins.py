"""Live stage: URL origins (scheme, host, port) for messages that never show a
path or query, and the same-origin test before following a server's link with a
credential."""

from __future__ import annotations

import httpx

_DEFAULT_PORTS = {"https": 443, "http": 80}


def origin(url: str | httpx.URL) -> tuple[str, str, int | None]:
    """(scheme, host, port) of a URL, the default port made explicit; hosts are lower case."""
    parsed = httpx.URL(url) if isinstance(url, str) else url
    scheme = parsed.scheme.lower()
    return scheme, parsed.host.lower(), parsed.port or _DEFAULT_PORTS.get(scheme)


def origin_text(url: str | httpx.URL) -> str:
    """`scheme://host:port` of a URL, for messages (never its path or query)."""
    try:
        scheme, host, port = origin(url)
    except httpx.InvalidURL:
        return "a malformed URL"
    return f"{scheme}://{host}:{port}" if scheme and host else "a relative URL"


def same_origin(url: str | httpx.URL, base: str | httpx.URL) -> bool:
    """Whether `url` is absolute and on exactly the scheme, host and port of `base`:
    the test before following a link the server handed out with a credential."""
    try:
        mine = origin(url)
    except httpx.InvalidURL:
        return False
    return bool(mine[0] and mine[1]) and mine == origin(base)
