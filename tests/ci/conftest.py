"""Fixtures for the CI tests: a scratch copy of the quickstart, the fake GitHub API."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from cisupport import QUICKSTART

from reconciler.testing.github import FakeGitHub


@pytest.fixture
def quickstart(tmp_path: Path) -> Path:
    work = tmp_path / "quickstart"
    shutil.copytree(QUICKSTART, work, ignore=shutil.ignore_patterns(".reconciler"))
    return work


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub(token="test-token-not-a-secret")
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()
