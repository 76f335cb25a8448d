"""URL query strings never reach the log through httpx or httpcore (reconciler.logfilter)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import httpx
import pytest

from reconciler.daemon.logs import configure
from reconciler.logfilter import UrlQueryRedactor, install_url_redaction, redact_url_queries

SECRET = "api-user-4711@msp.example"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    names = (
        "",
        "reconciler",
        "httpx",
        "httpcore",
        "httpcore.http11",
        "httpcore.brand-new",
        "msal",
        "urllib3",
    )
    loggers = [logging.getLogger(n) for n in names]
    saved = [(list(lg.handlers), list(lg.filters), lg.level) for lg in loggers]
    yield
    for lg, (handlers, filters, level) in zip(loggers, saved, strict=True):
        lg.handlers[:], lg.filters[:] = handlers, filters
        lg.setLevel(level)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("GET https://ws.autotask.net/atservicesrest/v1.0/zoneInformation?user=a%40b.c x",
         "GET https://ws.autotask.net/atservicesrest/v1.0/zoneInformation x"),
        ('"https://graph.microsoft.com/v1.0/users/delta?$deltatoken=abc&$select=id" 200',
         '"https://graph.microsoft.com/v1.0/users/delta" 200'),
        ("(b'Location', b'https://blob.example/a.zip?sig=S3CR3T&se=1')",
         "(b'Location', b'https://blob.example/a.zip')"),
        ("https://[::1]:8443/v1.0/users?$skiptoken=t and http://h/p#frag", "https://[::1]:8443/v1.0/users and http://h/p"),
        ("no url? here=1 https://plain.example/path", "no url? here=1 https://plain.example/path"),
    ],
)  # fmt: skip
def test_queries_and_fragments_are_cut(text: str, expected: str) -> None:
    assert redact_url_queries(text) == expected


def test_httpx_request_lines_lose_their_query(
    restore_logging: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="httpx")  # the CLI and daemon tests leave it at WARNING
    install_url_redaction()
    with httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200, json={}))) as http:
        http.get(
            "https://webservices.autotask.net/ATServicesRest/V1.0/zoneInformation", params={"user": SECRET}
        )
    (line,) = [r for r in caplog.records if r.name == "httpx"]
    assert line.getMessage() == (
        'HTTP Request: GET https://webservices.autotask.net/ATServicesRest/V1.0/zoneInformation "HTTP/1.1 200 OK"'
    )
    assert "api-user-4711" not in caplog.text and "user=" not in caplog.text


def test_httpcore_sub_loggers_known_or_not_are_redacted(restore_logging: None) -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        install_url_redaction()
        install_url_redaction()  # idempotent
        assert sum(isinstance(f, UrlQueryRedactor) for f in logging.getLogger("httpx").filters) == 1
        for name in ("httpcore.http11", "httpcore.brand-new"):  # the second only through root's handlers
            logger = logging.getLogger(name)
            logger.setLevel(logging.DEBUG)
            logger.debug(
                "receive_response_headers.complete return_value=%r",
                (b"HTTP/1.1", 302, b"Found", [(b"Location", b"https://blob.example/x.zip?sig=S3CR3T")]),
            )
        logging.getLogger("reconciler.something").warning("ours stay as written: https://x.example/?q=1")
    finally:
        root.removeHandler(handler)
    text = out.getvalue()
    assert text.count("b'https://blob.example/x.zip'") == 2 and "S3CR3T" not in text
    assert "https://x.example/?q=1" in text


def test_the_daemon_log_setup_installs_it(restore_logging: None) -> None:
    out = io.StringIO()
    configure("json", stream=out)
    logging.getLogger("httpx").warning(
        "HTTP Request: GET %s", httpx.URL("https://graph.example/v1.0/users?$skiptoken=T0K")
    )
    assert "T0K" not in out.getvalue() and "https://graph.example/v1.0/users" in out.getvalue()
