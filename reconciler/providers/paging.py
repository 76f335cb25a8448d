"""Live stage: the one paginator every vendor client uses (IT Glue, Hudu,
ConnectWise, Autotask, Halo, Microsoft Graph, GitHub).

A client says how to fetch one page (`fetch(cursor) -> Page`) and what asks for
the next one (a page number, a `next` link, a `nextPageUrl`); `paginate` does the
rest the same way for all of them: stops on the last page, refuses a cursor seen
before (a server that loops), bounds the number of pages, and checks that a
link the server hands out stays on the origin the credentials were meant for.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from reconciler.errors import ProviderError
from reconciler.providers.origins import origin_text, same_origin

T = TypeVar("T")
MAX_PAGES = 100_000  # a server that never stops paging is a bug, not a big customer


@dataclass(frozen=True)
class Page(Generic[T]):
    items: Sequence[T]
    next: Hashable | None = None  # what fetches the following page; None on the last one


def paginate(
    fetch: Callable[[Hashable | None], Page[T]],
    *,
    where: str,
    what: str,
    first: Hashable | None = None,
    max_pages: int = MAX_PAGES,
) -> Iterator[T]:
    """Every item of every page, in order; `fetch(first)` gets the first page."""
    seen: set[Hashable] = set()
    cursor = first
    for _ in range(max_pages):
        page = fetch(cursor)
        yield from page.items
        if page.next is None:
            return
        if page.next in seen or page.next == cursor:
            raise ProviderError(where, f"{what}: paging does not advance")
        seen.add(page.next)
        cursor = page.next
    raise ProviderError(where, f"{what}: more than {max_pages} pages; refused")


def unique(items: Iterable[T], key: Callable[[T], str | None]) -> Iterator[T]:
    """Items whose key was not seen before (servers repeat rows across pages)."""
    seen: set[str] = set()
    for item in items:
        k = key(item)
        if k is None or k in seen:
            continue
        seen.add(k)
        yield item


def next_link(link: object, base: str, *, where: str, what: str) -> str | None:
    """A `next` link the server handed out, if it is on `base`'s origin; None at the end.
    A link elsewhere is refused, never followed: it would carry our credentials."""
    if not link:
        return None
    text = str(link)
    if not same_origin(text, base):
        raise ProviderError(where, f"{what}: the next page link points at {origin_text(text)}; not followed")
    return text
