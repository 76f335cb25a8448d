"""Live stage (Entra): app-only tokens for Microsoft Graph through MSAL.

The MSP has one multi-tenant app registration; each customer names its tenant.
There is one `msal.ConfidentialClientApplication` per (authority, client id,
credential, TLS settings), kept for the life of the process so MSAL's token
cache spares a token request per run (a daemon syncs every tenant hourly).

MSAL answers token errors with a dict, and raises for transport problems and
for a bad authority; every one of them becomes a `ProviderError` naming the
customer, with the identity platform's own explanation (AADSTS...) and never
the secret: messages are scrubbed of the credential before they leave.

Two MSAL facts this module relies on (msal 1.39):
- `instance_discovery=False`, or MSAL asks login.microsoftonline.com whether a
  non-Microsoft authority host is known (fails offline and for test doubles);
  for Microsoft's own hosts it skips that call anyway.
- MSAL retries nothing: discovery and token requests go through `tokenhttp`'s
  client, which retries 429, 5xx and transport failures like every Graph call and
  names an untrusted certificate with the caFile fix.
"""

from __future__ import annotations

import hashlib
import ssl
import threading
import time
from collections.abc import Generator, Iterable
from dataclasses import dataclass
from pathlib import Path

import httpx
import msal
from pydantic import SecretStr

from reconciler.config.models import GraphConnection
from reconciler.config.secretpaths import SecretRoots
from reconciler.errors import ProviderError
from reconciler.providers.graph.tokenhttp import MsalHttpClient
from reconciler.providers.http import RetryPolicy
from reconciler.providers.limits import Sleep
from reconciler.providers.neterrors import describe_failure
from reconciler.redaction import redact_values
from reconciler.secrets import resolve

MAX_MESSAGE = 300
TOKEN_TIMEOUT = httpx.Timeout(30.0, connect=10.0)


@dataclass(frozen=True)
class Credential:
    """A resolved app credential: a client secret, or a certificate's private key
    and SHA-1 thumbprint. Values stay `SecretStr` until handed to MSAL."""

    secret: SecretStr | None = None
    private_key: SecretStr | None = None
    thumbprint: str | None = None

    @classmethod
    def resolve(cls, conn: GraphConnection, base_dir: Path | SecretRoots, where: str) -> Credential:
        cred = conn.credential
        if cred.client_secret is not None:
            return cls(secret=resolve(cred.client_secret, base_dir, f"{where} clientSecret"))
        assert cred.certificate is not None
        key = resolve(cred.certificate.private_key, base_dir, f"{where} certificate.privateKey")
        return cls(private_key=key, thumbprint=cred.certificate.thumbprint.upper())

    def for_msal(self) -> str | dict[str, str]:
        if self.secret is not None:
            return self.secret.get_secret_value()
        assert self.private_key is not None and self.thumbprint is not None
        return {"private_key": self.private_key.get_secret_value(), "thumbprint": self.thumbprint}

    def fingerprint(self) -> str:
        """Identifies the credential in a cache key without holding its value."""
        material = self.secret or self.private_key
        assert material is not None
        return hashlib.sha256(
            material.get_secret_value().encode() + (self.thumbprint or "").encode()
        ).hexdigest()

    def values(self) -> Iterable[str]:
        """Text that must never appear in a message: the secret or key, and each line of a key."""
        for value in (self.secret, self.private_key):
            if value is not None:
                text = value.get_secret_value()
                yield text
                yield from (line for line in text.splitlines() if len(line) >= 16)


def scrub(text: str, credential: Credential) -> str:
    return redact_values(text, credential.values())


_apps: dict[tuple[str, ...], tuple[msal.ConfidentialClientApplication, MsalHttpClient]] = {}
_apps_lock = threading.Lock()


def forget_apps() -> None:
    """Drop every cached MSAL app (tests; after a credential rotation)."""
    with _apps_lock:
        dropped = list(_apps.values())
        _apps.clear()
    for _, http in dropped:
        http.close()


class TokenSource:
    """Access tokens for one tenant; MSAL serves them from its cache until near expiry."""

    def __init__(
        self,
        conn: GraphConnection,
        tenant_id: str,
        credential: Credential,
        verify: ssl.SSLContext | bool,
        where: str,
        retry: RetryPolicy | None = None,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.authority = f"{conn.authority_host.rstrip('/')}/{tenant_id}"
        self.scopes = [f"{conn.graph_url.rstrip('/')}/.default"]
        self.client_id = conn.client_id
        self.tenant_id = tenant_id
        self.credential = credential
        self.verify = verify
        self.tls_key = f"{conn.ca_file}|{conn.insecure_skip_verify}"
        self.where = where
        self.retry = retry
        self.sleep = sleep

    def _app(self) -> msal.ConfidentialClientApplication:
        key = (self.authority, self.client_id, self.credential.fingerprint(), self.tls_key)
        with _apps_lock:
            cached = _apps.get(key)
        if cached is not None:
            return cached[0]
        http = MsalHttpClient(
            httpx.Client(verify=self.verify, timeout=TOKEN_TIMEOUT), self.where, self.retry, sleep=self.sleep
        )
        try:
            # builds the authority: OIDC discovery over the network happens here
            app = msal.ConfidentialClientApplication(
                self.client_id,
                client_credential=self.credential.for_msal(),
                authority=self.authority,
                instance_discovery=False,
                http_client=http,
            )
        except ProviderError:  # from the HTTP client: already says what happened
            http.close()
            raise
        except ValueError:
            http.close()
            message = (
                f"OIDC discovery failed for tenant {self.tenant_id} at {self.authority}; "
                "check the customer's tenantId and the connection's authorityHost"
            )
            raise ProviderError(self.where, message) from None
        except Exception as exc:
            http.close()
            raise self._error(
                f"cannot reach the identity platform for tenant {self.tenant_id}", exc
            ) from None
        with _apps_lock:
            kept, _ = _apps.setdefault(key, (app, http))
        if kept is not app:  # another thread made one meanwhile: use it, drop ours
            http.close()
        return kept

    def token(self) -> str:
        app = self._app()
        try:
            result = app.acquire_token_for_client(scopes=self.scopes)
        except ProviderError:
            raise
        except Exception as exc:
            raise self._error(f"token request for tenant {self.tenant_id} failed", exc) from None
        token = result.get("access_token") if isinstance(result, dict) else None
        if isinstance(token, str) and token:
            return token
        error = str(result.get("error") or "no access token") if isinstance(result, dict) else "no answer"
        description = str(result.get("error_description") or "") if isinstance(result, dict) else ""
        # the identity platform appends trace ids and a timestamp: noise in a plan
        description = description.split(" Trace ID:", 1)[0].strip()
        message = f"token request for tenant {self.tenant_id} refused: {error}: {description}"
        raise ProviderError(self.where, _short(scrub(message, self.credential)))

    def _error(self, what: str, exc: Exception) -> ProviderError:
        detail = (
            f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, httpx.TransportError)
            else describe_failure(exc)
        )
        return ProviderError(self.where, _short(scrub(f"{what}: {detail}", self.credential)))


class BearerAuth(httpx.Auth):
    """Adds a fresh-enough token to every Graph request."""

    def __init__(self, tokens: TokenSource) -> None:
        self.tokens = tokens

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.tokens.token()}"
        yield request


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE] + "..."
