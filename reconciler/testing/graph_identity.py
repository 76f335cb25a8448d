"""Test helpers: the Microsoft identity platform half of the Graph simulator.

OIDC discovery and the client-credentials token endpoint, as MSAL calls them:
a client secret, or a client assertion (JWT) signed with a registered
certificate and carrying its thumbprint (`x5t`, or `x5t#S256`). The signature,
audience, issuer and expiry of an assertion are checked as Entra does. Errors
have the identity platform's shape: `{"error", "error_description": "AADSTS...",
"error_codes", "trace_id", ...}`. Issued access tokens are opaque and only mean
something to this simulator's Graph half.
"""

from __future__ import annotations

import base64
import datetime as dt
import hmac
import json
import secrets
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from reconciler.testing.httpsim import Fault, SimRequest, SimResponse

DEFAULT_CLIENT_ID = "11111111-2222-3333-4444-555555555555"


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")


def identity_error(status: int, error: str, aadsts: int, description: str) -> SimResponse:
    trace, corr = str(uuid.uuid4()), str(uuid.uuid4())
    stamp = now_iso() + "Z"
    body = {
        "error": error,
        "error_description": f"AADSTS{aadsts}: {description} Trace ID: {trace} "
        f"Correlation ID: {corr} Timestamp: {stamp}",
        "error_codes": [aadsts],
        "timestamp": stamp,
        "trace_id": trace,
        "correlation_id": corr,
        "error_uri": f"https://login.microsoftonline.com/error?code={aadsts}",
    }
    return SimResponse(status, body)


def invalid_secret_fault() -> Fault:
    """Queue it with `path_prefix="/<tenant>/oauth2"`: the next token request fails
    as a wrong client secret does (AADSTS7000215)."""
    body = identity_error(
        401,
        "invalid_client",
        7000215,
        "Invalid client secret provided. Ensure the secret being sent in the request is the "
        "client secret value, not the client secret ID, for a secret added to app.",
    ).body
    return Fault.error(401, body=body)


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class _Certificate:
    public_key: Any
    sha1: str
    sha256: str


