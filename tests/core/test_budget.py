"""The budget arithmetic (#16): slots of window/12, all-or-nothing grants, and when
a refused reservation fits; no sliding window ever holds more than the budget."""

from __future__ import annotations

import random

from reconciler.core.budget import SLOTS, Limit, decide, duration


def test_grants_until_the_budget_is_spent_then_says_when_it_frees() -> None:
    limit = Limit(10, 120.0)  # slots of 10 s
    rows: dict[float, int] = {}
    now = 1_000.0
    for i in range(10):
        t = decide(rows.items(), now + i, limit, 1)
        assert t.granted == 1
        rows[t.slot_start] = rows.get(t.slot_start, 0) + 1
    refused = decide(rows.items(), now + 11, limit, 1)
    assert refused.granted == 0 and refused.used == 10 and refused.left == 0
    # the oldest slot (1000 s) stops being counted one window and one slot later
    assert refused.until == 1_000.0 + 120.0 + 10.0
    assert decide(rows.items(), 1_130.0, limit, 1).granted == 1
    assert decide(rows.items(), 1_129.9, limit, 1).granted == 0


def test_all_or_nothing_and_never_more_than_the_whole_budget() -> None:
    limit = Limit(10, 60.0)
    t = decide([(0.0, 6)], 1.0, limit, 5)
    assert t.granted == 0 and t.until == 0.0 + 60.0 + 5.0
    assert decide([(0.0, 6)], 1.0, limit, 4).granted == 4
    never = decide([], 1.0, limit, 11)
    assert never.granted == 0 and never.until is None


def test_no_sliding_window_ever_holds_more_than_the_budget() -> None:
    rng = random.Random(7)
    limit = Limit(50, 60.0)
    rows: dict[float, int] = {}
    sent: list[float] = []
    now = 0.0
    while now < 600:
        now += rng.expovariate(5.0)  # 5 requests a second wanted: ten times the budget
        t = decide(rows.items(), now, limit, rng.choice((1, 1, 1, 3)))
        if t.granted:
            rows[t.slot_start] = rows.get(t.slot_start, 0) + t.granted
            sent += [now] * t.granted
    assert len(sent) > 400  # the budget was used, not starved
    for i, start in enumerate(sent):
        inside = sum(1 for s in sent[i:] if s < start + limit.window)
        assert inside <= limit.requests, (start, inside)


def test_words() -> None:
    assert SLOTS == 12
    assert Limit(1500, 300).describe() == "1500 requests per 5 minutes"
    assert duration(3600) == "hour" and duration(60) == "minute" and duration(45) == "45 s"
