"""The Graph bearer token goes only to graphUrl: nextLinks, deltaLinks (also one read
back from the state store) on another scheme, host or port are never followed."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from reconciler.config.load import load_config
from reconciler.errors import ConfigError, ProviderError
from reconciler.providers.base import DirectoryScope
from reconciler.providers.graph.cache import STATE_CURSOR
from reconciler.providers.graph.client import GraphClient
from reconciler.providers.http import HttpApi
from reconciler.state.store import SqliteStore
from reconciler.testing.httpsim import SimRequest, SimResponse, Simulator, TestCA
from tests.providers.graphkit import GraphWorld, make_world, test_ca  # noqa: F401

TENANT = "0b8c5d6e-1111-4222-8333-944445555666"
GRAPH = "https://graph.example.test"


class Elsewhere(Simulator):
    """Another origin that would gladly take a bearer token."""

    def handle(self, request: SimRequest) -> SimResponse:
        return SimResponse(
            200, {"value": [], "@odata.deltaLink": f"{self.url}/v1.0/users/delta?$deltatoken=x"}
        )


@pytest.fixture
def world(test_ca: TestCA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[GraphWorld]:  # noqa: F811
    w = make_world(test_ca, tmp_path, monkeypatch, tenants=(TENANT,), delta_page_size=3)
    w.write_config({"contoso": TENANT})
    yield w
    w.sim.stop()


@pytest.fixture
def elsewhere(test_ca: TestCA) -> Iterator[Elsewhere]:  # noqa: F811
    # same test CA, same 127.0.0.1: only the port differs, which is enough to refuse
    sim = Elsewhere(test_ca)
    sim.start()
    yield sim
    sim.stop()


def rewrite(world: GraphWorld, path: str, key: str, link: str) -> None:
    """Make the simulator's answers on `path` carry `key` (nextLink/deltaLink) = `link`."""
    handle = world.sim.handle

    def tampered(request: SimRequest) -> SimResponse:
        response = handle(request)
        if request.path == path and isinstance(response.body, dict):
            response.body.pop("@odata.nextLink", None)
            response.body.pop("@odata.deltaLink", None)
            response.body[key] = link
        return response

    world.sim.handle = tampered  # type: ignore[method-assign]


def test_a_foreign_next_link_in_a_full_read_is_not_followed(world: GraphWorld, elsewhere: Elsewhere) -> None:
    world.sim.seed(TENANT, 5)
    rewrite(world, "/v1.0/users", "@odata.nextLink", f"{elsewhere.url}/v1.0/users?$skiptoken=SKIPTOKEN")
    with pytest.raises(ProviderError) as info:
        world.reader("contoso").read(DirectoryScope())
    message = str(info.value)
    assert message.startswith(
        "contoso: entra: @odata.nextLink of GET /v1.0/users points at https://127.0.0.1:"
    )
    assert "not followed" in message and "SKIPTOKEN" not in message
    assert elsewhere.requests == []  # no request at all, so no Authorization header either
    assert all("authorization" in r.headers for r in world.sim.requests if r.path.startswith("/v1.0/"))


@pytest.mark.parametrize("key", ["@odata.nextLink", "@odata.deltaLink"])
def test_a_foreign_link_in_a_delta_round_is_not_followed_nor_stored(
    world: GraphWorld, elsewhere: Elsewhere, key: str
) -> None:
    world.sim.seed(TENANT, 5)
    world.reader("contoso").read(DirectoryScope())
    saved = dict(world.cursors.values)
    rewrite(world, "/v1.0/users/delta", key, f"{elsewhere.url}/v1.0/users/delta?$deltatoken=abc")
    with pytest.raises(
        ProviderError, match=r"^contoso: entra: @odata\.(next|delta)Link of GET /v1\.0/users/delta"
    ):
        world.reader("contoso").read(DirectoryScope())
    assert elsewhere.requests == []
    assert world.cursors.values == saved  # the foreign deltaLink was not kept for the next run


def test_plain_http_on_the_same_host_and_port_is_not_followed(world: GraphWorld) -> None:
    world.sim.seed(TENANT, 5)
    downgraded = world.sim.url.replace("https://", "http://") + "/v1.0/users?$skiptoken=x"
    rewrite(world, "/v1.0/users", "@odata.nextLink", downgraded)
    with pytest.raises(ProviderError, match=r"points at http://127\.0\.0\.1"):
        world.reader("contoso").read(DirectoryScope())


