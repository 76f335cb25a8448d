"""Live stage: what the IT Glue and Hudu password-entry clients share.

- `open_api`: an `HttpApi` for one vendor account: https only, TLS verified unless
  the Settings say otherwise, the API key sent by an auth hook (never stored in
  default headers), and the account's rate limiter shared by every customer.
- `OrgSummary`: an IT Glue organization / Hudu company, for `customers import` (R21).
- `record_notes`: the text a created entry carries in its notes/description; the
  marker inside it is how a rerun after a crash finds its own creation.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from reconciler.config.models import HuduConnection, ItGlueConnection
from reconciler.core.model import IntegrationKind, marker_text
from reconciler.errors import ProviderError
from reconciler.providers.http import (
    ApiKeyAuth,
    HttpApi,
    RateLimiter,
    RetryPolicy,
    key_fingerprint,
    shared_limiter,
    tls_verify,
)
from reconciler.secrets import resolve

log = logging.getLogger("reconciler.vaults")

MAX_PAGES = 10_000  # 10 million entries at 1000 a page: a bound, not a limit anyone meets


@dataclass(frozen=True)
class OrgSummary:
    """An IT Glue organization or Hudu company as `customers import` needs it."""

    integration: IntegrationKind
    id: str
    name: str
    details: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Limit:
    """A vendor's request budget: `requests` per `window` seconds."""

    requests: int
    window: float


def record_notes(marker: str) -> str:
    return f"Created by reconciler for a managed account; keep this tag. {marker_text(marker)}"


def open_api(
    kind: IntegrationKind,
    base_url: str,
    conn: ItGlueConnection | HuduConnection,
    config_root: Path,
    where: str,
    *,
    limit: Limit,
    extract_error: Callable[[Any], str | None],
    headers: dict[str, str] | None = None,
    limiter: RateLimiter | None = None,
    retry: RetryPolicy | None = None,
) -> tuple[HttpApi, str]:
    """An HTTP seam for one customer (`where`) on one vendor account, and a name for
    that account (kind, base URL, key fingerprint) to share caches under."""
    url = httpx.URL(base_url)
    if url.scheme != "https" or not url.host:
        raise ProviderError(where, f"{kind.value} base URL must be an https:// URL, got {base_url!r}")
    key: SecretStr = resolve(conn.api_key, config_root, f"{where} (connections.{kind.value}.apiKey)")
    account = f"{kind.value} {base_url.rstrip('/')} {key_fingerprint(key)}"
    if limiter is None:
        limiter = shared_limiter(account, limit.requests, limit.window)
    client = httpx.Client(
        base_url=base_url.rstrip("/") + "/",
        auth=ApiKeyAuth("x-api-key", key),
        headers=headers or {},
        verify=tls_verify(conn.ca_file, conn.insecure_skip_verify, config_root, where),
        timeout=conn.timeout_seconds,
        follow_redirects=False,
    )
    api = HttpApi(client, where, retry=retry or RetryPolicy(), limiter=limiter, extract_error=extract_error)
    return api, account


def text_or_none(value: Any) -> str | None:
    """A vendor string field, with "" and non-strings read as absent."""
    return value if isinstance(value, str) and value.strip() else None


def record_id(value: Any) -> str | None:
    """Vendor ids are numbers (Hudu) or numeric strings (JSON:API); text either way."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def numeric_id(value: str, what: str, where: str) -> int:
    """An integration id from the YAML as the vendor's integer."""
    try:
        return int(value)
    except ValueError:
        raise ProviderError(where, f"{what} must be a number, got {value!r}") from None
