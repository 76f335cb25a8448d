"""State: what a lease conflict says, the same words for every backend."""

from __future__ import annotations

from reconciler.state.api import Lease


def held_message(customer: str, lease: Lease, now: float, gone: bool) -> str:
    """A second holder is refused: say who holds the customer and until when."""
    left = max(0.0, lease.expires_at - now)
    tail = (
        f"its process is gone: it is taken over when the lease expires in {left:.0f}s, "
        "or break it now with `reconciler state unlock`"
        if gone
        else f"another apply is running (lease epoch {lease.epoch}, expires in {left:.0f}s unless renewed)"
    )
    return f"{customer}: locked by {lease.describe(now)}; {tail}"


def lost_message(customer: str, epoch: int, current: Lease | None, now: float) -> str:
    """Fencing refused a write: our epoch is no longer the customer's."""
    if current is None or not current.holder:
        by = "it was broken (`reconciler state unlock`)"
    else:
        by = f"taken over by {current.describe(now)}, epoch {current.epoch}"
    return (
        f"{customer}: this apply lost its lease (epoch {epoch}): {by}; stopped before writing anything more"
    )
