"""Contract: the Hudu simulator and the Hudu client against Hudu's own Swagger 2.0
(an extract kept in tests/data/hudu; origin and license in its README).

- every answer the simulator gives validates against the documented response
  schema of its status code, with no field the document does not declare
  (except the listed unconfirmed ones), and with the declared status codes;
- every request the client makes uses a documented path and method, documented
  query parameters only, and documented body fields only.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from reconciler.core.model import NewPasswordEntry
from reconciler.integrations.hudu.client import list_companies, open_hudu
from reconciler.providers.http import RetryPolicy
from reconciler.testing.httpsim import Fault, SimRequest, TestCA
from reconciler.testing.hudu import HuduSimulator
from tests.providers.vaultkit import context, settings, write_config

SPEC: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "data" / "hudu" / "swagger-extract.json").read_text(encoding="utf-8")
)
# fields the simulator serves that Hudu's document does not declare (see the README)
UNDOCUMENTED = {"Asset_Password": {"archived": {"type": "boolean"}}}
KEY = "contract-key"


def strict_definitions() -> dict[str, Any]:
    """Swagger definitions as JSON Schema: no undeclared fields; "Can be null." fields nullable."""
    defs: dict[str, Any] = copy.deepcopy(SPEC["definitions"])
    for name, schema in defs.items():
        for prop in schema["properties"].values():
            if "Can be null" in prop.get("description", ""):
                prop["type"] = [prop["type"], "null"]
        schema["properties"].update(UNDOCUMENTED.get(name, {}))
        schema["additionalProperties"] = False
    return defs


DEFS = strict_definitions()


def operation(method: str, path: str) -> tuple[str, dict[str, Any]]:
    """The documented (template, operation) for a concrete request path."""
    assert path.startswith(SPEC["basePath"] + "/"), path
    rel = path[len(SPEC["basePath"]) :]
    for template, ops in SPEC["paths"].items():
        if re.fullmatch(re.sub(r"\{[^}]+\}", r"[^/]+", template), rel) and method.lower() in ops:
            return template, ops[method.lower()]
    raise AssertionError(f"{method} {path} is not in Hudu's document")


def check_answer(method: str, path: str, status: int, body: Any) -> None:
    _, op = operation(method, path)
    assert str(status) in op["responses"], f"{method} {path} answered {status}, not documented"
    schema = op["responses"][str(status)].get("schema")
    if schema is not None:
        jsonschema.Draft4Validator({**schema, "definitions": DEFS}).validate(body)


def check_request(req: SimRequest) -> None:
    _, op = operation(req.method, req.path)
    params = op.get("parameters", [])
    documented = {p["name"] for p in params if p["in"] == "query"}
    assert set(req.query) <= documented, (
        f"{req.method} {req.path}: undocumented {set(req.query) - documented}"
    )
    body_params = [p for p in params if p["in"] == "body"]
    if req.body:
        assert body_params, f"{req.method} {req.path} takes no body"
        body_schema = body_params[0]["schema"]
        body = req.json()
        assert set(body) <= set(body_schema["properties"])
        for key, value in body.items():
            fields = body_schema["properties"][key].get("properties", {})
            assert set(value) <= set(fields), f"undocumented body fields {set(value) - set(fields)}"


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return TestCA.create(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def sim(ca: TestCA) -> Iterator[HuduSimulator]:
    with HuduSimulator(ca, api_key=KEY) as s:
        assert isinstance(s, HuduSimulator)
        yield s


def test_the_extract_is_what_the_readme_says() -> None:
    assert SPEC["swagger"] == "2.0" and SPEC["basePath"] == "/api/v1"
    assert set(SPEC["definitions"]) == {"Asset_Password", "Company", "Company_Integration"}
    assert (
        "password_type"
        in SPEC["paths"]["/asset_passwords"]["post"]["parameters"][0]["schema"]["properties"][
            "asset_password"
        ]["properties"]
    )


def test_simulator_answers_match_the_document(sim: HuduSimulator, ca: TestCA) -> None:
    company = sim.add_company("Acme Corp")
    archived = sim.add_password(company, "old", "old", "Office 365", archived=True)
    sim.add_password(company, "typed", "ann", "Active Directory", description="hello")
    sim.add_password(company, "untyped", None, None)
    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "/api/v1/companies", {}),
        ("GET", "/api/v1/companies", {"params": {"page": 2, "page_size": 1}}),
        ("GET", f"/api/v1/companies/{company}", {}),
        ("GET", "/api/v1/companies/999999", {}),
        ("GET", "/api/v1/asset_passwords", {"params": {"company_id": company, "page_size": 2}}),
        ("GET", "/api/v1/asset_passwords", {"params": {"archived": "true"}}),
        (
            "POST",
            "/api/v1/asset_passwords",
            {"json": {"asset_password": {"company_id": company, "name": "n"}}},
        ),
        ("POST", "/api/v1/asset_passwords", {"json": {"asset_password": {"company_id": company}}}),
        ("PUT", f"/api/v1/asset_passwords/{archived}/archive", {}),
    ]
    statuses = []
    with httpx.Client(base_url=sim.url, verify=ca.client_context(), headers={"x-api-key": KEY}) as http:
        for method, path, kw in calls:
            r = http.request(method, path, **kw)
            statuses.append(r.status_code)
            check_answer(method, path, r.status_code, r.json())
        unauthorized = httpx.get(f"{sim.url}/api/v1/companies", verify=ca.client_context())
        check_answer("GET", "/api/v1/companies", unauthorized.status_code, unauthorized.json())
    assert statuses == [200, 200, 200, 404, 200, 200, 201, 422, 200]
    assert unauthorized.status_code == 401


def test_the_document_would_catch_a_simulator_that_drifts() -> None:
    """The check is not vacuous: a wrong field name or a missing required field fails."""
    good = {
        "id": 1, "passwordable_type": "", "company_id": 2, "name": "n", "username": "u", "slug": "s",
        "description": "", "password": "", "otp_secret": "", "url": "",
    }  # fmt: skip
    check_answer("GET", "/api/v1/asset_passwords", 200, {"asset_passwords": [good]})
    for bad in (
        {**good, "user_name": "u"},
        {k: v for k, v in good.items() if k != "slug"},
        {**good, "id": "1"},
    ):
        with pytest.raises(jsonschema.ValidationError):
            check_answer("GET", "/api/v1/asset_passwords", 200, {"asset_passwords": [bad]})
    with pytest.raises(AssertionError):
        check_answer("POST", "/api/v1/asset_passwords", 409, {})


def test_client_requests_use_only_documented_paths_parameters_and_fields(
    tmp_path: Path, sim: HuduSimulator, ca: TestCA
) -> None:
    company = sim.add_company("Acme")
    for i in range(30):
        sim.add_password(company, f"e{i}", f"u{i}", "Office 365")
    empty = sim.add_company("Empty")
    root = tmp_path / "cfg"
    hudu = {"baseUrl": f"{sim.url}/api/v1", "caFile": str(ca.ca_file), "pageSize": 20}
    customers = {"acme": {"huduCompanyId": str(company)}, "empty": {"huduCompanyId": str(empty)}}
    write_config(root, {"hudu": hudu}, customers, KEY)
    fast = RetryPolicy(base_delay=0.01)

    vault = open_hudu(context(root, "acme"), retry=fast)
    vault.list_entries()
    sim.faults.add(Fault.drop(after=True), path_prefix="/api/v1/asset_passwords")  # create, then look
    vault.create_entry(NewPasswordEntry("AD ann", "ann", "Active Directory", "acme/end-user/ad:x"))
    open_hudu(context(root, "empty"), retry=fast).list_entries()  # empty: checks the company
    list_companies(settings(root), root, retry=fast)

    made = {(r.method, operation(r.method, r.path)[0]) for r in sim.requests}
    assert made == {
        ("GET", "/asset_passwords"),
        ("POST", "/asset_passwords"),
        ("GET", "/companies/{id}"),
        ("GET", "/companies"),
    }
    for req in sim.requests:
        check_request(req)
