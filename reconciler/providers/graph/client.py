"""Live stage (Entra): the Microsoft Graph calls the reader needs, on the shared HTTP seam.

- `users()`: `GET /v1.0/users?$select=<USER_SELECT>&$top=999`, following
  `@odata.nextLink` verbatim until it is absent (a page may be empty).
- `latest_delta_link()`: `GET /v1.0/users/delta?$select=...&$deltatoken=latest`, Graph's
  "sync from now": no users, just a deltaLink that a full read can be anchored to.
- `changes(delta_link)`: one round of `/users/delta`, following nextLinks to the
  next deltaLink. A 410 Gone, or a `syncStateNotFound` with any 40X status (the
  token is more than seven days old; Graph has used 400 and others), raises
  `DeltaExpired`: the caller reads everything again.
- `group_members(id)`: `/groups/{id}/members` (or `transitiveMembers`), with `@odata.type`.

Retries, Retry-After, error mapping: `HttpApi`; paging: `paging.paginate`. Bearer tokens: `auth.BearerAuth`.

The bearer token goes with every request, so a link is followed (nextLink, and a
deltaLink, also one read back from the state store) only when it is on exactly
the scheme, host and port of `graphUrl`; any other raises `ProviderError` before
a request is made.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from typing import Any

import httpx

from reconciler.errors import HttpError, ProviderError
from reconciler.providers.http import HttpApi, short_error
from reconciler.providers.origins import origin_text, same_origin
from reconciler.providers.paging import Page, paginate

# Exactly the user fields the engine uses (see cache.user_of).
USER_SELECT = (
    "id", "userPrincipalName", "mail", "givenName", "surname", "displayName", "accountEnabled",
    "assignedLicenses", "onPremisesImmutableId", "onPremisesSamAccountName", "proxyAddresses",
    "userType",
)  # fmt: skip
PAGE_SIZE = 999  # Graph's maximum $top for users
MEMBER_SELECT = ("id", "userPrincipalName", "displayName")


# read by the delta round itself (429 stays with the seam's retries)
_CLIENT_ERRORS = tuple(code for code in range(400, 500) if code != 429)


class DeltaExpired(Exception):
    """The delta link can no longer be used; a full read is needed."""


def graph_error_text(body: Any) -> str | None:
    """`{"error": {"code", "message"}}` (Graph) or `{"error", "error_description"}` (identity)."""
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if isinstance(error, dict):
        return f"{error.get('code', '')}: {error.get('message', '')}".strip(": ")
    if isinstance(error, str):
        return f"{error}: {body.get('error_description', '')}".split(" Trace ID:", 1)[0]
    return None


class GraphClient:
    def __init__(self, api: HttpApi, graph_url: str) -> None:
        self.api = api
        self.graph_url = graph_url
        self.base = graph_url.rstrip("/") + "/v1.0"

    def owns(self, link: str) -> bool:
        """Whether `link` is on graphUrl (scheme, host and port), so the token may go with it."""
        return same_origin(link, self.graph_url)

    def _checked(self, link: str, what: str) -> str:
        if not self.owns(link):
            raise ProviderError(
                self.api.where,
                f"{what} points at {origin_text(link)}, not at graphUrl {origin_text(self.graph_url)}; "
                "not followed (the bearer token would go with it)",
            )
        return link

    def users(self) -> Iterator[dict[str, Any]]:
        params = {"$select": ",".join(USER_SELECT), "$top": str(PAGE_SIZE)}
        yield from self._pages(f"{self.base}/users", params)

    def group_members(self, group_id: str, *, transitive: bool = False) -> Iterator[dict[str, Any]]:
        kind = "transitiveMembers" if transitive else "members"
        params = {"$select": ",".join(MEMBER_SELECT), "$top": str(PAGE_SIZE)}
        yield from self._pages(f"{self.base}/groups/{group_id}/{kind}", params)

    def latest_delta_link(self) -> str:
        params = {"$select": ",".join(USER_SELECT), "$deltatoken": "latest"}
        try:
            _, link = self._delta_round(f"{self.base}/users/delta", params)
        except DeltaExpired as exc:  # not on a fresh request: something is wrong on Graph's side
            raise ProviderError(self.api.where, f"GET /v1.0/users/delta: {exc}") from None
        return link

    def changes(self, delta_link: str) -> tuple[list[dict[str, Any]], str]:
        """The changes since `delta_link` (in order, possibly repeated) and the next delta link."""
        return self._delta_round(self._checked(delta_link, "the stored deltaLink"), None)

    def _pages(
        self, url: str, params: dict[str, str] | None, headers: dict[str, str] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every item of a listing; `headers` (ConsistencyLevel) go with every page."""

        def fetch(link: Hashable | None) -> Page[dict[str, Any]]:
            # the nextLink already carries the query
            here = str(link or url)
            body = self._object(self.api.get_json(here, params=None if link else params, headers=headers))
            return Page(self._values(body), self._next(body, here))

        return paginate(fetch, where=self.api.where, what=f"GET {_path(url)}")

    def _delta_round(self, url: str, params: dict[str, str] | None) -> tuple[list[dict[str, Any]], str]:
        """One delta round (users or groups): its items in order and the next deltaLink."""
        delta: list[str] = []

        def fetch(link: Hashable | None) -> Page[dict[str, Any]]:
            here = str(link or url)
            # any 4xx is read: Graph answers an expired token with 410 or with a
            # `syncStateNotFound` under 400 or other 40X codes; each means a full resync
            response = self.api.request("GET", here, params=None if link else params, ok=_CLIENT_ERRORS)
            if response.status_code == 410:
                raise DeltaExpired("410 Gone")
            if response.status_code >= 400:
                text = short_error(response, graph_error_text)
                if "syncstatenotfound" in text.lower():
                    raise DeltaExpired(text)
                raise HttpError(
                    self.api.where,
                    f"GET {_path(here)}: HTTP {response.status_code}: {text}",
                    response.status_code,
                )
            try:
                body = self._object(response.json())
            except ValueError:
                raise ProviderError(self.api.where, f"GET {_path(here)}: answer is not JSON") from None
            if body.get("@odata.deltaLink"):
                delta.append(
                    self._checked(str(body["@odata.deltaLink"]), f"@odata.deltaLink of GET {_path(here)}")
                )
                return Page(self._values(body))
            if not body.get("@odata.nextLink"):
                raise ProviderError(
                    self.api.where, f"GET {_path(here)}: delta page without nextLink or deltaLink"
                )
            return Page(self._values(body), self._next(body, here))

        items = list(paginate(fetch, where=self.api.where, what=f"GET {_path(url)} (delta)"))
        return items, delta[-1]

    def _next(self, body: dict[str, Any], here: str) -> str | None:
        link = body.get("@odata.nextLink")
        return self._checked(str(link), f"@odata.nextLink of GET {_path(here)}") if link else None

    def _object(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ProviderError(self.api.where, "Graph answered with something other than a JSON object")
        return body

    def _values(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        values = body.get("value")
        if not isinstance(values, list) or not all(isinstance(v, dict) and "id" in v for v in values):
            raise ProviderError(self.api.where, "Graph page has no 'value' list of objects with ids")
        return values


def _path(url: str) -> str:
    """Without the query: skip and delta tokens stay out of messages."""
    try:
        return httpx.URL(url).path
    except httpx.InvalidURL:
        return "(malformed URL)"
