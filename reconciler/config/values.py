"""Config stage: what a config value must be before it reaches a URL, a header,
an LDAP or OData filter, a file path or an email.

Each type checks one thing and says so in words ("must be the tenant's GUID"),
never with the raw regular expression; the published JSON Schema still carries
the pattern so editors flag the value as you type.

- `Text`: printable one-line text: no control characters (CR, LF, TAB, NUL...),
  no Unicode bidi controls or other invisible format characters (a label that
  reads `acme` but sorts or compares as something else), bounded length.
- `TenantId`, `ClientId`: an Entra tenant or application id (a GUID), e.g. 6f1c6a0e-0c3b-4a43-9d1e-3f1b1c1d2e3f.
- `HostName`, `HostPort`: a DNS name or IP address (with an optional port).
- `RecordId`: an integration's positive numeric record id, kept as text.
- `FilePath`: a relative or absolute path as one line of text.
- `EmailAddress`: one address, optionally with a display name.
"""

from __future__ import annotations

import email.utils
import ipaddress
import re
import unicodedata
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema

# Integers a config needs are small; anything longer is a typo or an attack.
MAX_ID = 2**63 - 1
MAX_TEXT = 256

# Format (Cf) characters include the bidi overrides and isolates (U+202A-U+202E,
# U+2066-U+2069), zero-width joiners and the BOM: invisible, so refused.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def bad_character(text: str) -> str | None:
    """A description of the first character `Text` refuses, or None."""
    for ch in text:
        category = unicodedata.category(ch)
        if category in _REFUSED_CATEGORIES:
            name = unicodedata.name(ch, "")
            what = {"\n": "a line break", "\r": "a carriage return", "\t": "a tab", "\0": "a NUL"}.get(ch)
            if what is None:
                kind = "bidi or invisible formatting" if category == "Cf" else "control"
                what = f"the {kind} character U+{ord(ch):04X}" + (f" {name}" if name else "")
            return what
    return None


def _text(value: Any, limit: int = MAX_TEXT) -> Any:
    if not isinstance(value, str):
        return value
    what = bad_character(value)
    if what is not None:
        raise ValueError(f"contains {what}; only printable one-line text is allowed")
    if len(value) > limit:
        raise ValueError(f"is {len(value)} characters long, over the limit of {limit}")
    return value


def one_line(text: str) -> str:
    """`text` with every refused character replaced by a space, runs of spaces
    collapsed: for values from a directory (display names) that go into a header."""
    out = "".join(" " if unicodedata.category(ch) in _REFUSED_CATEGORIES else ch for ch in text)
    return " ".join(out.split())


# The schema's approximation of `bad_character` for editors: C0/C1 controls, the
# bidi controls and the common invisible characters.
TEXT_PATTERN = "^[^\\x00-\\x1f\\x7f-\\x9f\\u200b-\\u200f\\u2028-\\u202e\\u2060-\\u2069\\ufeff]*$"

Text = Annotated[
    str, AfterValidator(_text), Field(json_schema_extra={"maxLength": MAX_TEXT, "pattern": TEXT_PATTERN})
]
LongText = Annotated[
    str,
    AfterValidator(lambda v: _text(v, 2048)),
    Field(json_schema_extra={"maxLength": 2048, "pattern": TEXT_PATTERN}),
]

GUID_PATTERN = r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$"


def _tenant_id(value: str) -> str:
    if not re.fullmatch(GUID_PATTERN, value):
        raise ValueError(
            "must be the tenant's Directory ID, a GUID like 6f1c6a0e-0c3b-4a43-9d1e-3f1b1c1d2e3f "
            "(Entra admin center > Overview); a domain name is not accepted: one tenant would then "
            "have two names"
        )
    return value


def _client_id(value: str) -> str:
    if not re.fullmatch(GUID_PATTERN, value):
        raise ValueError(
            "must be the application (client) id, a GUID like 6f1c6a0e-0c3b-4a43-9d1e-3f1b1c1d2e3f"
        )
    return value


TenantId = Annotated[str, AfterValidator(_tenant_id), Field(json_schema_extra={"pattern": GUID_PATTERN})]
ClientId = Annotated[str, AfterValidator(_client_id), Field(json_schema_extra={"pattern": GUID_PATTERN})]

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOST_PATTERN = rf"^{_LABEL}(?:\.{_LABEL})*\.?$"