class IdentityPlatform:
    """The app registration (one client id, its secret and certificates) and the
    tokens issued to it, per tenant."""

    def __init__(
        self,
        client_id: str,
        client_secret: str | None,
        token_lifetime: int,
        clock: Callable[[], float],
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret if client_secret is not None else secrets.token_urlsafe(24)
        self.token_lifetime = token_lifetime
        self.clock = clock
        self.certificates: list[_Certificate] = []
        self.tokens_issued = 0
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def add_certificate(self) -> tuple[str, str]:
        """Register a new certificate on the app; returns (private key PEM, SHA-1 thumbprint)."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "reconciler test app")])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .sign(key, hashes.SHA256())
        )
        sha1 = cert.fingerprint(hashes.SHA1()).hex().upper()  # noqa: S303 - Entra x5t is SHA-1
        self.certificates.append(
            _Certificate(key.public_key(), sha1, cert.fingerprint(hashes.SHA256()).hex())
        )
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return pem.decode(), sha1

    def tenant_of(self, access_token: str) -> tuple[str | None, str]:
        """(tenant, "") for a valid bearer token, else (None, why not)."""
        with self._lock:
            grant = self._tokens.get(access_token)
        if grant is None:
            return None, "IDX14100: JWT is not well formed, there are no dots (.)."
        tenant_id, expires = grant
        if expires < self.clock():
            return None, "Lifetime validation failed, the token is expired."
        return tenant_id, ""

    # --- endpoints ----------------------------------------------------------------------
    def discovery(self, base_url: str, tenant_id: str, known: bool) -> SimResponse:
        if not known:
            return identity_error(
                400, "invalid_tenant", 90002, f"Tenant '{tenant_id}' not found. Check to make sure you "
                "have the correct tenant ID and are signing into the correct cloud."
            )  # fmt: skip
        base = f"{base_url}/{tenant_id}"
        return SimResponse(
            200,
            {
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post", "private_key_jwt", "client_secret_basic",
                ],
                "jwks_uri": f"{base}/discovery/v2.0/keys",
                "response_modes_supported": ["query", "fragment", "form_post"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "issuer": f"{base}/v2.0",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
                "tenant_region_scope": "EU",
                "cloud_instance_name": "microsoftonline.com",
                "msgraph_host": "graph.microsoft.com",
            },
        )  # fmt: skip

    def token(
        self, request: SimRequest, base_url: str, tenant_id: str, consented: bool | None
    ) -> SimResponse:
        """`consented` is None for an unknown tenant."""
        form = {k: v[0] for k, v in parse_qs(request.body.decode(errors="replace")).items()}
        if consented is None:
            return identity_error(400, "invalid_request", 90002, f"Tenant '{tenant_id}' not found.")
        if form.get("grant_type") != "client_credentials":
            return identity_error(
                400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type."
            )
        if form.get("client_id") != self.client_id or not consented:
            return identity_error(
                400, "unauthorized_client", 700016,
                f"Application with identifier '{form.get('client_id')}' was not found in the directory "
                f"'{tenant_id}'. This can happen if the application has not been installed by the "
                "administrator of the tenant or consented to by any user in the tenant.",
            )  # fmt: skip
        scopes = form.get("scope", "").split()
        if not scopes or not all(s.endswith("/.default") for s in scopes):
            return identity_error(
                400, "invalid_scope", 1002012, "The provided value for scope is not valid. Client "
                "credential flows must have a scope value with /.default suffixed to the resource identifier."
            )  # fmt: skip
        problem = self._check_credential(form, f"{base_url}/{tenant_id}/oauth2/v2.0/token")
        if problem is not None:
            return problem
        token = "sim." + secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = (tenant_id, self.clock() + self.token_lifetime)
            self.tokens_issued += 1
        life = self.token_lifetime
        return SimResponse(
            200, {"token_type": "Bearer", "expires_in": life, "ext_expires_in": life, "access_token": token}
        )

    def _check_credential(self, form: dict[str, str], audience: str) -> SimResponse | None:
        if "client_secret" in form:
            if hmac.compare_digest(form["client_secret"].encode(), self.client_secret.encode()):
                return None
            fault = invalid_secret_fault()
            return SimResponse(fault.status, fault.body)
        if "client_assertion" in form:
            problem = self._check_assertion(form["client_assertion"], audience)
            return None if problem is None else identity_error(401, "invalid_client", *problem)
        return identity_error(
            401, "invalid_client", 7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )  # fmt: skip

    def _check_assertion(self, assertion: str, audience: str) -> tuple[int, str] | None:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        try:
            head_b64, claims_b64, sig_b64 = assertion.split(".")
            header = json.loads(_b64url_decode(head_b64))
            claims = json.loads(_b64url_decode(claims_b64))
            signature = _b64url_decode(sig_b64)
        except ValueError:
            return 50027, "JWT token is invalid or malformed."
        cert = None
        for c in self.certificates:
            if "x5t" in header and _b64url_decode(header["x5t"]).hex().upper() == c.sha1:
                cert = c
            if "x5t#S256" in header and _b64url_decode(header["x5t#S256"]).hex() == c.sha256:
                cert = c
        if cert is None:
            return 700027, (
                "The certificate with identifier used to sign the client assertion is not registered on application."
            )
        signed = f"{head_b64}.{claims_b64}".encode()
        try:
            if header.get("alg") == "RS256":
                cert.public_key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
            elif header.get("alg") == "PS256":
                pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=hashes.SHA256.digest_size)
                cert.public_key.verify(signature, signed, pss, hashes.SHA256())
            else:
                return (
                    5002738,
                    f"Invalid JWT token. '{header.get('alg')}' is not a supported signature algorithm.",
                )
        except InvalidSignature:
            return 700027, "Client assertion failed signature validation."
        if claims.get("aud") != audience:
            return 700021, "Client assertion audience claim does not match Realm issuer."
        if claims.get("iss") != self.client_id or claims.get("sub") != self.client_id:
            return 700021, "Client assertion application identifier doesn't match 'client_id' parameter."
        if float(claims.get("exp", 0)) < self.clock():
            return 700024, "Client assertion is not within its valid time range."
        return None
