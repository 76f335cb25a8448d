"""--git: the config repository is pulled before a cycle and each run records its commit."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import QUICKSTART, TOKEN, edit_yaml, make_rig, set_daemon

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.invalid",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.invalid",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True, env={**os.environ, **GIT_ENV}
    )
    return done.stdout.strip()


@pytest.fixture
def repos(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """(author's clone, the daemon's clone) of one bare repository."""
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("RECONCILER_TEST_TOKEN", TOKEN)
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    author = tmp_path / "author"
    git(tmp_path, "clone", "-q", str(remote), str(author))
    shutil.copytree(QUICKSTART, author, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".reconciler"))
    set_daemon(author, jitterPercent=0, gitPullIntervalSeconds=5)
    git(author, "add", "-A")
    git(author, "commit", "-q", "-m", "fleet")
    git(author, "push", "-q", "origin", "HEAD:main")
    daemon = tmp_path / "daemon"
    git(tmp_path, "clone", "-q", "-b", "main", str(remote), str(daemon))
    return author, daemon


def test_pulls_before_a_cycle_and_records_the_commit_of_each_run(repos: tuple[Path, Path]) -> None:
    author, config = repos
    first = git(author, "rev-parse", "HEAD")
    rig = make_rig(config, git=True)
    try:
        rig.cycle()
        assert rig.record("contoso").last_commit == first
        assert rig.state.meta()["config_commit"] == first

        edit_yaml(author / "policies" / "entra-standard.yaml", lambda d: d["spec"].update(paused=True))
        git(author, "commit", "-q", "-am", "pause the standard plan")
        git(author, "push", "-q", "origin", "HEAD:main")
        second = git(author, "rev-parse", "HEAD")

        rig.cycle()  # within gitPullIntervalSeconds: not pulled yet
        assert rig.scheduler.source.commit == first
        rig.clock.advance(5)
        rig.scheduler.request("contoso", "test")
        rig.cycle()
        assert rig.scheduler.source.commit == second
        rec = rig.record("contoso")
        assert rec.last_result == "paused" and rec.last_commit == second
        assert rig.state.meta()["config_commit"] == second
    finally:
        rig.close()


def test_a_failing_pull_keeps_the_files_on_disk(
    repos: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    _author, config = repos
    rig = make_rig(config, git=True)
    try:
        rig.cycle()
        git(config, "remote", "set-url", "origin", "https://user:hunter2@127.0.0.1:9/nowhere.git")
        rig.clock.advance(5)
        rig.scheduler.request("contoso", "test")
        rig.cycle()
        assert rig.record("contoso").last_result == "in-sync"
        assert "git pull failed" in caplog.text
        assert "hunter2" not in caplog.text  # credentials in a remote URL never reach the log
    finally:
        rig.close()
