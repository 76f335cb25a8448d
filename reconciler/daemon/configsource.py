"""Daemon stage: the config as it is on disk now, or the last valid one.

The scheduler asks at most every `configCheckSeconds` (default 5, and at once
before an import-now run); each check reads the YAML files' names, sizes and
modification times (cheap), and every few minutes their bytes (modification
times can be coarse); when they changed, the tree is re-read and re-validated. A valid tree replaces
the running config; an invalid one is reported (once per edit) and the last
valid config keeps running. With `--git` the repository is pulled first (at
most every `gitPullIntervalSeconds`) and the commit is recorded with each run.

Replicas (`GitFollow`): only the leader pulls; it records the commit it pulled
in the shared state (daemon meta `git_head`), and every other replica brings
its own clone to exactly that commit (a fetch only when it lacks the commit,
then a fast-forward), so every replica runs the commit the leader chose and
the remote sees one puller, not one per replica.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from reconciler.config import ConfigSet, load_valid_config
from reconciler.core.words import count
from reconciler.daemon.clock import Clock
from reconciler.daemon.logs import event
from reconciler.errors import ConfigError, ReconcilerError
from reconciler.state.api import DaemonStore

_log = logging.getLogger("reconciler.daemon")
GIT_TIMEOUT = 60.0
MAX_PROBLEMS_LOGGED = 5
CONTENT_CHECK_SECONDS = 300.0  # compare bytes even when sizes and times look the same (coarse mtimes)
Fingerprint = tuple[tuple[str, int, int], ...]


class GitError(ReconcilerError):
    pass


@dataclass(frozen=True)
class GitRepo:
    """The config directory's git work tree: pull and read HEAD (no prompts)."""

    root: Path

    def _git(self, *args: str) -> str:
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
        try:
            done = subprocess.run(
                ["git", "-C", str(self.root), *args],
                capture_output=True,
                text=True,
                timeout=GIT_TIMEOUT,
                env=env,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise GitError(f"git {args[0]}: {type(exc).__name__}") from None
        if done.returncode != 0:
            raise GitError(f"git {args[0]} failed: {_scrub(done.stderr)}")
        return done.stdout.strip()

    def pull(self) -> None:
        self._git("pull", "--ff-only", "--quiet")

    def head(self) -> str:
        return self._git("rev-parse", "HEAD")

    def follow(self, commit: str) -> None:
        """Bring the work tree to `commit` (the leader's): fetch only when it is not
        here yet, then fast-forward (never a merge of our own)."""
        if not re.fullmatch(r"[0-9a-f]{40}([0-9a-f]{24})?", commit):
            raise GitError(f"git follow: not a commit id: {commit[:80]!r}")
        try:
            self._git("cat-file", "-e", f"{commit}^{{commit}}")
        except GitError:
            self._git("fetch", "--quiet")
        self._git("merge", "--ff-only", "--quiet", commit)


GIT_HEAD = "git_head"  # daemon meta: the commit the leader pulled last


@dataclass(frozen=True)
class GitFollow:
    """Who pulls: the leader (`leads()`), which records what it pulled; the others
    follow the recorded commit."""

    state: DaemonStore
    leads: Callable[[], bool]

    def recorded(self) -> str:
        value = self.state.meta().get(GIT_HEAD)
        return str(value) if isinstance(value, str) else ""

    def record(self, commit: str) -> None:
        if commit and commit != self.recorded():
            self.state.put_meta(GIT_HEAD, commit)


def _scrub(text: str) -> str:
    """git's stderr, one line, without credentials embedded in remote URLs."""
    text = re.sub(r"://[^/@\s]+@", "://***@", text)
    text = " ".join(text.split())
    return text[:300]


def scan(root: Path) -> list[tuple[str, str, int, int]]:
    """(relative name, path, mtime_ns, size) of the YAML files `load_config` reads:
    *.yaml / *.yml anywhere below `root`, hidden entries skipped. Plain os.scandir
    keeps this cheap enough to run every cycle on a fleet's worth of files."""
    out: list[tuple[str, str, int, int]] = []
    stack = [("", str(root))]
    while stack:
        prefix, directory = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_dir():
                    stack.append((prefix + entry.name + "/", entry.path))
                elif entry.name.endswith((".yaml", ".yml")) and entry.is_file():
                    st = entry.stat()
                    out.append((prefix + entry.name, entry.path, st.st_mtime_ns, st.st_size))
            except OSError:
                continue
    out.sort()
    return out


def fingerprint(files: list[tuple[str, str, int, int]]) -> Fingerprint:
    return tuple((rel, mtime, size) for rel, _, mtime, size in files)


def content_digest(files: list[tuple[str, str, int, int]]) -> str:
    digest = hashlib.sha256()
    for rel, path, _, _ in files:
        with contextlib.suppress(OSError), open(path, "rb") as fh:
            digest.update(rel.encode() + b"\0" + fh.read() + b"\0")
    return digest.hexdigest()


class ConfigSource:
    def __init__(
        self,
        root: Path,
        clock: Clock,
        git: GitRepo | None = None,
        log: logging.Logger | None = None,
        pull_first: bool = True,
    ) -> None:
        self.root = root
        self.clock = clock
        self.git = git
        self.error: str = ""  # why the config on disk is not running (empty: it is)
        self.commit: str = ""  # the commit of the running config (with --git)
        self._head: str = ""
        self._fp: Fingerprint = ()
        self._last_pull = float("-inf")
        self._checked_at = float("-inf")
        self._content = ""
        self._lock = threading.Lock()
        self._follow: GitFollow | None = None
        self._followed = ""  # the recorded commit a follower last failed to reach (logged once)
        self.config: ConfigSet = self._first_load(pull_first)

    def coordinate(self, follow: GitFollow) -> None:
        """Replicas: from now on only the leader pulls; the others follow its commit."""
        self._follow = follow

    def _first_load(self, pull: bool) -> ConfigSet:
        if pull:
            self._pull_now()
        elif self.git is not None:
            try:  # replicas: the leader decides what to pull, at the first cycle
                self._head = self.git.head()
            except GitError as exc:
                event(logging.ERROR, "git.failed", f"{exc}; keeping the files on disk")
        files = scan(self.root)
        self._fp, self._checked_at = fingerprint(files), self.clock.monotonic()
        self._content = content_digest(files)
        config = load_valid_config(self.root)
        self.commit = self._head
        return config

    def refresh(self) -> bool:
        """Pick up edits; True when a new valid config replaced the running one."""
        with self._lock:
            return self._refresh()

    def _refresh(self) -> bool:
        self._pull()
        files = scan(self.root)
        fp, now = fingerprint(files), self.clock.monotonic()
        if fp == self._fp and now - self._checked_at < CONTENT_CHECK_SECONDS:
            return self._unchanged()
        self._fp, self._checked_at = fp, now
        content = content_digest(files)
        if content == self._content:  # touched, or the periodic check: same bytes
            return self._unchanged()
        self._content = content
        try:
            config = load_valid_config(self.root)
        except ConfigError as exc:
            problems = [str(p) for p in exc.problems]
            self.error = f"{count(len(problems), 'problem')}: " + "; ".join(problems[:MAX_PROBLEMS_LOGGED])
            event(
                logging.ERROR,
                "config.invalid",
                f"config on disk is invalid; still running the last valid config ({self.error})",
                digest=self.config.digest[:12],
            )
            return False
        self.error = ""
        self.commit = self._head
        if config.digest == self.config.digest:
            return False
        self.config = config
        event(
            logging.INFO,
            "config.reloaded",
            f"config reloaded: {len(config.customers)} customers",
            digest=config.digest[:12],
            commit=self.commit[:12],
        )
        return True

    def _unchanged(self) -> bool:
        if not self.error:
            self.commit = self._head  # a pull that changed no config file
        return False

    def _pull(self) -> None:
        if self.git is None:
            return
        if self._follow is not None and not self._follow.leads():
            self._follow_leader(self.git, self._follow)
            return
        interval = self.config.settings_doc.spec.daemon.git_pull_interval_seconds
        if self.clock.monotonic() - self._last_pull >= interval:
            self._pull_now()

    def _follow_leader(self, git: GitRepo, follow: GitFollow) -> None:
        """Not the leader: the clone goes to the commit the leader recorded, if newer."""
        try:
            wanted = follow.recorded()
        except ReconcilerError as exc:
            _log.warning("cannot read the leader's commit: %s", exc)
            return
        if not wanted or wanted == self._head:
            return
        try:
            git.follow(wanted)
            self._head = git.head()
        except GitError as exc:
            if wanted != self._followed:  # once per commit, not every check
                event(
                    logging.ERROR, "git.failed", f"{exc}; still on {self._head[:12] or 'the files on disk'}"
                )
            self._followed = wanted

    def _pull_now(self) -> None:
        if self.git is None:
            return
        self._last_pull = self.clock.monotonic()
        try:
            self.git.pull()
            self._head = self.git.head()
        except GitError as exc:
            event(logging.ERROR, "git.failed", f"{exc}; keeping the files on disk")
            return
        if self._follow is not None:
            try:  # what the other replicas check out
                self._follow.record(self._head)
            except ReconcilerError as exc:
                _log.warning("cannot record the pulled commit for the other replicas: %s", exc)
