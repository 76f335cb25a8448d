"""One line per event: text for a terminal, JSON with --log-format json."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from reconciler.daemon.logs import JsonFormatter, TextFormatter, configure, event


@pytest.fixture
def restore_logging() -> Iterator[None]:
    loggers = [logging.getLogger(n) for n in ("", "reconciler", "httpx", "httpcore", "msal", "urllib3")]
    saved = [(list(lg.handlers), lg.level) for lg in loggers]
    yield
    for lg, (handlers, level) in zip(loggers, saved, strict=True):
        lg.handlers[:] = handlers
        lg.setLevel(level)


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_each_event_is_one_line(fmt: str, restore_logging: None) -> None:
    out = io.StringIO()
    configure(fmt, stream=out)
    event(logging.ERROR, "config.invalid", "2 problem(s):\nfirst\nsecond", customer="contoso", skipped=None)
    try:
        raise ValueError("boom\nline two")
    except ValueError:
        logging.getLogger("reconciler.daemon").exception("northwind: unexpected error")
    logging.getLogger("httpx").info("HTTP Request: GET https://graph.example/v1.0/users/delta?$deltatoken=x")
    logging.getLogger("some.library").warning("careful:\nsecond line")
    lines = out.getvalue().splitlines()
    assert len(lines) == 3 and "deltatoken" not in out.getvalue()
    if fmt == "json":
        first = json.loads(lines[0])
        assert first["event"] == "config.invalid" and first["customer"] == "contoso"
        assert first["message"] == "2 problem(s): | first | second" and "skipped" not in first
        assert "ValueError: boom" in json.loads(lines[1])["error"]
    else:
        assert lines[0].endswith("ERROR   2 problem(s): | first | second customer=contoso")
        assert "northwind: unexpected error" in lines[1] and 'error="Traceback' in lines[1]


def test_text_quotes_values_with_spaces() -> None:
    record = logging.LogRecord("reconciler.daemon", logging.INFO, __file__, 1, "m", None, None)
    record.fields = {"by": "http 127.0.0.1", "n": 3}
    assert TextFormatter().format(record).endswith('INFO    m by="http 127.0.0.1" n=3')
    assert json.loads(JsonFormatter().format(record))["by"] == "http 127.0.0.1"
