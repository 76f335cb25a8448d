"""Live stage: the welcome email's way out (R16), over SMTP.

The engine renders the message and keeps the send-once bookkeeping: it records
the intent in state before calling `send` and marks it sent afterwards, and it
never sends a "pending" one again by itself (at most once). This module only
hands one message to the MSP's mail server:

- STARTTLS (`security: starttls`, never a silent fall back to clear text) or
  implicit TLS (`security: tls`); certificates verified against the system CAs
  plus `caFile`; `insecureSkipVerify` turns that off, loudly. `security: none`
  is for a relay on loopback and refuses to send credentials.
- Login from secret references; smtplib's debug output (which would show the
  AUTH exchange) is never turned on, and no error message carries a secret.
- `MailNotSent` (a `ProviderError`) when the server certainly did not take the
  message (connect, TLS, login, a refused sender or recipient, a refused DATA,
  and any unexpected error before DATA, e.g. a non-ASCII password smtplib cannot
  encode; messages name the exception's type, never its text):
  the engine may clear its pending record and try on a later run. Any other
  `ProviderError` means the message may have been accepted (the connection broke
  during DATA): it must stay pending.

One connection is opened on the first send and reused (checked with NOOP) for
the next ones; `close()` ends it.
"""

from __future__ import annotations

import contextlib
import email.policy
import email.utils
import hashlib
import logging
import smtplib
import ssl
from email.message import EmailMessage
from pathlib import Path

from pydantic import SecretStr

from reconciler.config.models import SmtpConnection
from reconciler.config.secretpaths import SecretRoots
from reconciler.config.values import one_line
from reconciler.core.model import WelcomeEmail
from reconciler.errors import NotDelivered, ProviderError
from reconciler.providers.base import ProviderContext
from reconciler.secrets import resolve

log = logging.getLogger("reconciler.smtp")

TIMEOUT_SECONDS = 30.0
MAX_REPLY_CHARS = 200
# Non-ASCII text is quoted-printable or base64, so no 8BITMIME server support is needed.
POLICY = email.policy.SMTP.clone(cte_type="7bit")


class MailNotSent(NotDelivered):
    """The server certainly did not accept the message; sending later is safe."""


