"""The IT Glue simulator speaks the wire format of APIS.md section 4 (no public
spec with a usable license was found to contract-test it against; these tests
pin down the documented facts instead)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from reconciler.testing.httpsim import RateLimit, TestCA
from reconciler.testing.itglue import ItGlueSimulator

KEY = "sim-key"
JSONAPI = "application/vnd.api+json"


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return TestCA.create(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def sim(ca: TestCA) -> Iterator[ItGlueSimulator]:
    with ItGlueSimulator(ca, api_key=KEY) as s:
        assert isinstance(s, ItGlueSimulator)
        yield s


@pytest.fixture
def http(sim: ItGlueSimulator, ca: TestCA) -> Iterator[httpx.Client]:
    headers = {"x-api-key": KEY, "Content-Type": JSONAPI}
    with httpx.Client(base_url=sim.url, verify=ca.client_context(), headers=headers) as client:
        yield client


def test_lists_are_json_api_pages_with_meta(sim: ItGlueSimulator, http: httpx.Client) -> None:
    sim.add_category("Office 365")
    org = sim.add_organization("Acme")
    for i in range(120):
        sim.add_password(org, f"p{i}", f"u{i}", "Office 365", archived=i == 7)

    first = http.get("/passwords", params={"filter[organization_id]": org}).json()
    assert len(first["data"]) == 50  # IT Glue's default page size
    assert first["meta"] == {
        "current-page": 1, "next-page": 2, "prev-page": None, "total-pages": 3, "total-count": 120, "filters": {},
    }  # fmt: skip
    last = http.get("/passwords", params={"page[size]": 100, "page[number]": 2}).json()
    assert len(last["data"]) == 20 and last["meta"]["next-page"] is None and "next" not in last["links"]
    record = first["data"][0]
    assert record["type"] == "passwords" and isinstance(record["id"], str)
    assert {"organization-id", "password-category-id", "password-category-name", "archived", "notes"} <= set(
        record["attributes"]
    )
    assert "password" not in record["attributes"]
    assert http.get("/passwords", params={"page[size]": 1001}).status_code == 400


def test_filters_the_client_uses(sim: ItGlueSimulator, http: httpx.Client) -> None:
    cat = sim.add_category("Active Directory")
    a, b = sim.add_organization("A"), sim.add_organization("B")
    sim.add_password(a, "x", "u1", "Active Directory")
    sim.add_password(a, "y", "u2", None, archived=True)
    sim.add_password(b, "x", "u3", "Active Directory")

    def names(**params: str | int) -> list[str]:
        return [d["attributes"]["username"] for d in http.get("/passwords", params=params).json()["data"]]

    assert names(**{"filter[organization_id]": a}) == ["u1", "u2"]
    assert names(**{"filter[organization_id]": a, "filter[name]": "x"}) == ["u1"]
    assert names(**{"filter[archived]": "true"}) == ["u2"]
    assert names(**{"filter[password_category_id]": cat}) == ["u1", "u3"]
    orgs = http.get("/organizations", params={"filter[name]": "B"}).json()["data"]
    assert [o["id"] for o in orgs] == [str(b)]
    assert http.get(f"/organizations/{a}").json()["data"]["attributes"]["name"] == "A"
    assert http.get("/organizations/1").status_code == 404


def test_create_answers_201_and_validates_like_json_api(sim: ItGlueSimulator, http: httpx.Client) -> None:
    cat = sim.add_category("Office 365")
    org = sim.add_organization("Acme")
    body = {
        "data": {
            "type": "passwords",
            "attributes": {"organization-id": org, "name": "n", "password-category-id": cat},
        }
    }

    created = http.post("/passwords", content=json.dumps(body))
    assert created.status_code == 201
    assert created.json()["data"]["attributes"]["password-category-name"] == "Office 365"

    wrong_type = http.post("/passwords", json=body, headers={"Content-Type": "application/json"})
    assert wrong_type.status_code == 415
    body["data"]["attributes"]["name"] = " "
    invalid = http.post("/passwords", content=json.dumps(body))
    assert invalid.status_code == 422
    assert invalid.json() == {
        "errors": [{"status": "422", "title": "Unprocessable Entity", "detail": "name can't be blank"}]
    }


def test_key_and_rate_limit_errors(sim: ItGlueSimulator, http: httpx.Client, ca: TestCA) -> None:
    unauthorized = httpx.get(f"{sim.url}/organizations", verify=ca.client_context())
    assert unauthorized.status_code == 401 and unauthorized.json()["errors"][0]["title"] == "Unauthorized"
    sim.rate_limit = RateLimit(2, 5.0)
    statuses = [http.get("/organizations").status_code for _ in range(3)]
    assert statuses == [200, 200, 429] and sim.limited == 1
    throttled = http.get("/organizations")
    assert throttled.json()["errors"][0]["status"] == "429"
    assert 4.0 < float(throttled.headers["Retry-After"]) <= 5.0
