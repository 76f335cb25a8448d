"""Test helpers: a real SMTP server (aiosmtpd) on loopback that keeps what it receives.

    sink = SmtpSink(ca, mode="starttls", username="mailer", password="pw").start()
    ...  # send through reconciler.providers.smtp
    sink.messages[0].message["Subject"]

Modes: "starttls" (STARTTLS required before MAIL and AUTH), "tls" (implicit
TLS), "plain" (no TLS, no AUTH). With a username, AUTH is offered only over TLS
(required with STARTTLS; with implicit TLS check `Received.authenticated`). Knobs for failure tests: `reject_recipients`, `data_reply` (a
refusal for DATA) and `drop_during_data` (the message is taken, the connection
is cut before the answer). With `outbox`, each message is also written there as
an .eml file (the sandbox uses that).
"""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from reconciler.testing.httpsim import TestCA

Mode = Literal["starttls", "tls", "plain"]


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage
    peer: str
    authenticated: bool
    tls: bool


@dataclass
class SmtpSink:
    ca: TestCA | None = None
    mode: Mode = "starttls"
    username: str | None = None
    password: str | None = None
    outbox: Path | None = None
    host: str = "127.0.0.1"
    reject_recipients: set[str] = field(default_factory=set)
    data_reply: str | None = None
    drop_during_data: bool = False
    messages: list[Received] = field(default_factory=list)
    auth_failures: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._controller: Controller | None = None
        self.port = 0

    # --- lifecycle -------------------------------------------------------------------
    def start(self) -> SmtpSink:
        if self.mode != "plain" and self.ca is None:
            raise ValueError("a TLS mode needs a TestCA")
        tls = self.ca.server_context() if self.ca is not None and self.mode != "plain" else None
        self.port = _free_port(self.host)
        kwargs: dict[str, Any] = {}
        if self.mode == "starttls":
            kwargs.update(tls_context=tls, require_starttls=True)
        if self.username is not None and self.mode == "starttls":
            kwargs.update(authenticator=self._authenticate, auth_required=True, auth_require_tls=True)
        elif self.username is not None and self.mode == "tls":
            # aiosmtpd 1.4 counts only STARTTLS as TLS for AUTH; the whole connection is TLS here.
            # Not "required" either (aiosmtpd warns about that combination): `authenticated` tells.
            kwargs.update(authenticator=self._authenticate, auth_require_tls=False)
        self._controller = Controller(
            self,
            hostname=self.host,
            port=self.port,
            ssl_context=tls if self.mode == "tls" else None,
            server_hostname="localhost",
            **kwargs,
        )
        self._controller.start()
        if self.outbox is not None:
            self.outbox.mkdir(parents=True, exist_ok=True)
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- aiosmtpd hooks --------------------------------------------------------------
    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == self.username
            and auth_data.password.decode() == self.password
        )
        if not ok:
            with self._lock:
                self.auth_failures += 1
        return AuthResult(success=ok, handled=False)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address in self.reject_recipients:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_reply is not None:
            return self.data_reply
        raw = envelope.original_content or envelope.content
        # as a mail client stores it: line ends as LF, not the wire's CRLF
        message = email.message_from_bytes(raw.replace(b"\r\n", b"\n"), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        received = Received(
            envelope.mail_from,
            tuple(envelope.rcpt_tos),
            message,
            str(session.peer),
            bool(session.authenticated),
            self.mode == "tls" or session.ssl is not None,
        )
        with self._lock:
            self.messages.append(received)
            count = len(self.messages)
        if self.outbox is not None:
            (self.outbox / f"{count:04d}.eml").write_bytes(raw)
        if self.drop_during_data:
            server.transport.close()
        return "250 2.0.0 Message accepted"


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port
