"""Test helper: a throwaway PostgreSQL cluster on a free loopback port.

    with pgcluster.cluster() as pg:
        dsn = pg.dsn            # postgresql://reconciler@127.0.0.1:PORT/reconciler
        pg.restart()            # for the "database went away" tests

`initdb` into a temporary directory (as the `postgres` user when running as
root: the server refuses to run as root), trust authentication on 127.0.0.1
only, stopped and removed at the end. `scripts/install-postgres` installs the
server packages where missing. `RECONCILER_TEST_PG_DSN` points the tests at a
server of your own instead (`external()` returns it).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ENV_DSN = "RECONCILER_TEST_PG_DSN"
USER = "reconciler"
DATABASE = "reconciler"


class ClusterError(RuntimeError):
    pass


def _bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not candidates:
        raise ClusterError(f"{name} not found: run scripts/install-postgres (or set {ENV_DSN})")
    return candidates[-1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    data: Path
    port: int
    run_as: str | None

    @property
    def dsn(self) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{DATABASE}"

    def _cmd(self, *args: str) -> list[str]:
        return ["runuser", "-u", self.run_as, "--", *args] if self.run_as else list(args)

    def start(self) -> None:
        log = self.data.parent / "server.log"
        subprocess.run(
            self._cmd(
                _bin("pg_ctl"), "-D", str(self.data), "-l", str(log), "-w", "-t", "60",
                "-o", f"-p {self.port} -k {self.data.parent} -c listen_addresses=127.0.0.1", "start",
            ),
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        subprocess.run(
            self._cmd(_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"),
            check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def restart(self) -> None:
        """Stop the server at once (every connection is dropped) and start it again."""
        self.stop("immediate")
        self.start()

    def psql(self, sql: str) -> str:
        done = subprocess.run(
            [_bin("psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", USER, "-d", DATABASE,
             "-At", "-v", "ON_ERROR_STOP=1", "-c", sql],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        return done.stdout


@contextlib.contextmanager
def cluster() -> Iterator[Cluster]:
    run_as = "postgres" if os.geteuid() == 0 else None
    base = Path(tempfile.mkdtemp(prefix="reconciler-pg-"))
    try:
        if run_as:
            pw = pwd.getpwnam(run_as)
            os.chown(base, pw.pw_uid, pw.pw_gid)
        c = Cluster(base / "data", free_port(), run_as)
        subprocess.run(
            c._cmd(_bin("initdb"), "-D", str(c.data), "-U", USER, "--auth=trust", "-E", "UTF8",
                   "--no-sync", "--no-instructions"),
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        with (c.data / "postgresql.conf").open("a") as conf:
            # a test server: durability off, enough connections for replicas' pools
            conf.write(
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 300\n"
            )
        c.start()
        try:
            _wait(c)
            subprocess.run(
                [_bin("createdb"), "-h", "127.0.0.1", "-p", str(c.port), "-U", USER, DATABASE], check=True
            )
            yield c
        finally:
            c.stop("immediate")
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _wait(c: Cluster, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", c.port), timeout=1):
            return
        time.sleep(0.1)
    raise ClusterError(f"PostgreSQL did not listen on 127.0.0.1:{c.port}")


def external() -> str | None:
    return os.environ.get(ENV_DSN) or None
