"""Config stage: JSON Schemas of the document kinds, generated from the models.

`schemas/*.schema.json` are these, written by `reconciler schema --write schemas`;
a test fails when the committed files are stale.
"""

from __future__ import annotations

import json
from typing import Any

from reconciler.config.models import KINDS, schema_file_name
from reconciler.config.titles import enum_title


def kind_schema(kind: str) -> dict[str, Any]:
    schema = KINDS[kind].model_json_schema(by_alias=True, mode="validation")
    for definition in schema.get("$defs", {}).values():
        if "enum" in definition and " " not in definition.get("title", " "):
            definition["title"] = enum_title(definition["title"])  # pydantic: the class name
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://reconciler.dev/schemas/{schema_file_name(kind)}"
    return schema


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def all_schemas() -> dict[str, str]:
    """File name -> text, for every kind."""
    return {schema_file_name(kind): render(kind_schema(kind)) for kind in KINDS}
