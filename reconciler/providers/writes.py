"""Live stage: `create_once`, every vendor's create that is not blindly re-sent
when its outcome is unknown: look for the record the earlier try may have made,
then try again."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from reconciler.errors import AmbiguousWrite, ProviderError
from reconciler.providers.http import HttpApi

log = logging.getLogger("reconciler.http")
T = TypeVar("T")


def create_once(
    api: HttpApi, post: Callable[[], T], find: Callable[[], T | None], what: str, attempts: int = 3
) -> T:
    """`post()` a new record at most once in effect: when a try's outcome is unknown,
    wait, look for the record that try may have made (`find`), and only then try again."""
    last: AmbiguousWrite | None = None
    for attempt in range(1, attempts + 2):
        if last is not None:
            api.sleep(api.retry.base_delay * 2 ** (attempt - 2))
            try:
                found = find()
            except ProviderError as exc:
                raise ProviderError(
                    api.where,
                    f"{what}: outcome unknown ({last.message}); looking for it failed: {exc.message}",
                ) from None
            if found is not None:
                log.info("%s: %s: the earlier try had created it", api.where, what)
                return found
        if attempt > attempts:
            break
        try:
            return post()
        except AmbiguousWrite as exc:
            log.info("%s: %s: %s; checking before trying again", api.where, what, exc.message)
            last = exc
    assert last is not None
    raise ProviderError(api.where, f"{what}: {last.message}; gave up after {attempts} tries")