class SmtpMailer:
    """Mailer for one customer's welcome emails."""

    def __init__(
        self,
        conn: SmtpConnection,
        where: str,
        *,
        username: str | None = None,
        password: SecretStr | None = None,
        tls: ssl.SSLContext | None = None,
        timeout: float = TIMEOUT_SECONDS,
    ) -> None:
        if conn.security == "none" and username:
            raise ProviderError(where, "refusing to send SMTP credentials without TLS (security: none)")
        self.conn = conn
        self.where = where
        self._username = username
        self._password = password
        self._tls = tls or ssl.create_default_context()
        self._timeout = timeout
        self._smtp: smtplib.SMTP | None = None
        self._sender = email.utils.parseaddr(conn.sender)[1]
        if "@" not in self._sender:
            raise ProviderError(where, "connections.smtp.sender must be an email address")

    # --- Mailer ----------------------------------------------------------------------
    def send(self, mail: WelcomeEmail) -> None:
        message = self._message(mail)
        try:
            payload = message.as_bytes(policy=POLICY)
        except Exception as exc:  # nothing was sent yet
            raise MailNotSent(self.where, f"cannot encode the message: {type(exc).__name__}") from None
        smtp = self._connection()
        options = ["SMTPUTF8"] if not (mail.to + self._sender).isascii() else []
        if options and not smtp.has_extn("smtputf8"):
            raise MailNotSent(self.where, "the recipient address is not ASCII and the server lacks SMTPUTF8")
        failure = ""
        try:
            code, reply = smtp.mail(self._sender, options)
            if code != 250:
                self._reset(smtp)
                raise MailNotSent(self.where, f"sender refused: {code} {_reply(reply)}")
            code, reply = smtp.rcpt(mail.to)
            if code not in (250, 251):
                self._reset(smtp)
                raise MailNotSent(self.where, f"recipient refused: {code} {_reply(reply)}")
        except MailNotSent:
            raise
        except Exception as exc:  # before DATA: the server cannot have taken the message
            failure = f"connection failed before the message was sent: {_name(exc)}"
        if failure:
            self._drop()
            raise MailNotSent(self.where, failure)
        refused: MailNotSent | None = None
        try:
            code, reply = smtp.data(payload)
        except smtplib.SMTPDataError as exc:
            refused = MailNotSent(self.where, f"message refused: {exc.smtp_code} {_reply(exc.smtp_error)}")
        except Exception as exc:  # during DATA: the message may have been accepted
            failure = f"connection failed while sending; the message may have been delivered: {_name(exc)}"
        if refused is not None:
            self._reset(smtp)
            raise refused
        if failure:
            self._drop()
            raise ProviderError(self.where, failure)
        if code != 250:
            self._reset(smtp)
            raise MailNotSent(self.where, f"message refused: {code} {_reply(reply)}")
        log.debug("%s: welcome email accepted by %s", self.where, self.conn.host)

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()

    def __enter__(self) -> SmtpMailer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- internals -------------------------------------------------------------------
    def _message(self, mail: WelcomeEmail) -> EmailMessage:
        msg = EmailMessage(policy=POLICY)
        try:
            msg["From"] = self.conn.sender
            msg["To"] = mail.to
            # A line break from a directory display name must not make this email fail on every
            # run: the subject is folded to one line. Non-ASCII is RFC 2047-encoded by the policy.
            msg["Subject"] = one_line(mail.subject)
        except ValueError:
            raise MailNotSent(self.where, "an address contains a line break") from None
        msg["Date"] = email.utils.formatdate(usegmt=True)
        # One stable id per account: a copy sent by hand later is recognisable as the same message.
        digest = hashlib.sha256(mail.marker.encode()).hexdigest()[:32]
        msg["Message-ID"] = f"<welcome.{digest}@{self._sender.rsplit('@', 1)[1]}>"
        msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to this
        msg.set_content(mail.body)
        return msg

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is not None:
            try:
                if self._smtp.noop()[0] == 250:
                    return self._smtp
            except Exception:  # noqa: S110 - a dead connection is replaced below
                pass
            self._drop()
        self._smtp = self._connect()
        return self._smtp

    def _connect(self) -> smtplib.SMTP:
        host, port = self.conn.host, self.conn.port
        smtp: smtplib.SMTP | None = None
        # Every failure becomes MailNotSent raised *after* the except block, so the
        # original exception (a UnicodeEncodeError holds the whole AUTH string,
        # password included) is not even kept as the new one's __context__.
        failure = ""
        try:
            if self.conn.security == "tls":
                smtp = smtplib.SMTP_SSL(host, port, timeout=self._timeout, context=self._tls)
            else:
                smtp = smtplib.SMTP(host, port, timeout=self._timeout)
            smtp.ehlo()
            if self.conn.security == "starttls":
                if not smtp.has_extn("starttls"):
                    raise MailNotSent(
                        self.where, f"{host}:{port} does not offer STARTTLS; refusing to send in clear"
                    )
                smtp.starttls(context=self._tls)
                smtp.ehlo()
            if self._username:
                self._login(smtp, self._username)
            return smtp
        except MailNotSent:
            _close(smtp)
            raise
        except smtplib.SMTPAuthenticationError as exc:
            failure = f"login refused: {exc.smtp_code} {_reply(exc.smtp_error)}"
        except ssl.SSLCertVerificationError as exc:
            failure = f"TLS certificate of {host} is not trusted ({exc.verify_message}); see caFile"
        except (smtplib.SMTPException, OSError) as exc:
            failure = f"cannot connect to {host}:{port}: {_name(exc)}"
        except Exception as exc:  # e.g. UnicodeError: only its type, its text can quote a secret
            failure = f"cannot connect to {host}:{port}: unexpected {type(exc).__name__}"
        _close(smtp)
        raise MailNotSent(self.where, failure)

    def _login(self, smtp: smtplib.SMTP, username: str) -> None:
        """One AUTH attempt (smtplib's login() tries every mechanism in turn, which
        doubles failed logins against a lockout policy)."""
        offered = smtp.esmtp_features.get("auth", "").upper().split()
        mechanism = next((m for m in ("PLAIN", "LOGIN") if m in offered), None)
        if mechanism is None:
            raise MailNotSent(self.where, f"{self.conn.host} offers no AUTH PLAIN or LOGIN")
        password = self._password.get_secret_value() if self._password else ""
        # smtplib encodes AUTH as ASCII and its UnicodeEncodeError would quote the
        # offending character and its position: refuse first, naming neither.
        for what, value in (("username", username), ("password", password)):
            if not value.isascii():
                raise MailNotSent(
                    self.where,
                    f"login not attempted: the SMTP {what} has non-ASCII characters, "
                    "which SMTP AUTH here can only send as ASCII",
                )
        smtp.user = username
        smtp.password = password
        try:
            smtp.auth(mechanism, smtp.auth_plain if mechanism == "PLAIN" else smtp.auth_login)
        finally:
            smtp.password = ""  # do not keep the secret on the connection object

    def _reset(self, smtp: smtplib.SMTP) -> None:
        try:
            smtp.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()

    def _drop(self) -> None:
        smtp, self._smtp = self._smtp, None
        _close(smtp)


