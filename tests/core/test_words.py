"""Counted nouns: "1 customer", never "1 customers" or "customer(s)"."""

from __future__ import annotations

from reconciler.core.words import count


def test_count_picks_the_right_form() -> None:
    assert count(1, "customer") == "1 customer"
    assert count(0, "customer") == "0 customers"
    assert count(2, "import policy") == "2 import policies"
    assert count(1, "password entry") == "1 password entry"
    assert count(3, "password entry") == "3 password entries"
    assert count(2, "match") == "2 matches"
    assert count(12000, "account") == "12000 accounts"
    assert count(2, "record", "records to create") == "2 records to create"
