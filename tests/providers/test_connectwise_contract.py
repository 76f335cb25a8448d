"""Contract: the ConnectWise simulator and client against the public OpenAPI extract.

The simulator must not invent fields (strict: every key it returns is in the
spec's schema) and the client must only send what the spec declares.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from reconciler.core.model import NewContact
from reconciler.integrations.connectwise.client import open_connectwise
from reconciler.state.store import SqliteStore
from reconciler.testing.connectwise import API_PREFIX, ConnectWiseSimulator
from reconciler.testing.httpsim import TestCA
from tests.providers.conftest import context

SPEC = json.loads(
    (
        Path(__file__).resolve().parents[1] / "data" / "connectwise" / "contacts-openapi-extract.json"
    ).read_text()
)
SCHEMAS: dict[str, Any] = SPEC["components"]["schemas"]
OPERATIONS = SPEC["paths"]["/company/contacts"]


def json_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """OpenAPI 3.0 schema -> JSON Schema; strict about unknown properties.
    A `$ref` to a schema the extract does not keep accepts anything."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        return json_schema(SCHEMAS[name]) if name in SCHEMAS else {}
    out = {k: v for k, v in schema.items() if k in ("type", "enum", "required")}
    if schema.get("nullable"):
        if "type" in out:
            out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    if "properties" in schema:
        out["properties"] = {k: json_schema(v) for k, v in schema["properties"].items()}
        out["additionalProperties"] = False
    if isinstance(schema.get("additionalProperties"), dict):
        out["additionalProperties"] = json_schema(schema["additionalProperties"])
    if "items" in schema:
        out["items"] = json_schema(schema["items"])
    return out


def validate(instance: Any, schema: dict[str, Any]) -> None:
    jsonschema.validate(instance, json_schema(schema))


@pytest.fixture
def sim(test_ca: TestCA) -> Iterator[ConnectWiseSimulator]:
    s = ConnectWiseSimulator(test_ca)
    s.add_company(5, "Acme Corp")
    s.add_contact(5, "Ann", "Lee", ["ann@acme.example", "a.lee@acme.example"])
    s.add_contact(5, "Bob", None, [], inactive=True)
    with s:
        yield s


@pytest.fixture
def client_run(
    sim: ConnectWiseSimulator,
    test_ca: TestCA,
    tmp_path: Path,
    store: SqliteStore,
    monkeypatch: pytest.MonkeyPatch,
) -> ConnectWiseSimulator:
    for var, value in (("P", sim.public_key), ("K", sim.private_key), ("C", sim.client_id)):
        monkeypatch.setenv(f"CW_{var}", value)
    conn = {
        "site": sim.url.removeprefix("https://"),
        "companyId": sim.company_id,
        "publicKey": {"env": "CW_P"},
        "privateKey": {"env": "CW_K"},
        "clientId": {"env": "CW_C"},
        "apiVersion": SPEC["info"]["version"],
        "caFile": str(test_ca.ca_file),
    }
    book = open_connectwise(context(tmp_path, store, {"connectwise": conn}, {"connectwiseCompanyId": "5"}))
    book.list_contacts()
    book.create_contact(NewContact("Cy", "Dee", "cy@acme.example", "acme/end-user/entra:cy"))
    return sim


def test_listed_contacts_match_the_schema(client_run: ConnectWiseSimulator) -> None:
    listing_request = next(
        r for r in client_run.requests if r.method == "GET" and r.path.startswith(API_PREFIX)
    )
    response = client_run.handle(listing_request)  # the client's own GET, replayed
    listing = OPERATIONS["get"]["responses"]["200"]["content"]
    (media,) = listing.values()
    assert response.status == 200
    validate(response.body, media["schema"])
    assert response.body, "the replayed listing is not empty"


def test_full_records_match_the_schema(sim: ConnectWiseSimulator) -> None:
    for record in sim.contacts.values():
        validate(record, SCHEMAS["Contact"])


def test_create_answers_201_with_a_contact(client_run: ConnectWiseSimulator) -> None:
    (post,) = [r for r in client_run.requests if r.method == "POST"]
    response = client_run.handle(post)
    assert str(response.status) in OPERATIONS["post"]["responses"]
    (media,) = OPERATIONS["post"]["responses"]["201"]["content"].values()
    validate(response.body, media["schema"])


def test_the_client_sends_only_what_the_spec_declares(client_run: ConnectWiseSimulator) -> None:
    declared = {p["name"] for p in OPERATIONS["get"]["parameters"] if p["in"] == "query"}
    gets = [r for r in client_run.requests if r.method == "GET" and r.path.startswith(API_PREFIX)]
    assert gets
    for r in gets:
        assert set(r.query) <= declared, set(r.query) - declared
    (post,) = [r for r in client_run.requests if r.method == "POST"]
    validate(post.json(), OPERATIONS["post"]["requestBody"]["content"]["application/json"]["schema"])
    assert post.headers["content-type"] == "application/json"


def test_accept_header_is_the_spec_media_type(client_run: ConnectWiseSimulator) -> None:
    (media_type,) = OPERATIONS["get"]["responses"]["200"]["content"]
    api = [r for r in client_run.requests if r.path.startswith(API_PREFIX)]
    assert {r.headers["accept"] for r in api} == {media_type}
    assert all("clientid" in r.headers for r in client_run.requests)  # a header parameter on every call


def test_base_url_follows_the_spec_server(client_run: ConnectWiseSimulator) -> None:
    server_path = SPEC["servers"][0]["url"].split("/", 3)[3]  # v4_6_release/apis/3.0
    assert f"/{server_path}/" == API_PREFIX


def test_strictness_catches_an_invented_field() -> None:
    with pytest.raises(jsonschema.ValidationError):
        validate({"id": 1, "firstName": "A", "emailAddress": "x@y.z"}, SCHEMAS["Contact"])
