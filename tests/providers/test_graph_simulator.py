"""The Graph simulator's own rules, driven with bare httpx (what a careless client would hit)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from reconciler.testing.graph import GraphSimulator
from reconciler.testing.httpsim import TestCA
from tests.providers.graphkit import test_ca  # noqa: F401

T = "tenant-sim"


@pytest.fixture
def sim(test_ca: TestCA) -> Iterator[GraphSimulator]:  # noqa: F811
    s = GraphSimulator(test_ca, tenants=(T,), delta_page_size=4)
    s.start()
    yield s
    s.stop()


@pytest.fixture
def http(sim: GraphSimulator, test_ca: TestCA) -> Iterator[httpx.Client]:  # noqa: F811
    token = _token(sim, test_ca)
    with httpx.Client(
        base_url=sim.url, verify=test_ca.client_context(), headers={"Authorization": f"Bearer {token}"}
    ) as client:
        yield client


def _token(sim: GraphSimulator, ca: TestCA, **form: str) -> str:
    data = {
        "grant_type": "client_credentials",
        "client_id": sim.identity.client_id,
        "client_secret": sim.identity.client_secret,
        "scope": "https://graph.microsoft.com/.default",
        **form,
    }
    r = httpx.post(f"{sim.url}/{T}/oauth2/v2.0/token", data=data, verify=ca.client_context())
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def error_of(r: httpx.Response) -> dict[str, Any]:
    body = r.json()
    assert set(body["error"]) == {"code", "message", "innerError"}
    assert {"date", "request-id"} <= set(body["error"]["innerError"])
    return dict(body["error"])


def test_token_endpoint_checks_the_secret_like_entra(sim: GraphSimulator, test_ca: TestCA) -> None:  # noqa: F811
    bad = dict(grant_type="client_credentials", client_id=sim.identity.client_id, client_secret="nope")
    bad["scope"] = "https://graph.microsoft.com/.default"
    r = httpx.post(f"{sim.url}/{T}/oauth2/v2.0/token", data=bad, verify=test_ca.client_context())
    assert r.status_code == 401
    body = r.json()
    assert body["error"] == "invalid_client" and body["error_codes"] == [7000215]
    assert body["error_description"].startswith("AADSTS7000215: Invalid client secret provided.")
    bad["client_secret"], bad["scope"] = sim.identity.client_secret, "User.Read"
    r = httpx.post(f"{sim.url}/{T}/oauth2/v2.0/token", data=bad, verify=test_ca.client_context())
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"
    r = httpx.get(f"{sim.url}/nobody/v2.0/.well-known/openid-configuration", verify=test_ca.client_context())
    assert r.status_code == 400 and r.json()["error"] == "invalid_tenant"


def test_graph_needs_a_valid_bearer_token(sim: GraphSimulator, test_ca: TestCA) -> None:  # noqa: F811
    r = httpx.get(f"{sim.url}/v1.0/users", verify=test_ca.client_context())
    assert r.status_code == 401 and error_of(r)["code"] == "InvalidAuthenticationToken"
    r = httpx.get(
        f"{sim.url}/v1.0/users", headers={"Authorization": "Bearer made-up"}, verify=test_ca.client_context()
    )
    assert r.status_code == 401


def test_users_default_properties_select_top_and_paging(sim: GraphSimulator, http: httpx.Client) -> None:
    sim.seed(T, 25)
    r = http.get("/v1.0/users")
    assert r.status_code == 200
    assert set(r.json()["value"][0]) == {
        "businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone",
        "officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id",
    }  # fmt: skip
    assert "accountEnabled" not in r.json()["value"][0]  # must be $selected

    seen: list[str] = []
    url: str | None = "/v1.0/users?$select=id,accountEnabled&$top=10"
    pages = 0
    while url:
        body = http.get(url).json()
        assert all(set(u) == {"id", "accountEnabled"} for u in body["value"])
        seen += [u["id"] for u in body["value"]]
        url = body.get("@odata.nextLink")
        pages += 1
    assert pages == 3 and len(seen) == len(set(seen)) == 25

    assert error_of(http.get("/v1.0/users?$top=1000"))["code"] == "Request_BadRequest"
    bad = http.get("/v1.0/users?$select=id,favouriteColour")
    assert bad.status_code == 400 and "favouriteColour" in error_of(bad)["message"]


def test_paging_tokens_are_opaque_and_checked(sim: GraphSimulator, http: httpx.Client) -> None:
    sim.seed(T, 5)
    link = http.get("/v1.0/users?$top=2").json()["@odata.nextLink"]
    assert "$skiptoken=" in link
    assert http.get(link.replace("$skiptoken=", "$skiptoken=x")).status_code == 400
    assert http.get(link.replace("$top=2", "$top=3")).status_code == 400  # not that query's token


def test_advanced_queries_need_consistency_level_and_count_on_every_page(
    sim: GraphSimulator, http: httpx.Client
) -> None:
    sim.seed(T, 30, unlicensed_every=3)
    advanced = "/v1.0/users?$filter=assignedLicenses/$count ne 0&$top=5"
    r = http.get(advanced)
    assert r.status_code == 400 and error_of(r)["code"] == "Request_UnsupportedQuery"
    assert http.get(advanced, headers={"ConsistencyLevel": "eventual"}).status_code == 400  # no $count
    r = http.get(advanced + "&$count=true", headers={"ConsistencyLevel": "eventual"})
    assert r.status_code == 200 and r.json()["@odata.count"] == 20
    link = r.json()["@odata.nextLink"]
    assert http.get(link).status_code == 400  # the header must be sent again
    assert http.get(link, headers={"ConsistencyLevel": "eventual"}).status_code == 200
    basic = http.get("/v1.0/users?$filter=startswith(userPrincipalName,'ada')&$top=999")
    assert basic.status_code == 200
    ends = http.get("/v1.0/users?$filter=endswith(mail,'.test')")
    assert ends.status_code == 400


def test_delta_round_then_changes_then_gone(sim: GraphSimulator, http: httpx.Client) -> None:
    ids = sim.seed(T, 9)
    assert http.get("/v1.0/users/delta?$top=5").status_code == 400
    items: list[dict[str, Any]] = []
    url = "/v1.0/users/delta?$select=id,displayName"
    while True:
        body = http.get(url).json()
        items += body["value"]
        if "@odata.deltaLink" in body:
            delta_link = body["@odata.deltaLink"]
            break
        url = body["@odata.nextLink"]
    assert sorted(i["id"] for i in items) == sorted(ids)

    sim.update_user(T, ids[0], displayName="Changed")
    sim.remove_user(T, ids[1], reason="changed")
    body = http.get(delta_link).json()
    assert body["value"] == [
        {"id": ids[0], "displayName": "Changed"},
        {"id": ids[1], "@removed": {"reason": "changed"}},
    ]
    sim.reset_delta(T)
    assert http.get(body["@odata.deltaLink"]).status_code == 410


def test_group_members_carry_their_type_and_nesting(sim: GraphSimulator, http: httpx.Client) -> None:
    users = sim.seed(T, 3)
    inner = sim.add_group(T, "Inner", [users[2]])
    outer = sim.add_group(T, "Outer", [users[0], users[1], inner])
    direct = http.get(f"/v1.0/groups/{outer}/members?$select=id,displayName&$top=2").json()
    assert [m["@odata.type"] for m in direct["value"]] == ["#microsoft.graph.user"] * 2
    rest = http.get(direct["@odata.nextLink"]).json()
    assert rest["value"] == [{"@odata.type": "#microsoft.graph.group", "id": inner, "displayName": "Inner"}]
    transitive = http.get(f"/v1.0/groups/{outer}/transitiveMembers").json()["value"]
    assert {m["id"] for m in transitive} == {*users, inner}
    missing = http.get("/v1.0/groups/00000000-0000-0000-0000-000000000000/members")
    assert missing.status_code == 404 and error_of(missing)["code"] == "Request_ResourceNotFound"
