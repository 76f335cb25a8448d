"""Live stage: Entra provider (placeholder until its client lands)."""

from __future__ import annotations

from typing import NoReturn

from reconciler.errors import ProviderError
from reconciler.providers.base import ProviderContext


def open_entra(ctx: ProviderContext) -> NoReturn:
    raise ProviderError(ctx.name, "Entra client is not implemented yet; use Settings snapshot mode")
