"""Config stage: pydantic's validation errors in the words of this tool.

Raw pydantic text ("String should match pattern '^[a-z0-9]...'", "Input should
be a valid tuple") tells a new user neither what the value must be nor how to
fix it. Each error type gets a sentence here; an unknown key gets the closest
known key of that mapping ("did you mean 'passwordEntryMatching'?"), and a
path part that holds invisible or control characters is shown escaped, so
the message itself never carries them to a terminal.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel

from reconciler.config.values import bad_character

# Messages for values that must match a pattern, by the field's camelCase name.
PATTERN_HINTS: Mapping[str, str] = {
    "name": "must be lowercase letters, digits and '-', starting and ending with a letter or digit "
    "(at most 63 characters), e.g. acme-corp",
    "env": "must be an environment variable name: letters, digits and '_', not starting with a digit",
    "thumbprint": "must be the certificate's SHA-1 thumbprint: 40 hexadecimal digits",
    "listen": "must be host:port, e.g. 127.0.0.1:9465 or [::1]:9465",
    "companyId": "must be the company id you sign in to ConnectWise with: letters, digits, '.', '_' or '-'",
    "apiVersion": "must be a ConnectWise API version like 2022.1",
    "codebase": "must be a ConnectWise codebase like v4_6_release/",
    "schema": "must be a PostgreSQL schema name: lowercase letters, digits and '_'",
    "namespace": "must be lowercase letters, digits and '-', e.g. msp-prod",
}


def suggest(word: str, known: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest of `known`, or ''."""
    match = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    if not match:
        lowered = {k.lower(): k for k in known}
        if word.lower() in lowered:
            match = [lowered[word.lower()]]
    return f" (did you mean {match[0]!r}?)" if match else ""


def shown(part: Any) -> str:
    """One path part as text, escaped when it holds characters a terminal would hide."""
    text = str(part)
    if bad_character(text) is None:
        return text
    return text.encode("ascii", "backslashreplace").decode("ascii").replace("\n", "\\n")


def is_union_tag(part: Any) -> bool:
    return isinstance(part, str) and (part[:1].isupper() or "[" in part)


def message(model: type[BaseModel], err: Mapping[str, Any]) -> str:
    """The user-facing text of one pydantic error of a document of `model`."""
    loc = tuple(err["loc"])
    parts = [p for p in loc if not is_union_tag(p)]
    dotted = ".".join(shown(p) for p in parts)
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind == "extra_forbidden":
        return f"unknown field {dotted!r}" + suggest(str(parts[-1]), _keys_at(model, parts[:-1]))
    if kind == "missing":
        return f"missing required field {dotted!r}"
    return f"{dotted}: {_describe(kind, ctx, err['msg'], parts)}"


def _describe(kind: str, ctx: Mapping[str, Any], msg: str, parts: list[Any]) -> str:
    last = str(parts[-1]) if parts else ""
    if kind == "value_error":
        return msg.removeprefix("Value error, ")
    if kind == "string_pattern_mismatch":
        return PATTERN_HINTS.get(last, "has a form that is not accepted here")
    simple = {
        "bool_type": "must be true or false",
        "bool_parsing": "must be true or false",
        "int_type": "must be a whole number",
        "int_parsing": "must be a whole number",
        "int_from_float": "must be a whole number",
        "float_type": "must be a number",
        "float_parsing": "must be a number",
        "finite_number": "must be a finite number (not .inf or .nan)",
        "string_type": "must be text (quote it)",
        "dict_type": "must be a mapping (key: value)",
        "model_type": "must be a mapping (key: value)",
        "model_attributes_type": "must be a mapping (key: value)",
        "tuple_type": "must be a list",
        "list_type": "must be a list",
        "string_too_short": "must not be empty",
    }
    if kind in simple:
        return simple[kind]
    if kind in ("less_than_equal", "less_than", "greater_than_equal", "greater_than"):
        words = {
            "less_than_equal": ("at most", "le"),
            "less_than": ("less than", "lt"),
            "greater_than_equal": ("at least", "ge"),
            "greater_than": ("more than", "gt"),
        }[kind]
        bound = ctx.get(words[1])
        if isinstance(bound, float) and bound.is_integer():
            bound = int(bound)
        return f"must be {words[0]} {bound}"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters"
    if kind in ("literal_error", "enum"):
        return f"must be {ctx.get('expected')}"
    return msg


def _keys_at(model: type[BaseModel], path: list[Any]) -> list[str]:
    """The YAML keys of the mapping at `path` inside a document of `model`."""
    current: Any = model
    for part in path:
        current = _child(current, part)
        if current is None:
            return []
    current = _models_of(current)
    keys: list[str] = []
    for cls in current:
        keys += [info.alias or name for name, info in cls.model_fields.items()]
    return keys


def _models_of(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    out: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        out += _models_of(arg)
    return out


def _child(annotation: Any, part: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _child(typing.get_args(annotation)[0], part)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _child(arg, part)
            if found is not None:
                return found
        return None
    if origin is tuple or origin is list:
        return typing.get_args(annotation)[0] if isinstance(part, int) else None
    if origin is dict:
        return typing.get_args(annotation)[1]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        for name, info in annotation.model_fields.items():
            if part in (name, info.alias):
                return info.annotation
    return None
