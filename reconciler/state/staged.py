"""State: provider cursors held back until the plan that read them is accepted (#12).

A directory answer the safety guards refuse (no users, a mass drop) must not
become the cached user set (Entra's `entra.users`, the AD incremental state):
later delta reads would build on it and keep refusing until someone forces a
full sync. So while a customer is being planned, its cursor writes are staged
here; the engine commits them in one transaction when the plan is accepted and
drops them when it is refused or failed. Reads see the staged values first, so a
reader that writes and then reads back within one plan sees its own writes.

`plan` therefore writes no state except the cursors of answers it accepted.
"""

from __future__ import annotations

import threading

from reconciler.state.api import StateStore


class StagedCursors:
    """A `CursorStore` over a state store; customers inside `stage()` are held back."""

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._staged: dict[str, dict[str, str | None]] = {}

    def stage(self, customer: str) -> None:
        with self._lock:
            self._staged[customer] = {}

    def commit(self, customer: str) -> int:
        """Write the customer's staged cursors in one transaction; how many."""
        with self._lock:
            pending = self._staged.pop(customer, {})
        if pending:
            with self.store.batch():
                for name, value in pending.items():
                    self.store.put_cursor(customer, name, value)
        return len(pending)

    def discard(self, customer: str) -> int:
        with self._lock:
            return len(self._staged.pop(customer, {}))

    def get_cursor(self, customer: str, name: str) -> str | None:
        with self._lock:
            pending = self._staged.get(customer)
            if pending is not None and name in pending:
                return pending[name]
        return self.store.get_cursor(customer, name)

    def put_cursor(self, customer: str, name: str, value: str | None) -> None:
        with self._lock:
            pending = self._staged.get(customer)
            if pending is not None:
                pending[name] = value
                return
        self.store.put_cursor(customer, name, value)
