"""Secrets are masked as whole values only (#17 item 7)."""

from __future__ import annotations

from reconciler.redaction import redact_values


def test_whole_values_are_masked() -> None:
    assert redact_values("bind as admin@x with S3cret! failed", ["S3cret!", "admin@x"]) == (
        "bind as *** with *** failed"
    )
    assert redact_values("key=pen; pen", ["pen"]) == "key=***; ***"


def test_a_short_secret_inside_words_is_left_alone() -> None:
    # masking every "pen" would print "o***ening" and "ref***sed" and tell the secret
    text = "socket error while opening: connection refused"
    assert redact_values(text, ["pen", "u"]) == text


def test_the_longest_value_wins_and_empty_values_are_ignored() -> None:
    assert redact_values("token abc-123 and abc", ["abc", "abc-123", ""]) == "token *** and ***"