def test_a_tampered_stored_delta_link_is_discarded_for_a_full_read(
    world: GraphWorld, elsewhere: Elsewhere, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = SqliteStore(tmp_path / "state.db")
    world.cursors = store  # type: ignore[assignment]  # the real SQLite cursors
    try:
        ids = world.sim.seed(TENANT, 5)
        world.reader("contoso").read(DirectoryScope())
        state = json.loads(store.get_cursor("contoso", STATE_CURSOR) or "")
        state["deltaLink"] = f"{elsewhere.url}/v1.0/users/delta?$deltatoken=stolen"
        store.put_cursor("contoso", STATE_CURSOR, json.dumps(state))
        world.sim.remove_user(TENANT, ids[0])
        world.sim.requests.clear()
        caplog.set_level(logging.WARNING, logger="reconciler")

        reader = world.reader("contoso")
        snap = reader.read(DirectoryScope())

        assert elsewhere.requests == []
        assert reader.last.mode == "full" and "not on graphUrl" in reader.last.reason
        assert {u.id for u in snap.users} == set(ids[1:])
        assert "contoso: entra: the stored delta link is not on graphUrl; discarded" in caplog.text
        assert "stolen" not in caplog.text
        relinked = json.loads(store.get_cursor("contoso", STATE_CURSOR) or "")["deltaLink"]
        assert relinked.startswith(world.sim.url + "/")
        world.sim.requests.clear()
        again = world.reader("contoso")
        again.read(DirectoryScope())
        assert again.last.mode == "delta"
    finally:
        store.close()


# --- the client alone, over a recording transport ------------------------------------------


@pytest.mark.parametrize(
    "link",
    [
        "https://evil.example.test/v1.0/users?$skiptoken=1",
        "https://graph.example.test:8443/v1.0/users?$skiptoken=1",
        "http://graph.example.test/v1.0/users?$skiptoken=1",
        "https://graph.example.test.evil.example/v1.0/users",
        "https://graph.example.test@evil.example/v1.0/users",
        "//evil.example/v1.0/users",
        "/v1.0/users?$skiptoken=1",
        "https://[not a url",
    ],
)
def test_the_client_sends_the_token_only_to_graph_url(link: str) -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"value": [{"id": "1"}], "@odata.nextLink": link})

    http = httpx.Client(transport=httpx.MockTransport(answer), headers={"Authorization": "Bearer tok"})
    client = GraphClient(HttpApi(http, "contoso: entra"), GRAPH)
    with pytest.raises(
        ProviderError, match=r"^contoso: entra: @odata\.nextLink of GET /v1\.0/users points at"
    ):
        list(client.users())
    with pytest.raises(ProviderError, match="the stored deltaLink points at"):
        client.changes(link)
    assert [(r.url.scheme, r.url.host, r.url.port) for r in seen] == [("https", "graph.example.test", None)]


def test_the_client_follows_links_on_graph_url_with_an_explicit_default_port() -> None:
    pages = iter(
        [
            {
                "value": [{"id": "1"}],
                "@odata.nextLink": "https://GRAPH.example.test:443/v1.0/users?$skiptoken=2",
            },
            {"value": [{"id": "2"}]},
        ]
    )
    http = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200, json=next(pages))))
    client = GraphClient(HttpApi(http, "contoso: entra"), GRAPH)
    assert [u["id"] for u in client.users()] == ["1", "2"]


# --- graphUrl and authorityHost must be https ---------------------------------------------------


@pytest.mark.parametrize("field", ["graphUrl", "authorityHost"])
@pytest.mark.parametrize(
    "url",
    [
        "http://graph.microsoft.com",
        "graph.microsoft.com",
        "https://user@graph.microsoft.com",
        "https://x?a=b",
    ],
)
def test_graph_urls_must_be_https_base_urls(world: GraphWorld, field: str, url: str) -> None:
    world.write_config({"contoso": TENANT}, graph={field: url})
    with pytest.raises(ConfigError) as info:
        load_config(world.root)
    assert f"connections.graph.{field}: must be" in str(info.value)
