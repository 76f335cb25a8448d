"""Contract: the Autotask simulator against the facts of APIS.md section 7.

No spec extract is kept for Autotask (no license, see tests/data/autotask/README.md),
so these raw-HTTP checks pin the wire format the client relies on.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from reconciler.testing.autotask import AutotaskSimulator
from reconciler.testing.httpsim import TestCA

HEADERS = {
    "ApiIntegrationCode": "AT-INTEGRATION-CODE",
    "UserName": "api-user@msp.example",
    "Secret": "at-secret",
}


@pytest.fixture
def sim(test_ca: TestCA) -> Iterator[AutotaskSimulator]:
    s = AutotaskSimulator(test_ca)
    s.add_company(123, "Acme")
    s.add_contact(123, "Ann", "Lee", ["ann@acme.example", "ann2@acme.example", "ann3@acme.example"])
    s.add_contact(123, "Old", "Timer", ["x@acme.example"], active=False)
    with s:
        yield s


@pytest.fixture
def http(test_ca: TestCA) -> Iterator[httpx.Client]:
    with httpx.Client(verify=test_ca.client_context()) as client:
        yield client


def test_zone_information(sim: AutotaskSimulator, http: httpx.Client) -> None:
    r = http.get(f"{sim.url}/atservicesrest/v1.0/zoneInformation", params={"user": "api-user@msp.example"})
    assert r.status_code == 200
    assert set(r.json()) >= {"zoneName", "url"}
    assert r.json()["url"].endswith("/ATServicesRest/")  # the client appends V1.0/


def test_query_as_in_apis_md(sim: AutotaskSimulator, http: httpx.Client) -> None:
    body = {
        "filter": [
            {
                "op": "and",
                "items": [
                    {"op": "eq", "field": "companyID", "value": 123},
                    {"op": "eq", "field": "emailAddress", "value": "ann@acme.example"},
                ],
            }
        ],
        "MaxRecords": 500,
    }
    r = http.post(f"{sim.url}/ATServicesRest/V1.0/Contacts/query", json=body, headers=HEADERS)
    assert r.status_code == 200
    page = r.json()
    assert set(page) == {"items", "pageDetails"}
    assert set(page["pageDetails"]) == {"count", "requestCount", "prevPageUrl", "nextPageUrl"}
    (item,) = page["items"]
    for field in ("id", "companyID", "firstName", "lastName", "emailAddress", "emailAddress2", "emailAddress3",
                  "isActive", "externalID", "title"):  # fmt: skip
        assert field in item
    assert item["isActive"] == 1 and item["emailAddress3"] == "ann3@acme.example"
    assert page["pageDetails"]["nextPageUrl"] is None


def test_inactive_is_zero(sim: AutotaskSimulator, http: httpx.Client) -> None:
    body = {"filter": [{"op": "eq", "field": "lastName", "value": "Timer"}], "MaxRecords": 1}
    (item,) = http.post(f"{sim.url}/ATServicesRest/V1.0/Contacts/query", json=body, headers=HEADERS).json()[
        "items"
    ]
    assert item["isActive"] == 0


@pytest.mark.parametrize("max_records", [0, 501])
def test_max_records_is_1_to_500(sim: AutotaskSimulator, http: httpx.Client, max_records: int) -> None:
    body = {"filter": [{"op": "eq", "field": "companyID", "value": 123}], "MaxRecords": max_records}
    r = http.post(f"{sim.url}/ATServicesRest/V1.0/Contacts/query", json=body, headers=HEADERS)
    assert r.status_code == 400
    assert isinstance(r.json()["errors"], list) and all(isinstance(e, str) for e in r.json()["errors"])


def test_create_under_the_company_answers_item_id(sim: AutotaskSimulator, http: httpx.Client) -> None:
    r = http.post(
        f"{sim.url}/ATServicesRest/V1.0/Companies/123/Contacts",
        json={"companyID": 123, "firstName": "New", "lastName": "Person", "isActive": 1},
        headers=HEADERS,
    )
    assert r.status_code == 200
    assert set(r.json()) == {"itemId"} and isinstance(r.json()["itemId"], int)


def test_every_header_is_required(sim: AutotaskSimulator, http: httpx.Client) -> None:
    body = {"filter": [{"op": "eq", "field": "companyID", "value": 123}]}
    for missing in HEADERS:
        headers = {k: v for k, v in HEADERS.items() if k != missing}
        r = http.post(f"{sim.url}/ATServicesRest/V1.0/Contacts/query", json=body, headers=headers)
        assert r.status_code == 401, missing
        assert "errors" in r.json()


def test_paging_follows_next_page_url_with_the_same_body(sim: AutotaskSimulator, http: httpx.Client) -> None:
    for i in range(5):
        sim.add_contact(123, f"P{i}", "Page", [])
    body = {"filter": [{"op": "eq", "field": "lastName", "value": "Page"}], "MaxRecords": 2}
    url: str | None = f"{sim.url}/ATServicesRest/V1.0/Contacts/query"
    seen = []
    while url:
        page = http.post(url, json=body, headers=HEADERS).json()
        seen += [i["firstName"] for i in page["items"]]
        url = page["pageDetails"]["nextPageUrl"]
    assert seen == ["P0", "P1", "P2", "P3", "P4"]
