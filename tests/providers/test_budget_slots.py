"""A reservation is spent in the slot it was counted in (#16, docs/budgets.md "The ledger").

The ledger counts a reservation in the slot of the moment it was granted; a grant
looks back one window and one slot. A run that draws on its reservation later
than that slot (a 429 that waits out IT Glue's or Hudu's window, a client limiter,
slow answers, a long listing) sent requests the ledger had already let age out
of every later grant's view, so two runs together put more than the budget into
one sliding window. A reservation still held when its slot has passed is given
back and reserved again in the current slot before the next request is sent.

Real SQLite ledgers (two connections to one state file: two processes), a fake
clock; `take()` is what `HttpApi.request` calls before each attempt it sends.
"""

from __future__ import annotations

import random
from pathlib import Path

from reconciler.core.budget import Limit
from reconciler.core.model import IntegrationKind
from reconciler.errors import BudgetExhausted
from reconciler.providers.budget import Budgets, Spender
from reconciler.state.ledger import SqliteLedger
from reconciler.state.store import SqliteStore

HUDU = IntegrationKind.HUDU
LIMIT = Limit(10, 60.0)  # slots of 5 s


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def processes(tmp_path: Path, clock: Clock, n: int = 2) -> list[Budgets]:
    path = tmp_path / "state.db"
    SqliteStore(path).close()  # the state file with its ledger table
    return [Budgets(SqliteLedger(path, "msp"), {HUDU: LIMIT}, clock=clock) for _ in range(n)]


def spender(budgets: Budgets, customer: str, need: int) -> Spender:
    s = budgets.customer(customer, {HUDU: need}).spender("hudu", f"{customer}: Hudu")
    assert s is not None
    return s


def worst_window(sent: list[float], window: float) -> int:
    sent = sorted(sent)
    return max((sum(1 for t in sent[i:] if t < start + window) for i, start in enumerate(sent)), default=0)


def test_a_reservation_drawn_on_after_its_slot_aged_out_is_counted_again(tmp_path: Path) -> None:
    clock = Clock(1_000_000.0)
    a_proc, b_proc = processes(tmp_path, clock)
    sent: list[float] = []
    a = spender(a_proc, "contoso", 10)
    a.take()  # reserves 10 at t0, sends 1, then waits out the vendor's window (a 429)
    sent.append(clock.now)
    clock.now += 70  # t0's slot is no longer counted by a grant now
    b = spender(b_proc, "fabrikam", 10)
    for _ in range(10):
        b.take()
        sent.append(clock.now)
    refused = 0
    for _ in range(9):
        try:
            a.take()
        except BudgetExhausted:
            refused += 1
            break
        sent.append(clock.now)
    assert refused == 1
    assert worst_window(sent, LIMIT.window) <= LIMIT.requests


def test_runs_that_span_slots_never_put_more_than_the_budget_into_a_window(tmp_path: Path) -> None:
    rng = random.Random(16)
    clock = Clock(2_000_000.0)
    procs = processes(tmp_path, clock, 3)
    sent: list[float] = []
    runs: dict[int, tuple[Spender, int]] = {}  # run id -> its spender, requests it still makes
    queue: list[tuple[float, int]] = [(clock.now, -1)]  # (when, run id); -1: the next run starts
    end = clock.now + 900
    next_id = 0
    while queue:
        queue.sort()
        clock.now, rid = queue.pop(0)
        if rid < 0:
            need = rng.randint(1, 5)
            runs[next_id] = (spender(procs[next_id % 3], f"c{next_id}", need), need + rng.randint(0, 2))
            queue.append((clock.now, next_id))
            next_id += 1
            if clock.now < end:
                queue.append((clock.now + rng.expovariate(1.0), -1))  # a run a second
            continue
        s, left = runs[rid]
        try:
            s.take()
        except BudgetExhausted:
            s.close()
            continue
        sent.append(clock.now)
        if left > 1:
            runs[rid] = (s, left - 1)
            queue.append((clock.now + rng.expovariate(1 / 8.0), rid))  # seconds between its requests
        else:
            s.close()
    assert len(sent) > 100  # the budget was used, not starved
    assert worst_window(sent, LIMIT.window) <= LIMIT.requests


def test_each_request_is_counted_in_the_slot_it_is_sent_in_after_a_pacing_wait(tmp_path: Path) -> None:
    """The client limiter (requestsPerMinute pacing) may hold a request for longer than a
    slot: the budget is taken after that wait, right before the request goes out."""
    import sqlite3
    from collections import Counter

    import httpx

    from reconciler.providers.http import HttpApi
    from reconciler.providers.limits import RateLimiter

    clock = Clock(3_000_000.0)

    def sleep(seconds: float) -> None:
        clock.now += seconds

    (budgets,) = processes(tmp_path, clock, 1)
    budgets.sleep = sleep
    sent: list[float] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(clock.now)
        return httpx.Response(200, json={"ok": True})

    api = HttpApi(
        httpx.Client(transport=httpx.MockTransport(answer), base_url="https://hudu.test"),
        "contoso: Hudu",
        limiter=RateLimiter(1, 12.0, clock=clock, sleep=sleep),  # one request per 12 s
        spend=spender(budgets, "contoso", 3),
        sleep=sleep,
        clock=clock,
        wall=clock,
    )
    for _ in range(3):
        api.get_json("/api/v1/companies")
    api.close()
    assert sent == [3_000_000.0, 3_000_012.0, 3_000_024.0]
    with sqlite3.connect(tmp_path / "state.db") as db:
        rows = dict(db.execute("SELECT slot_start, used FROM budget_ledger WHERE used > 0").fetchall())
    assert rows == dict(Counter(LIMIT.slot_start(t) for t in sent))
