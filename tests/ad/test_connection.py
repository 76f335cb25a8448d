"""TLS, bind and failure handling against the real DC (and a dead or silent one)."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from reconciler.errors import ProviderError, SecretError
from reconciler.providers.base import DirectoryScope
from tests.ad import seed
from tests.ad.conftest import AdSetup

SCOPE = DirectoryScope(ous=(seed.SALES_OU,))


def sams(ad: AdSetup, **config: object) -> set[str | None]:
    reader = ad.reader(ous=[seed.SALES_OU], **config)
    return {u.sam_account_name for u in reader.read(SCOPE).users}


def test_ldaps_with_the_ca_file_is_the_default(ad: AdSetup) -> None:
    ad.write(ous=[seed.SALES_OU])
    assert "tls" not in (ad.root / "config.yaml").read_text()
    assert sams(ad) == {"bob", "grace"}


def test_starttls_on_389(ad: AdSetup) -> None:
    assert sams(ad, tls="starttls") == {"bob", "grace"}


def test_certificate_from_an_unknown_ca_is_refused(ad: AdSetup) -> None:
    ad.write(ous=[seed.SALES_OU])
    (ad.root / "ca.pem").write_text("")  # no caFile content: only the system CAs are trusted
    reader = ad.reader(ous=[seed.SALES_OU], caFile=None)
    with pytest.raises(ProviderError) as err:
        reader.read(SCOPE)
    assert "CERTIFICATE_VERIFY_FAILED" in str(err.value)


def test_starttls_verifies_the_certificate_too(ad: AdSetup) -> None:
    reader = ad.reader(ous=[seed.SALES_OU], tls="starttls", caFile=None)
    with pytest.raises(ProviderError) as err:
        reader.read(SCOPE)
    assert "StartTLS" in str(err.value) and "CERTIFICATE_VERIFY_FAILED" in str(err.value)


def test_host_name_must_match_the_certificate(ad: AdSetup) -> None:
    # the DC's certificate names 127.0.0.1, localhost and dc1.example.test, not ::1
    with pytest.raises(ProviderError) as err:
        sams(ad, server="[::1]:636")
    assert "IP address mismatch" in str(err.value) or "doesn't match" in str(err.value)
    assert sams(ad, server="localhost") == {"bob", "grace"}


def test_skipping_verification_works_and_is_logged(ad: AdSetup, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert sams(ad, caFile=None, insecureSkipVerify=True) == {"bob", "grace"}
    assert "TLS certificate verification is OFF" in caplog.text


def test_plain_ldap_only_when_opted_out_and_loudly(ad: AdSetup, caplog: pytest.LogCaptureFixture) -> None:
    # TLS modes never fall back to plain: LDAPS against the plain port fails
    with pytest.raises(ProviderError):
        sams(ad, server="127.0.0.1:389")
    with caplog.at_level(logging.WARNING):
        assert sams(ad, tls="plain-insecure") == {"bob", "grace"}
    assert "NOT encrypted (tls: plain-insecure)" in caplog.text


def test_wrong_password_is_a_clear_error_without_the_password(
    ad: AdSetup, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "Wr0ng-Secret-Value-42"
    with caplog.at_level(logging.DEBUG), pytest.raises(ProviderError) as err:
        sams(ad, password=secret)
    message = str(err.value)
    assert message == (
        "acme (Active Directory 127.0.0.1): bind to 127.0.0.1:636 failed: "
        "invalidCredentials (invalid user name or password)"
    )
    assert secret not in message and secret not in caplog.text
    assert err.value.__cause__ is None and err.value.__context__ is None


def test_unknown_bind_user(ad: AdSetup) -> None:
    with pytest.raises(ProviderError) as err:
        sams(ad, user="nobody@example.test")
    assert "invalidCredentials" in str(err.value) and "nobody" not in str(err.value)


def test_missing_secret_names_the_reference(ad: AdSetup) -> None:
    ad.write(ous=[seed.SALES_OU])
    (ad.root / "secrets" / "ad-password").unlink()
    with pytest.raises(SecretError) as err:
        ad.reader()
    assert "secrets/ad-password does not exist" in str(err.value)


def test_password_from_an_environment_variable(ad: AdSetup, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_AD_PASSWORD", seed.USER_PASSWORD)
    assert sams(ad, bindPassword={"env": "TEST_AD_PASSWORD"}) == {"bob", "grace"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_dc_down_is_a_clear_error(ad: AdSetup) -> None:
    port = free_port()  # nothing listens there
    start = time.monotonic()
    with pytest.raises(ProviderError) as err:
        sams(ad, server=f"127.0.0.1:{port}")
    assert time.monotonic() - start < 5
    assert str(err.value).startswith(
        f"acme (Active Directory 127.0.0.1:{port}): cannot connect to 127.0.0.1:{port}"
    )
    assert str(err.value).endswith(f"cannot connect to 127.0.0.1:{port}: connection refused")


def test_a_short_password_does_not_garble_the_message(ad: AdSetup) -> None:
    """#17 item 7: masking "pen" everywhere made "o***ening"; whole values only."""
    port = free_port()
    with pytest.raises(ProviderError) as err:
        sams(ad, server=f"127.0.0.1:{port}", password="pen", user="ref")
    message = str(err.value)
    assert "***" not in message and message.endswith("connection refused")


def test_dns_failure_is_named(ad: AdSetup) -> None:
    with pytest.raises(ProviderError) as err:
        sams(ad, server="no-such-dc.invalid")
    assert str(err.value).endswith(
        "cannot connect to no-such-dc.invalid:636: host name does not resolve (DNS)"
    )


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Accepts TCP connections and never says a word (a hung DC)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


def test_a_dc_that_does_not_answer_times_out(ad: AdSetup, silent_server: int) -> None:
    start = time.monotonic()
    with pytest.raises(ProviderError) as err:
        sams(ad, server=f"127.0.0.1:{silent_server}", timeoutSeconds=1)
    elapsed = time.monotonic() - start
    assert elapsed < 8, elapsed
    assert "127.0.0.1" in str(err.value)


def test_a_base_dn_that_does_not_exist_is_a_clear_error(ad: AdSetup) -> None:
    missing = "OU=Gone,DC=example,DC=test"
    reader = ad.reader(groups=[seed.SALES_TEAM], baseDn=missing)
    with pytest.raises(ProviderError) as err:
        reader.read(DirectoryScope(groups=(seed.SALES_TEAM,)))
    assert str(err.value) == (
        f"acme (Active Directory 127.0.0.1): {missing!r} does not exist on the DC (check baseDn and the selection)"
    )
