"""SMTP mailer against a real aiosmtpd server on loopback: STARTTLS, implicit TLS, auth, failures."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.core.model import WelcomeEmail
from reconciler.errors import ProviderError
from reconciler.providers.smtp import MailNotSent, SmtpMailer, open_smtp
from reconciler.state.store import SqliteStore
from reconciler.testing.httpsim import TestCA
from reconciler.testing.smtp import Mode, SmtpSink
from tests.providers.conftest import context

USER, PASSWORD = "mailer@msp.example", "Pw-5up3r-s3cret!"
MAIL = WelcomeEmail(
    to="dana@acme.example",
    subject="Welcome, Dana Scully",
    body="Hello Dana,\n\nyour account is ready.\n.\nA line with only a dot, above.\n",
    marker="acme/end-user/entra:5f0c2b7e-0000-4000-8000-000000000001",
)


@pytest.fixture(autouse=True)
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP_USER", USER)
    monkeypatch.setenv("SMTP_PASSWORD", PASSWORD)


@pytest.fixture
def sink(test_ca: TestCA, request: pytest.FixtureRequest) -> Iterator[SmtpSink]:
    mode: Mode = getattr(request, "param", "starttls")
    with SmtpSink(test_ca, mode=mode, username=USER, password=PASSWORD) as s:
        yield s


def mailer(
    sink: SmtpSink,
    tmp_path: Path,
    store: SqliteStore,
    *,
    ca: TestCA | None,
    security: str = "starttls",
    **extra: Any,
) -> SmtpMailer:
    conn: dict[str, Any] = {
        "host": sink.host,
        "port": sink.port,
        "security": security,
        "username": {"env": "SMTP_USER"},
        "password": {"env": "SMTP_PASSWORD"},
        "sender": "Acme IT <it@msp.example>",
    }
    if ca is not None:
        conn["caFile"] = str(ca.ca_file)
    conn.update(extra)
    return open_smtp(context(tmp_path, store, {"smtp": conn}, {}))


def test_starttls_with_auth_delivers_one_message(
    sink: SmtpSink, test_ca: TestCA, tmp_path: Path, store: SqliteStore
) -> None:
    with mailer(sink, tmp_path, store, ca=test_ca) as m:
        m.send(MAIL)
    (got,) = sink.messages
    assert got.tls and got.authenticated
    assert (got.mail_from, got.rcpt_tos) == ("it@msp.example", ("dana@acme.example",))
    msg = got.message
    assert (msg["From"], msg["To"], msg["Subject"]) == ("Acme IT <it@msp.example>", MAIL.to, MAIL.subject)
    assert msg.get_content() == MAIL.body  # dot-stuffing undone, nothing lost
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["Message-ID"].endswith("@msp.example>")


@pytest.mark.parametrize("sink", ["tls"], indirect=True)
def test_implicit_tls_delivers(sink: SmtpSink, test_ca: TestCA, tmp_path: Path, store: SqliteStore) -> None:
    with mailer(sink, tmp_path, store, ca=test_ca, security="tls") as m:
        m.send(MAIL)
    (got,) = sink.messages
    assert got.tls and got.authenticated


def test_one_connection_for_several_messages_and_a_stable_message_id(
    sink: SmtpSink, test_ca: TestCA, tmp_path: Path, store: SqliteStore
) -> None:
    other = WelcomeEmail("fox@acme.example", "Welcome, Fox", "Hi", "acme/end-user/entra:other")
    with mailer(sink, tmp_path, store, ca=test_ca) as m:
        m.send(MAIL)
        m.send(other)
        m.send(MAIL)
    assert len({r.peer for r in sink.messages}) == 1
    ids = [r.message["Message-ID"] for r in sink.messages]
    assert ids[0] == ids[2] != ids[1]


def test_non_ascii_subject_and_body_survive(
    sink: SmtpSink, test_ca: TestCA, tmp_path: Path, store: SqliteStore
) -> None:
    mail = WelcomeEmail("zoe@acme.example", "Willkommen, Zoë Müller", "Grüße, Zoë — 你好\n", "acme/x:zoe")
    with mailer(sink, tmp_path, store, ca=test_ca) as m:
        m.send(mail)
    msg = sink.messages[0].message
    assert msg["Content-Transfer-Encoding"] in ("base64", "quoted-printable")  # 7-bit clean on the wire
    # MIME's canonical text form has CRLF line ends inside the encoding
    assert msg["Subject"] == mail.subject and msg.get_content().replace("\r\n", "\n") == mail.body


def test_untrusted_certificate_is_refused(sink: SmtpSink, tmp_path: Path, store: SqliteStore) -> None:
    with pytest.raises(MailNotSent, match=r"certificate .* not trusted"):
        mailer(sink, tmp_path, store, ca=None).send(MAIL)
    assert sink.messages == []


def test_wrong_password_is_refused_without_showing_it(
    sink: SmtpSink, test_ca: TestCA, tmp_path: Path, store: SqliteStore, monkeypatch: pytest.MonkeyPatch,
    all_output: Any,
) -> None:  # fmt: skip
    monkeypatch.setenv("SMTP_PASSWORD", "Wrong-pw-9876")
    with pytest.raises(MailNotSent) as err:
        mailer(sink, tmp_path, store, ca=test_ca).send(MAIL)
    assert str(err.value).startswith("acme: smtp: login refused: 535")
    assert sink.auth_failures == 1 and sink.messages == []
    assert "Wrong-pw-9876" not in all_output(err.value)


@pytest.mark.parametrize("sink", ["plain"], indirect=True)
def test_starttls_is_never_skipped(
    sink: SmtpSink, test_ca: TestCA, tmp_path: Path, store: SqliteStore
) -> None:
    with pytest.raises(MailNotSent, match="does not offer STARTTLS"):
        mailer(sink, tmp_path, store, ca=test_ca).send(MAIL)
    assert sink.messages == []


def test_credentials_are_never_sent_without_tls(
    sink: SmtpSink, test_ca: TestCA, tmp_path: Path, store: SqliteStore
) -> None:
    with pytest.raises(ProviderError, match="without TLS"):
        mailer(sink, tmp_path, store, ca=test_ca, security="none")


def test_refused_recipient_is_not_sent(
    sink: SmtpSink, test_ca: TestCA, tmp_path: Path, store: SqliteStore
) -> None:
    sink.reject_recipients.add(MAIL.to)
    m = mailer(sink, tmp_path, store, ca=test_ca)
    with pytest.raises(MailNotSent, match="recipient refused: 550"):
        m.send(MAIL)
    # the connection is still usable for the next message
    m.send(WelcomeEmail("ok@acme.example", "Hi", "Body", "acme/x:ok"))
    m.close()
    assert [r.rcpt_tos for r in sink.messages] == [("ok@acme.example",)]


def test_refused_data_is_not_sent(
    sink: SmtpSink, test_ca: TestCA, tmp_path: Path, store: SqliteStore
) -> None:
    sink.data_reply = "554 5.7.1 Message rejected as spam"
    with pytest.raises(MailNotSent, match="message refused: 554"):
        mailer(sink, tmp_path, store, ca=test_ca).send(MAIL)


def test_connection_cut_during_data_may_have_been_sent(
    sink: SmtpSink, test_ca: TestCA, tmp_path: Path, store: SqliteStore
) -> None:
    sink.drop_during_data = True
    with pytest.raises(ProviderError) as err:
        mailer(sink, tmp_path, store, ca=test_ca).send(MAIL)
    assert not isinstance(err.value, MailNotSent)  # must stay "pending": never resent by itself
    assert "may have been delivered" in str(err.value)
    assert len(sink.messages) == 1


def test_server_gone_is_not_sent(sink: SmtpSink, test_ca: TestCA, tmp_path: Path, store: SqliteStore) -> None:
    sink.stop()
    with pytest.raises(MailNotSent, match="cannot connect"):
        mailer(sink, tmp_path, store, ca=test_ca).send(MAIL)


def test_a_line_break_in_the_subject_is_folded_never_a_header_nor_a_failure_forever(
    sink: SmtpSink, test_ca: TestCA, tmp_path: Path, store: SqliteStore
) -> None:
    """#12: a CR/LF (from a display name, or in a plan saved before subjects were
    folded) made this customer's email fail on every run. It is sent, on one line,
    and injects no header; non-ASCII goes out as an RFC 2047 encoded word."""
    subject = "Willkommen, Zoë\r\nBcc: everyone@acme.example\u202e"
    with mailer(sink, tmp_path, store, ca=test_ca) as m:
        m.send(WelcomeEmail(MAIL.to, subject, "x\n", MAIL.marker))
    (got,) = sink.messages
    assert got.rcpt_tos == (MAIL.to,)
    assert got.message["Bcc"] is None
    assert got.message["Subject"] == "Willkommen, Zoë Bcc: everyone@acme.example"
    raw = dict(got.message.raw_items())["Subject"]
    assert raw.isascii() and "=?utf-8?" in raw.lower() and "\n" not in raw.replace("\n ", "")


def test_no_password_in_logs(
    sink: SmtpSink, test_ca: TestCA, tmp_path: Path, store: SqliteStore, caplog: pytest.LogCaptureFixture,
    all_output: Any,
) -> None:  # fmt: skip
    caplog.set_level(logging.WARNING, logger="mail.log")  # the test server's own log is not ours
    with mailer(sink, tmp_path, store, ca=test_ca) as m:
        m.send(MAIL)
    text = all_output()
    plain_blob = base64.b64encode(f"\0{USER}\0{PASSWORD}".encode()).decode()
    for secret in (PASSWORD, plain_blob, base64.b64encode(PASSWORD.encode()).decode()):
        assert secret not in text
    assert sink.messages


def test_missing_password_reference_is_a_config_problem(
    sink: SmtpSink, test_ca: TestCA, tmp_path: Path, store: SqliteStore
) -> None:
    with pytest.raises(ProviderError, match="both username and password"):
        mailer(sink, tmp_path, store, ca=test_ca, password=None)


def _no_secret_anywhere(err: BaseException, secret: str, text: str) -> None:
    message = str(err)
    assert secret not in text and secret not in message
    assert not any(ch in message for ch in secret if not ch.isascii())  # no character
    assert "position" not in message and "codec" not in message  # no position
    # nor kept on the exception: a UnicodeEncodeError's .object is the whole AUTH string
    assert err.__cause__ is None and err.__context__ is None


@pytest.mark.parametrize("which", ["password", "username"])
def test_non_ascii_credentials_are_refused_without_showing_them(
    test_ca: TestCA, tmp_path: Path, store: SqliteStore, monkeypatch: pytest.MonkeyPatch, all_output: Any,
    which: str,
) -> None:  # fmt: skip
    user, password = ("mäiler@msp.example", PASSWORD) if which == "username" else (USER, "pässwörd")
    monkeypatch.setenv("SMTP_USER", user)
    monkeypatch.setenv("SMTP_PASSWORD", password)
    with SmtpSink(test_ca, mode="starttls", username=user, password=password) as sink:
        with pytest.raises(MailNotSent) as err:
            mailer(sink, tmp_path, store, ca=test_ca).send(MAIL)
        assert str(err.value) == (
            f"acme: smtp: login not attempted: the SMTP {which} has non-ASCII characters, "
            "which SMTP AUTH here can only send as ASCII"
        )
        assert sink.auth_failures == 0 and sink.messages == []  # no failed login against a lockout
    _no_secret_anywhere(err.value, user if which == "username" else password, all_output(err.value))


def test_an_unexpected_error_during_login_is_not_sent_and_shows_no_secret(
    sink: SmtpSink, test_ca: TestCA, tmp_path: Path, store: SqliteStore, monkeypatch: pytest.MonkeyPatch,
    all_output: Any,
) -> None:  # fmt: skip
    secret = "pässwörd"

    def auth(self: Any, mechanism: str, authobject: Any, *, initial_response_ok: bool = True) -> Any:
        text = f"\0{USER}\0{secret}"
        raise UnicodeEncodeError("ascii", text, text.index("ä"), text.index("ä") + 1, "ordinal not in range")

    monkeypatch.setattr("smtplib.SMTP.auth", auth)
    with pytest.raises(MailNotSent) as err:
        mailer(sink, tmp_path, store, ca=test_ca).send(MAIL)
    assert (
        str(err.value)
        == f"acme: smtp: cannot connect to {sink.host}:{sink.port}: unexpected UnicodeEncodeError"
    )
    _no_secret_anywhere(err.value, secret, all_output(err.value))
    assert sink.messages == []


@pytest.mark.parametrize(("step", "sent_maybe"), [("mail", False), ("rcpt", False), ("data", True)])
def test_unexpected_errors_while_sending_are_provider_errors(
    sink: SmtpSink, test_ca: TestCA, tmp_path: Path, store: SqliteStore, monkeypatch: pytest.MonkeyPatch,
    step: str, sent_maybe: bool,
) -> None:  # fmt: skip
    def broken(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise UnicodeDecodeError("utf-8", b"\xff secret", 0, 1, "invalid start byte")

    m = mailer(sink, tmp_path, store, ca=test_ca)
    m.send(MAIL)  # connected and logged in
    with monkeypatch.context() as patch, pytest.raises(ProviderError) as err:
        patch.setattr(f"smtplib.SMTP.{step}", broken)
        m.send(MAIL)
    assert isinstance(err.value, MailNotSent) is not sent_maybe
    assert str(err.value).endswith(": UnicodeDecodeError") and "secret" not in str(err.value)
    assert err.value.__context__ is None
    m.send(MAIL)  # a new connection replaces the dropped one
    m.close()
    assert len(sink.messages) == 2
