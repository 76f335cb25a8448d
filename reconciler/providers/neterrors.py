"""Live stage: network failures told apart, for messages that say what to fix.

"ConnectError" after a silent wait tells an operator nothing. `classify` walks an
exception's cause chain (httpx -> httpcore -> OSError/ssl) and names the kind of
failure; messages then read "api.itglue.com:443: connection refused". Only
exception types and errno values are read, never exception text (which could
quote a request). `probe` asks the network itself, for clients (ldap3) whose
exceptions lose their cause.

    refused   nothing listens on the port (or a firewall rejects)
    dns       the host name does not resolve
    tls       the TLS handshake failed (certificate, protocol)
    timeout   no answer in time (connect or read)
    reset     the connection was dropped
"""

from __future__ import annotations

import errno
import socket
import ssl
from enum import StrEnum

import httpx


class NetFailure(StrEnum):
    REFUSED = "connection refused"
    DNS = "host name does not resolve (DNS)"
    TLS = "TLS handshake failed"
    TIMEOUT = "timed out"
    RESET = "connection reset"
    UNREACHABLE = "network unreachable"
    OTHER = "network error"


_ERRNO = {
    errno.ECONNREFUSED: NetFailure.REFUSED,
    errno.ECONNRESET: NetFailure.RESET,
    errno.EPIPE: NetFailure.RESET,
    errno.ETIMEDOUT: NetFailure.TIMEOUT,
    errno.ENETUNREACH: NetFailure.UNREACHABLE,
    errno.EHOSTUNREACH: NetFailure.UNREACHABLE,
}


def classify(exc: BaseException) -> NetFailure:
    """The kind of network failure behind `exc` (OTHER when it cannot tell)."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    found = NetFailure.OTHER
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        kind = _one(cause)
        if kind is not None and kind is not NetFailure.OTHER:
            return kind
        if kind is not None:
            found = kind
        cause = cause.__cause__ or cause.__context__
    return found


def _one(exc: BaseException) -> NetFailure | None:
    if isinstance(exc, socket.gaierror):
        return NetFailure.DNS
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return NetFailure.TLS
    if isinstance(exc, httpx.TimeoutException | TimeoutError | socket.timeout):
        return NetFailure.TIMEOUT
    if isinstance(exc, ConnectionRefusedError):
        return NetFailure.REFUSED
    if isinstance(exc, ConnectionResetError | BrokenPipeError | httpx.RemoteProtocolError):
        return NetFailure.RESET
    if isinstance(exc, OSError) and exc.errno in _ERRNO:
        return _ERRNO[exc.errno]
    if isinstance(exc, httpx.TransportError):
        return NetFailure.OTHER
    return None


def describe_failure(exc: BaseException) -> str:
    """The failure's kind for a message; the exception's type when it cannot tell."""
    kind = classify(exc)
    return f"{kind} ({type(exc).__name__})" if kind is NetFailure.OTHER else str(kind)


def probe(host: str, port: int, timeout: float) -> NetFailure | None:
    """Resolve and connect to host:port; the failure, or None when TCP connects."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return NetFailure.DNS
    except OSError as exc:
        return classify(exc)
    last: NetFailure | None = NetFailure.OTHER
    for family, kind, proto, _name, address in infos:
        try:
            with socket.socket(family, kind, proto) as sock:
                sock.settimeout(timeout)
                sock.connect(address)
            return None
        except OSError as exc:
            last = classify(exc)
    return last


def tls_probe(host: str, port: int, timeout: float, context: ssl.SSLContext) -> str | None:
    """A TLS handshake with host:port as `context` makes it; why it failed, or None.
    The reason is the ssl module's code and verify message, never peer data."""
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=host),
        ):
            return None
    except ssl.SSLCertVerificationError as exc:
        return f"{exc.reason}: {exc.verify_message}"
    except ssl.SSLError as exc:
        return str(exc.reason or "handshake failed")
    except OSError as exc:
        return str(classify(exc))


def where(host: str, port: int | None) -> str:
    """`host:port` for a message (IPv6 literals bracketed)."""
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{port}" if port else shown
