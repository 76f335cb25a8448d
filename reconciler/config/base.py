"""Config stage: the building blocks every settings model uses (the document
models in `models.py` and each integration's settings in its own folder).

Secrets are references (`{env: NAME}` or `{file: path}`), never literals: a
plain string where a secret belongs is a validation error that never echoes it.
"""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)
from pydantic.alias_generators import to_camel

from reconciler.config.titles import field_title, model_title
from reconciler.config.values import FilePath as FilePath
from reconciler.config.values import RecordId as RecordId


class Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=True,
        hide_input_in_errors=True,
        allow_inf_nan=False,
        field_title_generator=field_title,
        model_title_generator=model_title,
    )


# --- secrets ---------------------------------------------------------------------------


class SecretRef(Model):
    """Where a secret is read from when a connection is used: exactly one of
    `env` (environment variable) or `file` (relative to the config directory)."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1, "maxProperties": 1})

    env: str | None = Field(
        default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="Read from this environment variable."
    )
    file: FilePath | None = Field(
        default=None,
        description="Read from this file, inside the config directory or a Settings secretDirs entry.",
    )

    @model_validator(mode="before")
    @classmethod
    def _known_keys_only(cls, data: Any) -> Any:
        # a pasted secret can end up as a key; the generic "unknown field 'X'" would echo it
        if isinstance(data, dict) and not set(data) <= {"env", "file"}:
            raise ValueError("a secret reference has only the keys env or file")
        return data

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("a secret reference needs exactly one of {env: NAME} or {file: path}")
        return self


def refuse_literal_secret(value: Any) -> Any:
    if isinstance(value, (str, int, float)):
        raise ValueError("literal secrets are not allowed; use a reference like {env: NAME} or {file: path}")
    return value


class TlsOptions(Model):
    ca_file: FilePath | None = Field(default=None, description="Extra CA bundle (PEM) to trust.")
    insecure_skip_verify: bool = Field(
        default=False, description="Turn TLS verification off. Logged loudly on every run."
    )


HTTPS_URL_PATTERN = r"^[Hh][Tt][Tt][Pp][Ss]://[^/?#@\s]+(/[^?#\s]*)?$"


def https_base_url(value: Any) -> Any:
    """An https:// URL with a host and no query, fragment or user info (credentials go to it)."""
    if not isinstance(value, str):
        return value
    parts = urlsplit(value)
    if parts.scheme.lower() != "https" or not parts.hostname:
        raise ValueError(
            "must be an https:// URL (credentials and bearer tokens are sent to it); "
            "plain http is not supported"
        )
    if not re.match(HTTPS_URL_PATTERN, value):
        raise ValueError("must be a base URL: https://host[:port][/path], no query, fragment or user info")
    try:
        parts.port  # noqa: B018 - raises on a port out of range
    except ValueError:
        raise ValueError("has an invalid port") from None
    return value


# --- the field types and the base of every vendor connection ---------------------------
# A connection model declares its fields with these types; the checks come with the
# type, so a new integration cannot forget one (and no model lists its fields twice).

Secret = Annotated[SecretRef, BeforeValidator(refuse_literal_secret)]
"""A secret reference; a literal (a pasted key) is refused without being echoed."""

OptionalSecret = Annotated[SecretRef | None, BeforeValidator(refuse_literal_secret)]

HttpsUrl = Annotated[
    str, AfterValidator(https_base_url), Field(json_schema_extra={"pattern": HTTPS_URL_PATTERN})
]
"""A base URL credentials are sent to: https, a host, no query, fragment or user info."""

OptionalHttpsUrl = Annotated[
    str | None, AfterValidator(https_base_url), Field(json_schema_extra={"pattern": HTTPS_URL_PATTERN})
]


class Connection(TlsOptions):
    """The MSP's connection to one vendor API (Settings `connections.<kind>`): TLS options
    and the per-request timeout every client honours. Vendor fields use `Secret` and
    `HttpsUrl`."""

    timeout_seconds: float = Field(default=60.0, gt=0, le=3600, description="Per request.")
