"""Logging: URLs in the HTTP libraries' log lines lose their query strings.

httpx logs every request at INFO ("HTTP Request: GET https://...?...") and
httpcore logs headers at DEBUG; at `-vv` those lines would show Autotask's
`zoneInformation?user=<API user>`, Graph's `$skiptoken`/`$deltatoken`, signed
download URLs in a `Location` header. `install_url_redaction()` puts
`UrlQueryRedactor` on the `httpx` and `httpcore` loggers (and httpcore's
sub-loggers, whose records do not pass their parent's filters), and on the root
logger's handlers for any sub-logger not known here. Call it after the handlers
are set up (the CLI entry point, the daemon's log setup); calling it again is
harmless.
"""

from __future__ import annotations

import logging
import re

LOGGERS = ("httpx", "httpcore")
# httpcore logs on sub-loggers (httpcore/_sync/*.py); a logger's filters apply only
# to records created on it, so each needs the filter too
_KNOWN_CHILDREN = (
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)
# scheme://authority/path, then the query and/or fragment, up to a space, quote or angle bracket
_URL_QUERY = re.compile(r"""(?i)\b([a-z][a-z0-9+.-]*://[^\s?#'"<>]*)[?#][^\s'"<>]*""")


def redact_url_queries(text: str) -> str:
    """`text` with the query string (and fragment) of every URL in it removed."""
    return _URL_QUERY.sub(r"\1", text)


class UrlQueryRedactor(logging.Filter):
    """Rewrites records of the HTTP libraries so their message carries no URL query."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not _is_http_library(record.name):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format: keep only the format string, args dropped
            message = str(record.msg)
        redacted = redact_url_queries(message)
        if redacted != message or record.args:
            record.msg, record.args = redacted, None
        return True


def _is_http_library(name: str) -> bool:
    return any(name == lib or name.startswith(lib + ".") for lib in LOGGERS)


_REDACTOR = UrlQueryRedactor()


def install_url_redaction() -> None:
    """Strip URL query strings from what httpx and httpcore log; idempotent."""
    names = set(LOGGERS) | set(_KNOWN_CHILDREN)
    names |= {name for name in logging.root.manager.loggerDict if _is_http_library(name)}
    targets: list[logging.Filterer] = [logging.getLogger(name) for name in sorted(names)]
    targets += logging.getLogger().handlers
    for target in targets:
        if not any(isinstance(f, UrlQueryRedactor) for f in target.filters):
            target.addFilter(_REDACTOR)
