"""Live stage (AD): one bound, TLS-protected LDAP session to a domain controller.

- LDAPS (636) or StartTLS (389) with certificate and host-name verification by
  default (system CAs plus an optional `caFile`); plain LDAP only with
  `tls: plain-insecure`, logged as a warning on every connection.
- Simple bind with a DN or UPN from secret references. ldap3's NTLM bind fails
  against Samba (APIS.md section 3), and simple bind over TLS is what AD expects.
- Connect and receive timeouts; every ldap3 failure becomes a `ProviderError`
  whose text never contains the bind name or password.
- Searches are paged (AD caps pages at 1000) and counted, so tests and
  benchmarks can see how many requests a sync costs: per reader (`SearchStats`)
  and process-wide over every reader (`ldap_totals()`, like `api_totals()` for
  HTTP), since a daemon does not keep its readers.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import ssl
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import ldap3
from ldap3.core import exceptions as ldap_errors
from pydantic import SecretStr

from reconciler.config.models import ActiveDirectory, TlsMode
from reconciler.errors import ProviderError
from reconciler.providers.ldap.entries import Entry
from reconciler.providers.neterrors import NetFailure, probe, tls_probe
from reconciler.providers.tlsauth import tls_verify
from reconciler.redaction import redact_values

log = logging.getLogger("reconciler.ldap")

PAGE_SIZE = 1000
MAX_MESSAGE_CHARS = 240
RESULT_NO_SUCH_OBJECT = 32
PAGED_RESULTS_OID = "1.2.840.113556.1.4.319"

# The "data" code in AD's invalidCredentials message says why a bind failed.
_BIND_REASONS = {
    "525": "user not found",
    "52e": "invalid user name or password",
    "530": "logon not permitted at this time",
    "531": "logon not permitted from this workstation",
    "532": "password expired",
    "533": "account disabled",
    "701": "account expired",
    "773": "password must be changed",
    "775": "account locked out",
}


_totals: Counter[str] = Counter()
_totals_lock = threading.Lock()


def ldap_totals() -> dict[str, int]:
    """Process-wide counters summed over every session: `binds`, `searches`,
    `requests` (pages), `entries`, and reads by kind (`full_reads`, ...)."""
    with _totals_lock:
        return dict(_totals)


def tally(**counts: int) -> None:
    with _totals_lock:
        _totals.update(counts)


class NoSuchObject(Exception):
    """A search base does not exist (LDAP result 32); callers decide what it means."""

    def __init__(self, base: str) -> None:
        super().__init__(base)
        self.base = base


@dataclass
class SearchStats:
    """`searches`: logical searches; `requests`: LDAP search requests (one per page)."""

    searches: int = 0
    requests: int = 0
    entries: int = 0

    def to_dict(self) -> dict[str, int]:
        return {"searches": self.searches, "requests": self.requests, "entries": self.entries}


@dataclass(frozen=True)
class Endpoint:
    """Where and how to connect; built once per reader from the customer's config."""

    host: str
    port: int
    mode: TlsMode
    timeout: float
    ssl_context: ssl.SSLContext | None
    where: str

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def split_server(server: str, mode: TlsMode) -> tuple[str, int]:
    """'dc1', 'dc1:3269', '[::1]:636' or '::1' -> (host, port); default port by TLS mode."""
    default = 636 if mode is TlsMode.LDAPS else 389
    server = server.strip()
    for scheme in ("ldaps://", "ldap://"):
        if server.lower().startswith(scheme):
            server = server[len(scheme) :]
    if server.startswith("["):
        host, _, rest = server[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else default
    if server.count(":") == 1:
        host, _, port = server.partition(":")
        return host, int(port)
    return server, default


def make_endpoint(ad: ActiveDirectory, config_root: Path, where: str) -> Endpoint:
    try:
        host, port = split_server(ad.server, ad.tls)
    except ValueError:
        raise ProviderError(where, f"server {ad.server!r} is not host or host:port") from None
    context: ssl.SSLContext | None = None
    if ad.tls is TlsMode.PLAIN_INSECURE:
        log.warning(
            "%s: Active Directory connection is NOT encrypted (tls: plain-insecure); the bind password "
            "and directory data cross the network in clear text",
            where,
        )
    elif not ad.insecure_skip_verify:  # shared per CA file: loading the system store costs ~30 ms
        context = cast(ssl.SSLContext, tls_verify(ad.ca_file, False, config_root, where))
    else:
        log.warning(
            "%s: TLS certificate verification is OFF (insecureSkipVerify) for Active Directory; "
            "traffic can be intercepted",
            where,
        )
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return Endpoint(host, port, ad.tls, ad.timeout_seconds, context, where)


class _ContextTls(ldap3.Tls):  # type: ignore[misc]
    """ldap3's Tls turns Python's host-name check off and does its own; this one
    wraps with our SSLContext so OpenSSL verifies chain and name (IP SANs too)."""

    def __init__(self, context: ssl.SSLContext, host: str) -> None:
        super().__init__(validate=context.verify_mode)
        self._context = context
        self._host = host

    def wrap_socket(self, connection: Any, do_handshake: bool = False) -> None:
        connection.socket = self._context.wrap_socket(
            connection.socket,
            server_side=False,
            do_handshake_on_connect=do_handshake,
            server_hostname=self._host if self._context.check_hostname else None,
        )


class Session:
    """A bound connection. Use as a context manager; `close()` unbinds."""

    def __init__(self, conn: ldap3.Connection, endpoint: Endpoint, stats: SearchStats, scrub: Sequence[str]):
        self._conn = conn
        self.endpoint = endpoint
        self.stats = stats
        self._scrub = [s for s in scrub if s]

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with contextlib.suppress(ldap_errors.LDAPException):
            self._conn.unbind()

    def search(
        self,
        base: str,
        search_filter: str,
        attributes: Sequence[str],
        *,
        scope: str = ldap3.SUBTREE,
        paged: bool = True,
        controls: Sequence[tuple[str, bool, Any]] = (),
        size_limit: int = 0,
        whole: bool = True,
    ) -> Iterator[Entry]:
        """Entries of one (paged) search; raises NoSuchObject when `base` is missing.
        With `whole`, a multi-valued attribute the DC sent in part (`memberOf;range=0-1499`,
        for a user in more groups than the DC's MaxValRange) is completed: see `_whole`."""
        self.stats.searches += 1
        tally(searches=1)
        cookie: bytes | None = None
        while True:
            self.stats.requests += 1
            tally(requests=1)
            try:
                self._conn.search(
                    base,
                    search_filter,
                    search_scope=scope,
                    attributes=list(attributes) or [ldap3.NO_ATTRIBUTES],
                    paged_size=PAGE_SIZE if paged else None,
                    paged_cookie=cookie,
                    size_limit=size_limit,
                    time_limit=int(self.endpoint.timeout) + 1,
                    controls=list(controls) or None,
                )
            except ldap_errors.LDAPException as exc:
                raise self.error(f"search under {base!r} failed", exc) from None
            result = self._conn.result
            code = result.get("result", 0)
            if code == RESULT_NO_SUCH_OBJECT:
                raise NoSuchObject(base)
            if code not in (0, 4):  # 4 = sizeLimitExceeded never happens with paging
                raise ProviderError(
                    self.endpoint.where,
                    f"search under {base!r} failed: {result.get('description')}: "
                    f"{self._clean(str(result.get('message', '')))}",
                )
            items = [i for i in self._conn.response or () if i.get("type") == "searchResEntry"]
            tally(entries=len(items))
            for item in items:
                self.stats.entries += 1
                entry = Entry(item["dn"], item["raw_attributes"])
                yield self._whole(entry) if whole else entry
            returned = result.get("controls") or {}
            cookie = returned.get(PAGED_RESULTS_OID, {}).get("value", {}).get("cookie") if paged else None
            if not cookie:
                return

    def read(
        self, dn: str, attributes: Sequence[str], controls: Sequence[tuple[str, bool, Any]] = ()
    ) -> Entry:
        """One object by DN (base search); NoSuchObject when it does not exist."""
        for entry in self.search(
            dn, "(objectClass=*)", attributes, scope=ldap3.BASE, paged=False, controls=controls
        ):
            return entry
        raise NoSuchObject(dn)

    def _whole(self, entry: Entry) -> Entry:
        """Range retrieval: AD sends at most MaxValRange (1500) values of an attribute and
        names the part it sent, `memberOf;range=0-1499`; the rest is read with base
        searches for `memberOf;range=1500-*` until a part ends with `*`. Only values this
        DC holds are read: members from other domains of a forest are not (see
        docs/active-directory.md)."""
        ranged = [key for key in entry.raw if ";range=" in key.lower()]
        if not ranged:
            return entry
        raw = {k: list(v) for k, v in entry.raw.items() if k not in ranged}
        for key in ranged:
            name = key.split(";", 1)[0]
            values = list(entry.raw[key])
            end = key.rsplit("-", 1)[-1]
            while end != "*" and end.isdigit():
                attr = f"{name};range={int(end) + 1}-*"
                rest = next(iter(self.search(entry.dn, "(objectClass=*)", [attr], scope=ldap3.BASE,
                                             paged=False, whole=False)), None)  # fmt: skip
                part = next(
                    (k for k in (rest.raw if rest else {}) if k.lower().startswith(f"{name.lower()};range=")),
                    None,
                )
                if rest is None or part is None:
                    break
                values.extend(rest.raw[part])
                end = part.rsplit("-", 1)[-1]
            raw[name] = raw.get(name, []) + values
        return Entry(entry.dn, raw)

    def error(self, doing: str, exc: BaseException) -> ProviderError:
        return ProviderError(self.endpoint.where, f"{doing}: {describe(exc, self._scrub)}")

    def _clean(self, message: str) -> str:
        return scrub(message, self._scrub)


_TUPLE_REPR = re.compile(r"\(\s*(['\"])(.*)\1,?\s*\)", re.S)


def scrub(message: str, secrets: Sequence[str]) -> str:
    """A message fit to show: secrets masked, ldap3's nested tuple reprs unwrapped, short."""
    while (m := _TUPLE_REPR.fullmatch(message)) is not None:
        message = m.group(2)
    message = redact_values(message, secrets)
    message = " ".join(message.split())
    return message if len(message) <= MAX_MESSAGE_CHARS else message[:MAX_MESSAGE_CHARS] + "..."


def describe(exc: BaseException, secrets: Sequence[str]) -> str:
    if isinstance(exc, ldap_errors.LDAPSocketReceiveError | ldap_errors.LDAPResponseTimeoutError):
        return "no answer within the timeout"
    return f"{type(exc).__name__}: {scrub(str(exc), secrets)}"


def open_session(endpoint: Endpoint, user: SecretStr, password: SecretStr, stats: SearchStats) -> Session:
    """Connect, secure (LDAPS or StartTLS), bind; a ProviderError on any failure."""
    user_text, password_text = user.get_secret_value(), password.get_secret_value()
    secrets = (password_text, user_text)
    where = endpoint.where
    tls = _ContextTls(endpoint.ssl_context, endpoint.host) if endpoint.ssl_context is not None else None
    server = ldap3.Server(
        endpoint.host,
        port=endpoint.port,
        use_ssl=endpoint.mode is TlsMode.LDAPS,
        tls=tls,
        get_info=ldap3.NONE,
        connect_timeout=endpoint.timeout,
    )
    conn = ldap3.Connection(
        server,
        user=user_text,
        password=password_text,
        authentication=ldap3.SIMPLE,
        read_only=True,
        raise_exceptions=False,
        receive_timeout=max(1, math.ceil(endpoint.timeout)),  # ldap3 packs it as an integer
        auto_referrals=False,
        check_names=False,
    )
    step = f"cannot connect to {endpoint.address}"
    try:
        conn.open(read_server_info=False)
        if endpoint.mode is TlsMode.STARTTLS:
            step = f"StartTLS with {endpoint.address} failed"
            if not conn.start_tls(read_server_info=False):  # never bind in clear text instead
                _quiet_unbind(conn)
                raise ProviderError(where, f"{step}: {scrub(str(conn.last_error), secrets)}")
        step = f"bind to {endpoint.address} failed"
        bound = conn.bind(read_server_info=False)
    except ldap_errors.LDAPException as exc:
        _quiet_unbind(conn)
        if isinstance(exc, ldap_errors.LDAPSocketOpenError):
            raise ProviderError(where, f"{step}: {_network_reason(endpoint)}") from None
        raise ProviderError(where, f"{step}: {describe(exc, secrets)}") from None
    if not bound:
        result = conn.result or {}
        _quiet_unbind(conn)
        raise ProviderError(where, f"bind to {endpoint.address} failed: {_bind_reason(result, secrets)}")
    tally(binds=1)
    return Session(conn, endpoint, stats, secrets)


def _network_reason(endpoint: Endpoint) -> str:
    """Refused, DNS, timeout or TLS (#17 item 8): ldap3 keeps none of the cause, so
    ask the network directly; when TCP connects, the TLS handshake is what failed."""
    failure = probe(endpoint.host, endpoint.port, endpoint.timeout)
    if failure is not None:
        return str(failure)
    if endpoint.mode is TlsMode.LDAPS:
        context = endpoint.ssl_context or ssl._create_unverified_context()  # noqa: S323 - as configured
        detail = tls_probe(endpoint.host, endpoint.port, endpoint.timeout, context)
        hint = "is the port an LDAPS port? is caFile the DC's CA?"
        return f"{NetFailure.TLS}: {detail or 'the handshake failed'} ({hint})"
    return "the connection failed after it was made"


def _bind_reason(result: dict[str, Any], secrets: Sequence[str]) -> str:
    description = str(result.get("description", "unknown error"))
    message = str(result.get("message", ""))
    if description == "invalidCredentials":
        for code, reason in _BIND_REASONS.items():
            if f"data {code}" in message:
                return f"invalidCredentials ({reason})"
        return "invalidCredentials (check bindUser and bindPassword)"
    if description == "strongerAuthRequired":
        return "strongerAuthRequired: the domain controller requires TLS for simple binds; use tls: ldaps or starttls"
    return f"{description}: {scrub(message, secrets)}"


def _quiet_unbind(conn: ldap3.Connection) -> None:
    with contextlib.suppress(ldap_errors.LDAPException):
        conn.unbind()
