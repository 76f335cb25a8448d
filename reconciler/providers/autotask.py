"""Live stage: Autotask provider (placeholder until its client lands)."""

from __future__ import annotations

from typing import NoReturn

from reconciler.errors import ProviderError
from reconciler.providers.base import ProviderContext


def open_autotask(ctx: ProviderContext) -> NoReturn:
    raise ProviderError(ctx.name, "Autotask client is not implemented yet; use Settings snapshot mode")
