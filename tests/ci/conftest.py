"""Fixtures for the CI tests: the fake GitHub API on loopback (tests/conftest.py has `quickstart`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from reconciler.testing.github import FakeGitHub


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub(token="test-token-not-a-secret")
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()
