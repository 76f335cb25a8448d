"""Daemon stage: one log line per event; readable text, or JSON with --log-format json.

An event is a log record with `extra={"event": name, "fields": {...}}`. Text
puts the message first and the fields as key=value after it; JSON puts every
field in one object. Newlines are folded so one event is always one line.
Nothing secret is ever a field: messages come from our own errors, which
already leave secrets out (see reconciler.secrets and providers.http).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, TextIO

from reconciler.logfilter import install_url_redaction

LOG = logging.getLogger("reconciler.daemon")
QUIET_LIBRARIES = ("httpx", "httpcore", "msal", "urllib3")


def event(level: int, name: str, message: str, **fields: Any) -> None:
    LOG.log(level, message, extra={"event": name, "fields": fields})


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    value = getattr(record, "fields", None)
    return dict(value) if isinstance(value, dict) else {}


def _one_line(text: str) -> str:
    return " | ".join(part.strip() for part in text.splitlines() if part.strip())


def _timestamp(record: logging.LogRecord) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        parts = [_timestamp(record), f"{record.levelname:<7}", _one_line(record.getMessage())]
        for key, value in _fields(record).items():
            if value is None or value == "":
                continue
            text = str(value)
            parts.append(f"{key}={json.dumps(text) if (' ' in text or not text) else text}")
        if record.exc_info:
            parts.append("error=" + json.dumps(_one_line(self.formatException(record.exc_info))))
        return " ".join(parts)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": getattr(record, "event", "log"),
            "message": _one_line(record.getMessage()),
        }
        for key, value in _fields(record).items():
            if value is not None:
                out.setdefault(key, value)
        if record.exc_info:
            out["error"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, sort_keys=False)


def configure(fmt: str, level: int = logging.INFO, stream: TextIO | None = None) -> None:
    """One handler on the root logger in the chosen format, so library warnings are
    single lines (JSON) too; ours at `level`, HTTP libraries only from WARNING (their
    INFO lines carry full URLs, delta tokens included)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("reconciler").setLevel(level)
    for noisy in QUIET_LIBRARIES:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    install_url_redaction()  # should one of their lines get through anyway: no query strings