def smtp_tls_context(conn: SmtpConnection, base_dir: Path, where: str) -> ssl.SSLContext:
    """Verified by default (system CAs plus `caFile`); unverified only when asked, loudly."""
    ctx = ssl.create_default_context()
    if conn.ca_file:
        try:
            ctx.load_verify_locations(cafile=str(base_dir / conn.ca_file))
        except (OSError, ssl.SSLError) as exc:
            raise ProviderError(where, f"cannot load CA file {conn.ca_file}: {type(exc).__name__}") from None
    if conn.insecure_skip_verify:
        log.warning(
            "%s: TLS certificate verification is OFF (insecureSkipVerify); mail can be intercepted", where
        )
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def open_smtp(ctx: ProviderContext) -> SmtpMailer:
    where = f"{ctx.name}: smtp"
    conn = ctx.settings.connections.smtp
    if conn is None:
        raise ProviderError(where, "welcome emails need Settings connections.smtp")
    return open_mailer(conn, ctx.config_root, where, ctx.settings.secret_dirs)


def open_mailer(
    conn: SmtpConnection, config_root: Path, where: str, secret_dirs: tuple[str, ...] = ()
) -> SmtpMailer:
    """A mailer on Settings connections.smtp (welcome emails; the daemon's email digests)."""
    if (conn.username is None) != (conn.password is None):
        raise ProviderError(where, "connections.smtp needs both username and password, or neither")
    roots = SecretRoots.of(config_root, secret_dirs)
    username = resolve(conn.username, roots, where).get_secret_value() if conn.username else None
    password = resolve(conn.password, roots, where) if conn.password else None
    if conn.security == "none":
        log.warning("%s: SMTP without TLS (security: none); use it only for a relay on this machine", where)
    return SmtpMailer(
        conn, where, username=username, password=password, tls=smtp_tls_context(conn, config_root, where)
    )


def _reply(raw: bytes | str) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    text = " ".join(text.split())
    return text[:MAX_REPLY_CHARS] + ("..." if len(text) > MAX_REPLY_CHARS else "")


def _name(exc: BaseException) -> str:
    """A failure for a message: the server's reply, or only the exception's type (its
    text can quote what was being sent, e.g. a UnicodeEncodeError)."""
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {_reply(exc.smtp_error)}"
    return type(exc).__name__


def _close(smtp: smtplib.SMTP | None) -> None:
    if smtp is not None:
        with contextlib.suppress(OSError):
            smtp.close()
