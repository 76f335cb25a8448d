"""Errors: one root type carrying an exit code, mapped by the CLI.

    ReconcilerError (exit 1)
    ├── ConfigError            config could not be loaded or validated; carries every problem
    ├── SecretError            a secret reference could not be resolved (never carries the value)
    ├── StateError             state store problems
    │   ├── LockHeldError      another process holds a customer's lock
    │   └── StalePlanError     a saved plan no longer matches config or state
    ├── ProviderError          a live system answered badly (per customer, never fatal for others)
    │   ├── BudgetExhausted    ...or was not asked: the MSP-wide request budget is used up (`until`)
    │   ├── NotDelivered       ...and certainly did not act on the request (safe to redo)
    │   └── HttpError          an HTTP exchange failed (`status` when there was an answer)
    │       ├── AmbiguousWrite a non-idempotent request may or may not have taken effect
    │       └── Rejected       the vendor definitively refused a write (validation): never retried
    └── SafetyRefusal (exit 3) a plan was refused by a safety guard

Exit codes: 0 ok / no changes, 1 error, 2 changes pending (with --detailed-exitcode),
3 refused by a safety guard.
"""

from __future__ import annotations

from dataclasses import dataclass

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2
EXIT_REFUSED = 3
EXIT_DEFERRED = 4  # apply: a run window (quiet hours) deferred a customer; nothing of it applied

# A live check's line that informs but does not fail (`validate --live`): a renamed selection
WARNING = "warning: "


@dataclass(frozen=True, slots=True)
class Problem:
    """One user-facing problem with where it is: `file:line:col: message`."""

    message: str
    file: str = ""
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if not self.file:
            return self.message
        if not self.line:
            return f"{self.file}: {self.message}"
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class ReconcilerError(Exception):
    exit_code = EXIT_ERROR


class ConfigError(ReconcilerError):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.file, p.line, p.column, p.message))
        super().__init__("\n".join(str(p) for p in self.problems))


class SecretError(ReconcilerError):
    pass


class StateError(ReconcilerError):
    pass


class LockHeldError(StateError):
    pass


class LeaseLostError(StateError):
    """Our lease on a customer was taken over (or broken): fencing refused a write."""


class StalePlanError(StateError):
    pass


class ProviderError(ReconcilerError):
    """A live system failed; `where` names the customer (and integration)."""

    def __init__(self, where: str, message: str) -> None:
        self.where = where
        self.message = message
        super().__init__(f"{where}: {message}")


class BudgetExhausted(ProviderError):
    """The MSP-wide request budget of an integration cannot cover the request (#16);
    nothing was sent. `until`: when it will (seconds since the epoch)."""

    def __init__(self, where: str, message: str, until: float) -> None:
        super().__init__(where, message)
        self.until = until


class NotDelivered(ProviderError):
    """The target certainly did not take the request (e.g. an SMTP server refused the
    message), so doing it again later cannot duplicate anything."""


class HttpError(ProviderError):
    """An HTTP exchange failed; `status` is the answer's status code, None without one."""

    def __init__(self, where: str, message: str, status: int | None = None) -> None:
        super().__init__(where, message)
        self.status = status


class AmbiguousWrite(HttpError):
    """A non-idempotent request failed in a way that leaves its effect unknown."""


class Rejected(HttpError):
    """The vendor said, in a body it documents for this, that it did not take the
    request (e.g. Autotask's validation errors, sent as HTTP 500): retrying or
    looking for the record cannot help."""


class SafetyRefusal(ReconcilerError):
    exit_code = EXIT_REFUSED
