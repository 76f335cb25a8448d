"""Test helper: a real Samba AD domain controller on loopback (APIS.md section 3).

    dc = samba.acquire(DcSpec("tests", seed=my_seed, version="..."))
    ... dc.admin() is an ldap3 connection as Administrator over LDAPS ...
    samba.release(dc)

- Installs the Debian packages when missing (`scripts/install-samba`, needs root).
- Provisions once per spec and caches the result (the directory after seeding)
  as a tarball under $RECONCILER_SAMBA_CACHE or ~/.cache/reconciler-samba; later
  starts restore it to the same path and take about a second.
- The DC gets a certificate from a throwaway test CA for 127.0.0.1, localhost
  and dc1.example.test (`dc.ca_file`); plain simple binds are allowed so the
  product's explicit plain-LDAP opt-out can be tested.
- Ports are fixed (389/636/88/...), so one DC per machine: concurrent test
  processes (pytest-xdist workers, two checkouts) share it through a lock file
  and a reference count; the last one out stops it. A DC for another spec is
  waited for, then replaced.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import ldap3
import trustme

REALM = "EXAMPLE.TEST"
DOMAIN = "EXAMPLE"
BASE_DN = "DC=example,DC=test"
ADMIN_PASSWORD = "Samba-Adm1n-Pass!"
HOST = "127.0.0.1"
LDAPS_PORT = 636
LDAP_PORT = 389
# fixed: a provisioned DC only runs from the path it was provisioned in (root-only use)
RUN_ROOT = Path(os.environ.get("RECONCILER_SAMBA_RUN", "/var/tmp/reconciler-samba"))  # noqa: S108
FORMAT_VERSION = "5"  # bump when provisioning below changes
REPO_ROOT = Path(__file__).resolve().parents[2]

Seed = Callable[[ldap3.Connection], None]


class SambaError(RuntimeError):
    pass


@dataclass(frozen=True)
class DcSpec:
    """What to provision: `ldif` (bulk, loaded with ldbadd before the first start,
    much faster than LDAP adds) and `seed` (LDAP writes as Administrator) fill
    the fresh directory; `version` changes the cache key."""

    name: str
    seed: Seed | None = None
    version: str = ""
    ldif: Callable[[], Iterator[str]] | None = None


@dataclass(frozen=True)
class SambaDC:
    spec: DcSpec
    root: Path
    pid: int
    ca_file: Path
    base_dn: str = BASE_DN
    host: str = HOST
    admin_upn: str = f"Administrator@{REALM.lower()}"
    admin_password: str = ADMIN_PASSWORD

    def admin(self) -> ldap3.Connection:
        return admin_connection(self.ca_file)


def admin_connection(ca_file: Path) -> ldap3.Connection:
    tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(ca_file))
    server = ldap3.Server(
        HOST, port=LDAPS_PORT, use_ssl=True, tls=tls, get_info=ldap3.NONE, connect_timeout=10
    )
    return ldap3.Connection(
        server, f"Administrator@{REALM.lower()}", ADMIN_PASSWORD, auto_bind=True, receive_timeout=60
    )


# --- packages --------------------------------------------------------------------------


def _as_root(cmd: list[str]) -> list[str]:
    """`cmd` run as root: directly when we are root, else through passwordless sudo
    (CI runners such as GitHub's run tests as a user with `sudo -n`)."""
    return cmd if os.geteuid() == 0 else ["sudo", "-n", *cmd]


def _root_run(cmd: list[str], what: str, timeout: float = 300) -> None:
    out = subprocess.run(_as_root(cmd), capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise SambaError(f"{what} failed:\n{out.stdout[-2000:]}{out.stderr[-2000:]}")


def _check_privileges() -> None:
    if os.geteuid() == 0:
        return
    ok = shutil.which("sudo") and subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0
    if not ok:
        raise SambaError(
            "a Samba AD DC needs root (fixed ports 389/636/88): run as root or with passwordless sudo"
        )


def ensure_packages() -> None:
    if shutil.which("samba") and shutil.which("samba-tool") and Path("/usr/share/samba/setup").is_dir():
        return
    script = REPO_ROOT / "scripts" / "install-samba"
    if not script.exists():
        raise SambaError("Samba is not installed and scripts/install-samba is missing")
    if os.geteuid() != 0 and not shutil.which("sudo"):
        raise SambaError("Samba is not installed; run scripts/install-samba as root")
    subprocess.run([str(script)], check=True, timeout=900)


def _samba_version() -> str:
    out = subprocess.run(["samba", "--version"], capture_output=True, text=True, check=True, timeout=30)
    return out.stdout.strip()


# --- shared, reference-counted DC ------------------------------------------------------


@contextlib.contextmanager
def _locked() -> Iterator[dict[str, object]]:
    RUN_ROOT.mkdir(parents=True, exist_ok=True)
    with open(RUN_ROOT / "lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        path = RUN_ROOT / "state.json"
        try:
            state: dict[str, object] = json.loads(path.read_text()) if path.exists() else {}
        except ValueError:
            state = {}
        yield state
        path.write_text(json.dumps(state))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_our_samba(pid: int, root: str) -> bool:
    """Whether `pid` is the samba started for `root`. Samba rewrites its command line
    ("samba: root process"), so the DC's root is not always there: its pid file
    (`pid directory` = root/run) and the executable's name tell instead."""
    try:
        exe = Path(os.readlink(f"/proc/{pid}/exe")).name
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return False
    if "samba" not in exe and "samba" not in cmdline:
        return False
    if root and root in cmdline:
        return True
    try:
        return int((Path(root) / "run" / "samba.pid").read_text().split()[0]) == pid
    except (OSError, ValueError, IndexError):
        return False


def acquire(spec: DcSpec, wait_seconds: float = 900) -> SambaDC:
    """Start (or join) the DC for `spec`; pair with `release`."""
    _check_privileges()
    ensure_packages()
    key = _cache_key(spec)
    deadline = time.monotonic() + wait_seconds
    while True:
        with _locked() as state:
            clients = [int(p) for p in state.get("clients", []) if _alive(int(p))]  # type: ignore[attr-defined]
            pid, root = int(state.get("pid", 0) or 0), str(state.get("root", ""))  # type: ignore[call-overload]
            running = pid > 0 and _alive(pid) and _is_our_samba(pid, root)
            if running and state.get("key") == key:
                state["clients"] = [*clients, os.getpid()]
                return SambaDC(spec, Path(root), pid, Path(root) / "tls" / "ca.pem")
            if not running or not clients:
                if running:
                    _stop(pid)
                dc = _start(spec, key)
                state.update(key=key, pid=dc.pid, root=str(dc.root), clients=[os.getpid()])
                return dc
            state["clients"] = clients
        if time.monotonic() > deadline:
            raise SambaError(f"another Samba DC ({state.get('key')}) stayed in use; gave up waiting")
        time.sleep(2)


def release(dc: SambaDC) -> None:
    with _locked() as state:
        clients = [int(p) for p in state.get("clients", []) if _alive(int(p)) and int(p) != os.getpid()]  # type: ignore[attr-defined]
        state["clients"] = clients
        if not clients and state.get("pid") == dc.pid:
            _stop(dc.pid)
            state.clear()


# --- provision, cache, start, stop -----------------------------------------------------
#
# The DC's files belong to root (samba refuses a TLS key it does not own); every
# command that touches them goes through `_as_root`.


def _cache_key(spec: DcSpec) -> str:
    text = "\n".join([FORMAT_VERSION, _samba_version(), spec.name, spec.version])
    return f"{spec.name}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def cache_dir() -> Path:
    default = Path.home() / ".cache" / "reconciler-samba"
    return Path(os.environ.get("RECONCILER_SAMBA_CACHE", str(default)))


def _start(spec: DcSpec, key: str) -> SambaDC:
    root = RUN_ROOT / spec.name
    tarball = cache_dir() / f"{key}.tar.gz"
    _root_run(["rm", "-rf", str(root)], "removing the old DC directory")
    if tarball.exists():
        _root_run(["tar", "-xzf", str(tarball), "-C", str(RUN_ROOT)], "restoring the cached DC")
        return _launch(spec, root)
    _provision(root)
    if spec.ldif is not None:
        _load_ldif(root, spec.ldif())
    dc = _launch(spec, root)
    try:
        if spec.seed is not None:
            conn = dc.admin()
            try:
                spec.seed(conn)
            finally:
                conn.unbind()
    finally:
        _stop(dc.pid)
    tarball.parent.mkdir(parents=True, exist_ok=True)
    partial = tarball.with_name(tarball.name + ".partial")
    _root_run(
        ["tar", "-czf", str(partial), "-C", str(RUN_ROOT), "--exclude", f"{root.name}/run", root.name],
        "caching the DC",
        900,
    )
    partial.replace(tarball)
    for old in tarball.parent.glob(f"{spec.name}-*.tar.gz"):
        if old != tarball:  # an older seed or Samba version
            old.unlink(missing_ok=True)
    return _launch(spec, root)


def _provision(root: Path) -> None:
    root.mkdir(parents=True)
    tls = root / "tls"
    tls.mkdir()
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tls / "ca.pem"))
    leaf = ca.issue_cert(HOST, "localhost", f"dc1.{REALM.lower()}")
    leaf.cert_chain_pems[0].write_to_path(str(tls / "cert.pem"))
    leaf.private_key_pem.write_to_path(str(tls / "key.pem"))
    os.chmod(tls / "key.pem", 0o600)
    options = {
        "interfaces": "lo",
        "bind interfaces only": "yes",
        "log file": f"{root}/log.%m",
        "disable netbios": "yes",
        "server services": "-dns -dnsupdate -nbt -wrepl -smb -s3fs -winbindd -kcc -drepl -ntp_signd",
        "tls enabled": "yes",
        "tls keyfile": f"{tls}/key.pem",
        "tls certfile": f"{tls}/cert.pem",
        "tls cafile": f"{tls}/ca.pem",
        "pid directory": f"{root}/run",
    }
    cmd = [
        "samba-tool", "domain", "provision", f"--targetdir={root}", f"--realm={REALM}",
        f"--domain={DOMAIN}", "--server-role=dc", "--dns-backend=NONE", "--host-name=dc1",
        f"--adminpass={ADMIN_PASSWORD}", *(f"--option={k}={v}" for k, v in options.items()),
    ]  # fmt: skip
    _root_run(cmd, "samba-tool domain provision")
    _root_run(["mkdir", "-p", str(root / "cache"), str(root / "run")], "creating DC directories")
    _root_run(["chown", "-R", "0:0", str(root)], "giving the DC files to root")


def _load_ldif(root: Path, records: Iterator[str]) -> None:
    """Bulk-load LDIF records straight into the stopped DC's database (through
    Samba's own ldb modules, so GUIDs, SIDs, USNs and links are made as usual).

    `batch_mode` skips ldb's per-record sub-transaction, which copies the growing
    index lists on every add: 3,000 users load in 7 s instead of 34 s, and the
    gap widens with size (the whole file is still one transaction)."""
    path = RUN_ROOT / f"{root.name}-seed.ldif"
    with path.open("w", encoding="utf-8") as f:
        for record in records:
            f.write(record.rstrip("\n") + "\n\n")
    try:
        cmd = ["ldbadd", "-o", "batch_mode:true", "-H", str(root / "private" / "sam.ldb"), str(path)]
        _root_run(cmd, "ldbadd", 3600)
    finally:
        path.unlink()


def _launch(spec: DcSpec, root: Path) -> SambaDC:
    for port in (LDAP_PORT, LDAPS_PORT):
        if _port_open(port):
            raise SambaError(f"something already listens on {HOST}:{port}; is another Samba DC running?")
    log_path = RUN_ROOT / f"{root.name}-samba.out"
    cmd = [
        "samba", "-s", str(root / "etc" / "smb.conf"), "-M", "single", "--foreground", "--no-process-group",
        # provision drops this option from smb.conf: allow plain simple binds so the
        # product's explicit plain-LDAP opt-out can be tested (TLS stays the default)
        "--option=ldap server require strong auth=no",
    ]  # fmt: skip
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            _as_root(cmd),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    _CHILDREN[proc.pid] = proc
    ca_file = root / "tls" / "ca.pem"
    deadline = time.monotonic() + 60
    context = ssl.create_default_context(cafile=str(ca_file))
    while True:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise SambaError(f"samba exited with {proc.returncode}:\n{tail}")
        try:
            with (
                socket.create_connection((HOST, LDAPS_PORT), timeout=1) as sock,
                context.wrap_socket(sock, server_hostname=HOST),
            ):
                break
        except OSError:
            if time.monotonic() > deadline:
                _stop(proc.pid)
                raise SambaError("samba did not accept LDAPS connections within 60 s") from None
            time.sleep(0.1)
    return SambaDC(spec, root, proc.pid, ca_file)


_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((HOST, port)) == 0


def _signal(pid: int, sig: signal.Signals) -> None:
    """The DC runs in its own session (process group = its pid): signal the group,
    so helpers (and sudo) go too."""
    if os.geteuid() != 0:
        subprocess.run(["sudo", "-n", "kill", f"-{sig.name}", "--", f"-{pid}"], capture_output=True)
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _stop(pid: int, timeout: float = 30) -> None:
    _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    child = _CHILDREN.pop(pid, None)
    while time.monotonic() < deadline:
        if child is not None:
            if child.poll() is not None:
                return
        elif not _alive(pid):
            return
        time.sleep(0.05)
    _signal(pid, signal.SIGKILL)
