"""--git with two daemon replicas on one PostgreSQL state, each with its own clone
of a real local repository: only the leader pulls and records the commit it
pulled; the other never pulls by itself and checks out exactly that commit."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from reconciler.daemon.configsource import GIT_HEAD, ConfigSource, GitRepo
from reconciler.daemon.metrics import DaemonMetrics
from reconciler.daemon.scheduler import Scheduler
from reconciler.state.backend import open_state
from reconciler.testing.clock import FakeClock
from tests.pgstate import use_postgres

from .conftest import Rig, edit_yaml
from .test_git import git, repos  # noqa: F401 - the fixture

pytestmark = pytest.mark.usefixtures("pg_dsn")


def _replica(root: Path, clock: FakeClock) -> Rig:
    """A replica as `reconciler daemon --git` builds it: no pull before the first cycle."""
    source = ConfigSource(root, clock, GitRepo(root), pull_first=False)
    backend = open_state(source.config)
    metrics = DaemonMetrics()
    scheduler = Scheduler(source, backend.store, backend.daemon, clock, metrics, random.Random(3))
    return Rig(root, clock, backend.store, backend.daemon, metrics, scheduler)


def test_only_the_leader_pulls_and_the_other_replica_follows_its_commit(
    repos: tuple[Path, Path],  # noqa: F811
    tmp_path: Path,
) -> None:
    author, first_clone = repos
    use_postgres(author)  # both replicas share one PostgreSQL state
    git(author, "commit", "-q", "-am", "state on postgres")
    git(author, "push", "-q", "origin", "HEAD:main")
    git(first_clone, "pull", "-q", "--ff-only")
    start = git(author, "rev-parse", "HEAD")
    second_clone = tmp_path / "second"
    git(tmp_path, "clone", "-q", "-b", "main", str(tmp_path / "remote.git"), str(second_clone))
    clock = FakeClock()
    leader, follower = _replica(first_clone, clock), _replica(second_clone, clock)
    try:
        leader.cycle()
        follower.cycle()
        assert leader.scheduler.role.is_leader and not follower.scheduler.role.is_leader
        assert leader.state.meta()[GIT_HEAD] == start

        edit_yaml(author / "policies" / "entra-standard.yaml", lambda d: d["spec"].update(paused=True))
        git(author, "commit", "-q", "-am", "pause the standard plan")
        git(author, "push", "-q", "origin", "HEAD:main")
        newer = git(author, "rev-parse", "HEAD")

        clock.advance(10)  # past gitPullIntervalSeconds and configCheckSeconds
        follower.cycle()  # the leader has not pulled it yet: the follower stays, and never pulls
        assert git(second_clone, "rev-parse", "HEAD") == start
        assert not (second_clone / ".git" / "FETCH_HEAD").exists()

        leader.cycle()  # the leader pulls and records
        assert git(first_clone, "rev-parse", "HEAD") == newer
        assert leader.state.meta()[GIT_HEAD] == newer

        clock.advance(10)
        follower.scheduler.request("contoso", "test")
        follower.cycle()  # fetched (it lacked the commit) and fast-forwarded to exactly it
        assert git(second_clone, "rev-parse", "HEAD") == newer
        assert follower.scheduler.source.commit == newer
        rec = follower.record("contoso")
        assert rec.last_result == "paused" and rec.last_commit == newer

        # a commit the leader recorded that the follower cannot reach: it stays where it is
        leader.state.put_meta(GIT_HEAD, "0" * 40)
        clock.advance(10)
        follower.cycle()
        assert git(second_clone, "rev-parse", "HEAD") == newer
        assert follower.scheduler.source.commit == newer
    finally:
        follower.close()
        leader.close()
