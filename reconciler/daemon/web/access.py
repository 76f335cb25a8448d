"""Daemon stage (HTTP): who may view and who may act, for the JSON API and the status page.

Viewing needs the daemon token (bearer) or a signed-in session, unless the
listener is on loopback. Acting from the page (import now, approve removals)
always needs a session and its CSRF token.

Sign-in: the daemon token is entered once and exchanged for a random session
id (32 bytes from `secrets`), sent back in an HttpOnly, SameSite=Strict cookie
(Secure with TLS), never the token itself. The state keeps the session under
the SHA-256 of its id (a copy of the state yields no usable cookie), with its
expiry (8 hours), its CSRF token and an HMAC of the daemon token keyed by the
session id: when the token changes, every session stops working. Sign-in is
refused over plain HTTP on an address beyond loopback (the token would cross
the network in clear). Browser POSTs also need an Origin (when sent) naming this
listener.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import Response

from reconciler.daemon.web.common import Daemon, bearer_matches, configured_token, daemon_of, json_response
from reconciler.errors import SecretError

log = logging.getLogger("reconciler.daemon.http")
COOKIE = "reconciler_session"
SESSION_SECONDS = 8 * 3600.0
KIND = "session"


@dataclass(frozen=True)
class Session:
    key: str  # sha256 of the session id
    csrf: str
    expires: float


def _key(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


def _fingerprint(sid: str, token: SecretStr) -> str:
    return hmac.new(sid.encode(), token.get_secret_value().encode(), hashlib.sha256).hexdigest()


def _token(daemon: Daemon) -> SecretStr | None:
    try:
        return configured_token(daemon)
    except SecretError as exc:
        log.error("%s", exc)
        return None


def session_of(request: Request) -> Session | None:
    """The request's valid session: known, not expired, made with the current token."""
    sid = request.cookies.get(COOKIE, "")
    if not sid or len(sid) > 100:
        return None
    daemon = daemon_of(request)
    record = daemon.scheduler.state.get_record(KIND, _key(sid))
    token = _token(daemon)
    if record is None or token is None:
        return None
    now = daemon.scheduler.clock.now()
    if float(record.get("expires", 0)) <= now or not hmac.compare_digest(
        str(record.get("token", "")), _fingerprint(sid, token)
    ):
        return None
    return Session(_key(sid), str(record["csrf"]), float(record["expires"]))


def may_view(request: Request) -> bool:
    daemon = daemon_of(request)
    if daemon.loopback:
        return True
    token = _token(daemon)
    if token is not None and bearer_matches(request, token):
        return True
    return session_of(request) is not None


def view_refusal(request: Request) -> Response | None:
    if may_view(request):
        return None
    return json_response(
        401, {"error": "the daemon token is required (bearer, or sign in)"}, {"WWW-Authenticate": "Bearer"}
    )


def signin_refusal(daemon: Daemon) -> str:
    """Why sign-in is not possible here, or "" when it is."""
    if not daemon.tls and not daemon.loopback:
        return "sign-in is refused over plain HTTP beyond loopback: set daemon.tls"
    if daemon.scheduler.settings.token is None:
        return "sign-in is off: set daemon.token in Settings"
    return ""


def sign_in(request: Request, given: str) -> tuple[str, Session] | None:
    """A new session for the right token (its id for the cookie), else None."""
    daemon = daemon_of(request)
    token = _token(daemon)
    if token is None or not hmac.compare_digest(given.encode(), token.get_secret_value().encode()):
        return None
    sid = secrets.token_urlsafe(32)
    now = daemon.scheduler.clock.now()
    session = Session(_key(sid), secrets.token_urlsafe(32), now + SESSION_SECONDS)
    state = daemon.scheduler.state
    for key, old in state.records(KIND).items():  # forget expired sessions
        if float(old.get("expires", 0)) <= now:
            state.put_record(KIND, key, None)
    record: dict[str, Any] = {
        "csrf": session.csrf,
        "expires": session.expires,
        "token": _fingerprint(sid, token),
    }
    state.put_record(KIND, session.key, record)
    return sid, session


def sign_out(request: Request) -> None:
    session = session_of(request)
    if session is not None:
        daemon_of(request).scheduler.state.put_record(KIND, session.key, None)


def set_cookie(response: Response, daemon: Daemon, sid: str) -> None:
    response.set_cookie(
        COOKIE,
        sid,
        max_age=int(SESSION_SECONDS),
        path="/",
        httponly=True,
        samesite="strict",
        secure=daemon.tls,
    )


def same_origin(request: Request) -> bool:
    """A browser's Origin (when it sends one) must be this listener."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    host = request.headers.get("host", "")
    return origin in (f"http://{host}", f"https://{host}")


def csrf_ok(request: Request, session: Session, form: dict[str, str]) -> bool:
    return same_origin(request) and hmac.compare_digest(form.get("csrf", "").encode(), session.csrf.encode())
