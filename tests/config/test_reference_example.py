"""examples/reference: passes validation, agrees with the JSON Schemas, and shows
every field of every kind (so it stays complete as the models grow)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner

from reconciler.cli import main
from reconciler.config.models import KINDS, schema_file_name
from reconciler.config.yamlsrc import load_documents

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "examples" / "reference"
SCHEMAS = ROOT / "schemas"
FILES = sorted(REFERENCE.rglob("*.yaml"))
HINT = re.compile(r"^# yaml-language-server: \$schema=(\S+)$")

# Fields that exclude another one shown in the same document: the reference
# shows them as a commented-out alternative, `# field:`, in a file of the kind.
ALTERNATIVES = {
    ("Settings", "SettingsSpec", "snapshot"),  # offline mode instead of live connections
    ("Settings", "SnapshotSettings", "dir"),
    ("Settings", "GraphCredential", "certificate"),  # instead of clientSecret
    ("Settings", "CertificateCredential", "privateKey"),
    ("Settings", "CertificateCredential", "thumbprint"),
    ("ImportPolicy", "Selection", "roles"),  # administrator imports only (R23)
    ("ImportPolicy", "Selection", "includeEligible"),
    ("Settings", "StateSettings", "dsn"),  # postgres instead of the SQLite path
    ("Settings", "StateSettings", "schema"),
}


def documents() -> list[tuple[Path, dict[str, Any]]]:
    out = []
    for path in FILES:
        docs, problems = load_documents(path, str(path))
        assert problems == []
        out += [(path, doc.data) for doc in docs]
    return out


def schema_of(kind: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SCHEMAS / schema_file_name(kind)).read_text())
    return schema


def all_fields(kind: str) -> set[tuple[str, str, str]]:
    """(kind, model, field) for every property of every object in the kind's schema."""
    schema = schema_of(kind)
    objects = [(schema["title"], schema), *schema.get("$defs", {}).items()]
    return {(kind, name, prop) for name, obj in objects for prop in obj.get("properties", {})}


def shown_fields(kind: str, schema: dict[str, Any], node: dict[str, Any], model: str, data: Any) -> set[Any]:
    """The (kind, model, field) triples that `data` sets, walking the schema beside it."""
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        return shown_fields(kind, schema, schema["$defs"][name], name, data)
    out: set[Any] = set()
    for option in node.get("anyOf", []) + node.get("allOf", []):
        out |= shown_fields(kind, schema, option, model, data)
    if isinstance(data, dict) and "properties" in node:
        for key, value in data.items():
            if key in node["properties"]:
                out.add((kind, model, key))
                out |= shown_fields(kind, schema, node["properties"][key], "", value)
    if isinstance(data, dict) and isinstance(node.get("additionalProperties"), dict):  # a map (budgets)
        for key, value in data.items():
            if key not in node.get("properties", {}):
                out |= shown_fields(kind, schema, node["additionalProperties"], "", value)
    if isinstance(data, list) and isinstance(node.get("items"), dict):
        for value in data:
            out |= shown_fields(kind, schema, node["items"], "", value)
    return out


def test_reference_example_validates() -> None:
    result = CliRunner().invoke(main, ["validate", "-c", str(REFERENCE)])
    assert result.exit_code == 0, result.output
    assert "valid (4 customers, 3 import policies, 3 admin import policies)" in result.output


def test_every_kind_is_in_the_reference() -> None:
    assert {data["kind"] for _, data in documents()} == set(KINDS)


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(REFERENCE)) for p in FILES])
def test_each_file_points_editors_at_its_schema(path: Path) -> None:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    hint = HINT.match(first)
    assert hint, f"{path.name}: first line must be the yaml-language-server schema hint"
    target = (path.parent / hint[1]).resolve()
    docs, _ = load_documents(path, str(path))
    assert {target} == {(SCHEMAS / schema_file_name(doc.data["kind"])).resolve() for doc in docs}
    assert target.is_file()


def test_reference_documents_satisfy_the_published_json_schemas() -> None:
    for path, data in documents():
        schema = schema_of(data["kind"])
        errors = list(jsonschema.Draft202012Validator(schema).iter_errors(data))
        assert not errors, f"{path}: {[e.message for e in errors]}"


def test_reference_shows_every_field_of_every_kind() -> None:
    shown: set[Any] = set()
    for _, data in documents():
        kind = data["kind"]
        schema = schema_of(kind)
        shown |= shown_fields(kind, schema, schema, schema["title"], data)
    commented: set[Any] = set()
    for kind, model, field in ALTERNATIVES:
        texts = [p.read_text(encoding="utf-8") for p, d in documents() if d["kind"] == kind]
        if any(re.search(rf"^\s*#\s*{field}:", text, re.MULTILINE) for text in texts):
            commented.add((kind, model, field))
    required = set().union(*(all_fields(kind) for kind in KINDS))
    missing = sorted(required - shown - commented)
    assert not missing, f"not shown in examples/reference: {missing}"
    # an alternative that is shown for real no longer needs the exemption
    assert not (ALTERNATIVES & shown), sorted(ALTERNATIVES & shown)
    assert required >= ALTERNATIVES


def test_the_welcome_template_uses_only_known_placeholders() -> None:
    text = (REFERENCE / "templates" / "welcome.txt").read_text(encoding="utf-8")
    assert set(re.findall(r"\{(\w+)\}", text)) <= {"given_name", "upn", "customer", "display_name"}