def _host(value: str) -> str:
    try:
        ipaddress.ip_address(value)
        return value
    except ValueError:
        pass
    if len(value) > 253 or not re.fullmatch(HOST_PATTERN, value):
        raise ValueError(
            "must be a host name (DNS labels of letters, digits and '-', separated by dots) or an IP address"
        )
    return value


def _host_port(value: str) -> str:
    """host, host:port, [v6]:port or a bare IPv6 address (optionally with ldap(s)://)."""
    text = value
    for scheme in ("ldaps://", "ldap://"):
        if text.lower().startswith(scheme):
            text = text[len(scheme) :]
    if "/" in text or "@" in text or "?" in text:
        raise ValueError("must be a host name or host:port, without a scheme (https://), a path or user info")
    port = ""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest and not rest.startswith(":"):
            raise ValueError("must be host, host:port or [IPv6]:port")
        port = rest[1:]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError("must be host, host:port or [IPv6]:port") from None
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
        _host(host)
    else:
        _host(text)
    if port and not (port.isdigit() and len(port) <= 5 and 1 <= int(port) <= 65535):
        raise ValueError("has an invalid port (1-65535)")
    return value


_IP = r"[0-9A-Fa-f:.]+"
_PORT = r"([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
_NAME = HOST_PATTERN[1:-1]
HostName = Annotated[
    str,
    AfterValidator(_host),
    Field(json_schema_extra={"maxLength": 253, "pattern": f"^({_NAME}|{_IP})$"}),
]
HostPort = Annotated[
    str,
    AfterValidator(_host_port),
    Field(
        json_schema_extra={
            "maxLength": 270,
            "pattern": f"^([Ll][Dd][Aa][Pp][Ss]?://)?({_NAME}(:{_PORT})?|\\[{_IP}\\](:{_PORT})?|{_IP})$",
        }
    ),
]


def _record_id(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        value = str(value)
    if isinstance(value, str):
        text = value.strip()
        if not (text.isascii() and text.isdigit() and len(text) <= 19 and 0 < int(text) <= MAX_ID):
            raise ValueError("must be the record's positive numeric id, e.g. 4211")
        return str(int(text))
    return value


# A record id of an integration: a positive number. YAML writers write `4211`
# unquoted or quoted; both are accepted (the schema says so) and kept as text.
RecordId = Annotated[
    str,
    BeforeValidator(_record_id),
    Field(json_schema_extra={"type": ["string", "integer"], "pattern": "^[1-9][0-9]{0,18}$", "minimum": 1}),
]

FilePath = Annotated[
    str,
    Field(min_length=1),
    AfterValidator(lambda v: _text(v, 1024)),
    Field(json_schema_extra={"maxLength": 1024, "pattern": TEXT_PATTERN}),
]


def _email(value: str) -> str:
    problem = 'must be one email address, e.g. "Acme IT <it@acme.example>" or it@acme.example'
    found = email.utils.getaddresses([value])
    if len(found) != 1:
        raise ValueError(problem)
    local, _, domain = found[0][1].rpartition("@")
    if not local or not domain or any(ch.isspace() or ch in "<>,;" for ch in found[0][1]):
        raise ValueError(problem)
    try:
        _host(domain if domain.isascii() else domain.encode("idna").decode("ascii"))
    except (ValueError, UnicodeError):
        raise ValueError(problem) from None
    return value


EmailAddress = Annotated[
    str,
    AfterValidator(_text),
    AfterValidator(_email),
    # one address: an '@', and no second one after a comma or semicolon
    Field(json_schema_extra={"pattern": "^(?!.*@.*[,;].*@)[^\\x00-\\x1f]*@[^\\x00-\\x1f@]*$"}),
]

_TEXT_SCHEMA = {"type": "string", "maxLength": MAX_TEXT, "pattern": TEXT_PATTERN}
# Labels: keys and values are `Text`. Written out, because pydantic renders a key
# pattern as `patternProperties`, which would let any other key through.
Labels = Annotated[
    dict[Text, Text],
    WithJsonSchema({"type": "object", "propertyNames": _TEXT_SCHEMA, "additionalProperties": _TEXT_SCHEMA}),
]
