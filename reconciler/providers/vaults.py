"""Live stage: what the IT Glue and Hudu password-entry clients share.

- `open_api`: an `HttpApi` for one vendor account: https only, the seam's client
  (`build_client`), the API key sent by an auth hook (never stored in default
  headers), and the budget its Facts declare, shared by every customer.
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

from reconciler.config.secretpaths import SecretRoots
from reconciler.core.model import IntegrationKind, marker_text
from reconciler.errors import ProviderError
from reconciler.integrations.facts import Facts
from reconciler.integrations.hudu.spec import HuduConnection
from reconciler.integrations.itglue.spec import ItGlueConnection
from reconciler.providers.http import HttpApi, RetryPolicy, build_client, connect_api
from reconciler.providers.limits import RateLimiter
from reconciler.providers.tlsauth import ApiKeyAuth, key_fingerprint
from reconciler.secrets import resolve

log = logging.getLogger("reconciler.vaults")


@dataclass(frozen=True)
class OrgSummary:
    """An IT Glue organization or Hudu company as `customers import` needs it."""

    integration: IntegrationKind
    id: str
    name: str
    details: tuple[tuple[str, str], ...] = ()


def record_notes(marker: str, lineage: str | None = None) -> str:
    return f"Created by reconciler for a managed account; keep this tag. {marker_text(marker, lineage)}"


def open_api(
    facts: Facts[Any],
    base_url: str,
    conn: ItGlueConnection | HuduConnection,
    config_root: Path,
    where: str,
    *,
    extract_error: Callable[[Any], str | None],
    headers: dict[str, str] | None = None,
    limiter: RateLimiter | None = None,
    retry: RetryPolicy | None = None,
    transport: httpx.BaseTransport | None = None,
    secret_dirs: tuple[str, ...] = (),
) -> tuple[HttpApi, str]:
    """An HTTP seam for one customer (`where`) on one vendor account, and a name for
    that account (kind, base URL, key fingerprint) to share caches and budget under."""
    kind = facts.kind
    url = httpx.URL(base_url)
    if url.scheme != "https" or not url.host:
        raise ProviderError(where, f"{kind.value} base URL must be an https:// URL, got {base_url!r}")
    roots = SecretRoots.of(config_root, secret_dirs)
    key: SecretStr = resolve(conn.api_key, roots, f"{where} (connections.{kind.value}.apiKey)")
    account = f"{kind.value} {base_url.rstrip('/')} {key_fingerprint(key)}"
    client = build_client(
        where,
        conn,
        config_root,
        base_url=base_url.rstrip("/") + "/",
        auth=ApiKeyAuth("x-api-key", key),
        headers=headers,
        timeout=conn.timeout_seconds,
        transport=transport,
        pool=account,
    )
    api = connect_api(
        client,
        where,
        account=account,
        budget=facts.budget(conn),
        extract_error=extract_error,
        limiter=limiter,
        retry=retry,
        integration=kind.value,
    )
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
