#!/usr/bin/env python3
"""The chaton-ops test lab: several real "hosts" on one Linux machine.

Each host is a network namespace ``lab-NAME`` plus a private mount/UTS namespace with its own
hostname, address on the bridge ``lab0`` (10.77.0.0/24; lab N of ``CHATON_LAB_ID=N``: ``labN``,
10.77.N.0/24, namespaces ``labN-NAME``), sshd, host key and private directories
(/srv, /root, /run, ... see PRIVATE_PATHS).  Needs root, iproute2, util-linux, OpenSSH, and for the
services nginx, PostgreSQL, knot (see scripts/install-lab-deps).

Command line::

    python tests/lab/lab.py up [--extra N]   # (re)build the lab, fresh per-host data
    python tests/lab/lab.py down             # stop everything, delete namespaces and bridge
    python tests/lab/lab.py status           # table of hosts
    python tests/lab/lab.py inventory [PATH] # write a chaton inventory (default <state>/inventory.yml)

Library::

    from tests.lab.lab import Lab
    lab = Lab()            # state dir: $CHATON_LAB_DIR or <repo>/.lab
    lab.up(extra=2); lab.ssh("primary", "hostname"); lab.down()

Only the standard library is needed (PyYAML is used for the inventory when present; otherwise
the inventory is written as JSON, which is valid YAML too).
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import datetime
import fcntl
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def _lab_id() -> int:
    """Which lab instance (CHATON_LAB_ID, 0-99, default 0): several worktrees or sessions on one machine
    each get their own bridge, namespaces, subnet and lock, so their labs never meet."""
    raw = os.environ.get("CHATON_LAB_ID", "0") or "0"
    if not raw.isdigit() or not 0 <= int(raw) <= 99:
        raise SystemExit(f"lab: CHATON_LAB_ID must be a number from 0 to 99, not {raw!r}")
    return int(raw)


LAB_ID = _lab_id()
BRIDGE = f"lab{LAB_ID}"
NETWORK = f"10.77.{LAB_ID}"  # /24; the bridge is .1
BRIDGE_ADDRESS = f"{NETWORK}.1"
NETNS_PREFIX = "lab-" if LAB_ID == 0 else f"lab{LAB_ID}-"
VETH_PREFIX = "vl-" if LAB_ID == 0 else f"v{LAB_ID}-"  # + host name: at most 15 characters
ZONE = "lab.test"
REVERSE_ZONE = f"{LAB_ID}.77.10.in-addr.arpa"
# postfix's queue folders a relay backs up (the spool itself is a private mount point of each lab host)
POSTFIX_QUEUES = ("incoming", "active", "deferred", "defer", "hold")
TSIG_KEY_NAME = "chaton"
RESTIC_PASSWORD = "lab-Kq7wZ-repo-password"  # unlike any name, so "not in the output" checks can fail
HOST_RESTIC_PASSWORD_FILE = "/root/restic-lab.pass"  # inside every host
EXTRA_FIRST = 11  # node1 = 10.77.N.11
# MariaDB in the hosts that have it: small, so that `up` stays quick (10 MB system tablespace)
MARIADB_PATH = "/usr/sbin:/usr/bin"
MARIADB_SOCKET = "/run/mysqld/mysqld.sock"  # the Debian clients' default
MARIADB_OPTIONS = ("--innodb-log-file-size=4M", "--innodb-data-file-path=ibdata1:4M:autoextend",
                   "--innodb-autoextend-increment=1", "--innodb-buffer-pool-size=16M", "--performance-schema=OFF")
MAX_EXTRA = 200


class LabError(RuntimeError):
    """The lab cannot be built or used (not root, no namespaces, missing binaries, ...)."""


# The lab's bridge and namespaces are machine-wide: one user at a time, from up to down. A pytest
# session (or a benchmark) holds this lock itself from lab up to lab down; `lab.py up` hands it to a
# small keeper process that holds it until `lab.py down` (or `lab.py up` again) ends the keeper.
_LOCK_NAME = "chaton-lab.lock" if LAB_ID == 0 else f"chaton-lab-{LAB_ID}.lock"
LOCK_FILE = Path("/run/lock") / _LOCK_NAME if Path("/run/lock").is_dir() else Path("/tmp") / _LOCK_NAME


KEEPER_COMMAND = "_keep-lock"
KEEPER_ROLE = "lab.py keeper"


def keep_lock(descriptor: int) -> int:
    """The keeper: hold the inherited lock descriptor until SIGTERM/SIGINT/SIGHUP."""
    stop = {"now": False}

    def ask_to_stop(signum, frame):
        stop["now"] = True

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, ask_to_stop)
    while not stop["now"]:
        signal.pause()
    os.ftruncate(descriptor, 0)
    os.close(descriptor)
    return 0


class LabLock:
    def __init__(self, path: Path = LOCK_FILE):
        self.path = path
        self._fd: int | None = None

    def acquire(self, timeout: float = 0.0, *, who: str = "lab.py") -> None:
        if self._fd is not None:
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "?"
                    os.close(fd)
                    raise LabError(
                        f"the lab is in use by another process ({holder}); lock {self.path}"
                    ) from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} {who}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing releases the flock
            self._fd = None

    def holder(self) -> str:
        """Who holds the lock, as the holder wrote it ("pid 123 pytest"); "" when nobody says."""
        try:
            return self.path.read_text(errors="replace").strip()
        except OSError:
            return ""

    def hand_to_keeper(self) -> int:
        """Start a keeper process that holds this lock until it is ended (`lab.py down`); return its pid.

        flock belongs to the open file: the keeper inherits it, so the lock stays held when this
        process exits and is released when the keeper ends (or dies: no stale lock)."""
        if self._fd is None:
            raise LabError("the lab lock must be held before it is handed to a keeper")
        keeper = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), KEEPER_COMMAND, str(self._fd)],
            pass_fds=(self._fd,), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, cwd="/")
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"pid {keeper.pid} {KEEPER_ROLE} of lab {LAB_ID} (until `lab.py down`)\n".encode(), 0)
        os.close(self._fd)  # the keeper's copy keeps the lock
        self._fd = None
        return keeper.pid

    def end_keeper(self, timeout: float = 10.0) -> bool:
        """End the keeper holding this lock, if it is one (never another holder); True if one was ended."""
        match = re.match(rf"pid (\d+) {re.escape(KEEPER_ROLE)} of lab {LAB_ID}\b", self.holder())
        if not match:
            return False
        pid = int(match.group(1))
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return False  # gone already: its lock went with it
        if KEEPER_COMMAND.encode() not in command:
            return False  # a recycled pid: not ours to signal
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        return True

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()


# --------------------------------------------------------------------------------------------
# The one table of per-host private paths.  Each host's init bind-mounts
# <state>/hosts/NAME/fs/<path> over <path>.  `start` says how the per-host copy begins:
#   "empty" - an empty directory (mode/owner below)
#   "copy"  - a copy (cp -a) of the machine's own directory, made at each `up`
#   "file"  - a regular file, written by the lab (e.g. /etc/hosts)
# Paths missing on the machine (package not installed) are skipped.  Extend freely.
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class PrivatePath:
    path: str
    start: str = "empty"
    mode: int = 0o755
    owner: str = "root"


PRIVATE_PATHS: tuple[PrivatePath, ...] = (
    PrivatePath("/srv"),
    PrivatePath("/root", mode=0o700),
    PrivatePath("/run"),
    PrivatePath("/var/log"),
    PrivatePath("/tmp", mode=0o1777),
    PrivatePath("/var/tmp", mode=0o1777),  # drills restore into scratch folders there
    PrivatePath("/etc/hosts", "file", 0o644),
    PrivatePath("/etc/resolv.conf", "file", 0o644),  # the lab's knot, so lookups of lab.test names work
    PrivatePath("/etc/ssh"),  # sshd_config + this host's key (+ client config)
    PrivatePath("/etc/nginx", "copy"),
    PrivatePath("/var/lib/nginx", "copy"),
    PrivatePath("/etc/postfix", "copy"),
    PrivatePath("/var/spool/postfix", "copy"),
    PrivatePath("/var/lib/postfix", "copy"),
    PrivatePath("/etc/postgresql", owner="postgres"),
    PrivatePath("/var/lib/postgresql", owner="postgres"),
    PrivatePath("/etc/knot"),
    PrivatePath("/var/lib/knot"),
    PrivatePath("/var/lib/mysql", owner="mysql"),
)


@dataclasses.dataclass(frozen=True)
class HostSpec:
    name: str
    address: str
    services: tuple[str, ...] = ()  # of: nginx, postgres, knot, restic-repo


BASE_HOSTS: tuple[HostSpec, ...] = (
    HostSpec("primary", f"{NETWORK}.2", ("nginx", "postgres", "mariadb")),
    HostSpec("vps", f"{NETWORK}.3", ("nginx", "postgres", "mariadb")),
    HostSpec("backup", f"{NETWORK}.4", ("restic-repo",)),
    HostSpec("dns", f"{NETWORK}.5", ("knot",)),
)


def host_specs(extra: int = 0) -> list[HostSpec]:
    if not 0 <= extra <= MAX_EXTRA:
        raise LabError(f"--extra must be between 0 and {MAX_EXTRA}")
    return list(BASE_HOSTS) + [
        HostSpec(f"node{i}", f"{NETWORK}.{EXTRA_FIRST + i - 1}") for i in range(1, extra + 1)
    ]


_OUR_NETNS = re.compile(rf"^{re.escape(NETNS_PREFIX)}(primary|vps|backup|dns|node\d+)$")

SSHD_CONFIG = """\
# chaton lab: sshd of host {name}
ListenAddress {address}:22
Port 22
HostKey /etc/ssh/ssh_host_ed25519_key
PidFile /run/sshd.pid
UsePAM no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
AuthorizedKeysFile .ssh/authorized_keys
StrictModes yes
UseDNS no
MaxSessions 50
MaxStartups 100
MaxAuthTries 10
LogLevel INFO
PrintMotd no
AcceptEnv LANG LC_*
Subsystem sftp internal-sftp
"""

NGINX_SITE = """\
# chaton lab: default site of host {name}
server {{
    listen 80 default_server;
    server_name _;
    root /srv/www;
    index index.html index.htm;
    location / {{
        try_files $uri $uri/ =404;
    }}
}}
"""

KNOT_CONF = """\
# chaton lab: knot on host {name}
server:
    rundir: "/run/knot"
    listen: [ {address}@53, 127.0.0.1@53 ]

log:
  - target: /var/log/knot.log
    any: info

database:
    storage: "/var/lib/knot"

key:
  - id: {key_name}
    algorithm: hmac-sha256
    secret: {secret}

acl:
  - id: {key_name}-update
    key: {key_name}
    action: update

template:
  - id: default
    storage: "/var/lib/knot"
    file: "%s.zone"

zone:
  - domain: {zone}
    acl: {key_name}-update
  - domain: {reverse_zone}
    acl: {key_name}-update
"""

ZONE_FILE = """\
$ORIGIN {zone}.
$TTL 300
@       IN SOA  ns.{zone}. hostmaster.{zone}. (1 3600 900 604800 300)
@       IN NS   ns.{zone}.
@       IN MX   10 mail.{zone}.
@       IN TXT  "v=spf1 mx ip4:{primary} -all"
ns      IN A    {dns}
www     IN A    {primary}
mail    IN A    {primary}
cloud   IN A    {primary}
"""

# Reverse DNS of the lab's network: the primary has a name, the fallback has none yet (as on a VPS
# just rented), which the failover's preflight warns about for mail.
REVERSE_ZONE_FILE = """\
$ORIGIN {reverse_zone}.
$TTL 300
@       IN SOA  ns.{zone}. hostmaster.{zone}. (1 3600 900 604800 300)
@       IN NS   ns.{zone}.
{primary_last} IN PTR primary.{zone}.
{dns_last} IN PTR ns.{zone}.
"""

POSTGRES_SEED = """\
CREATE TABLE pages (id integer PRIMARY KEY, path text NOT NULL, title text NOT NULL);
INSERT INTO pages VALUES (1, '/', 'Chaton lab'), (2, '/about', 'About'), (3, '/contact', 'Contact');
"""


def _run(argv, *, check=True, input=None, timeout=60, cwd=None, env=None):
    try:
        cp = subprocess.run(
            argv,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=cwd,
            env=env,
            stdin=None if input is not None else subprocess.DEVNULL,
        )
    except FileNotFoundError as exc:
        raise LabError(f"command not found: {argv[0]} (run scripts/install-lab-deps)") from exc
    if check and cp.returncode != 0:
        raise LabError(
            f"command failed ({cp.returncode}): {shlex.join(map(str, argv))}\n{cp.stdout}{cp.stderr}".rstrip()
        )
    return cp


def _tcp_open(address: str, port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def _alive(pid: int) -> bool:
    """True if pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _postgres_version() -> str | None:
    base = Path("/usr/lib/postgresql")
    versions = (
        sorted(
            (p.name for p in base.glob("*") if (p / "bin" / "postgres").exists()),
            key=lambda v: int(v) if v.isdigit() else 0,
        )
        if base.is_dir()
        else []
    )
    return versions[-1] if versions else None


def _pg_ctl(version: str) -> str:
    """pg_ctl on the Debian cluster VERSION/main (pg_ctlcluster costs ~2 s per start: not used)."""
    return (
        f"/usr/lib/postgresql/{version}/bin/pg_ctl -D /var/lib/postgresql/{version}/main "
        f"-o '-c config_file=/etc/postgresql/{version}/main/postgresql.conf'"
    )


class Lab:
    """The lab rooted at a state directory.  Attributes are plain paths and dicts, for tests."""

    def __init__(self, state_dir: str | os.PathLike | None = None, extra: int | None = None):
        default_state = REPO_ROOT / (".lab" if LAB_ID == 0 else f".lab-{LAB_ID}")
        state = state_dir or os.environ.get("CHATON_LAB_DIR") or default_state
        self.state_dir = Path(state).absolute()
        self.ssh_dir = self.state_dir / "ssh"
        self.identity = self.ssh_dir / "id_ed25519"
        self.known_hosts = self.ssh_dir / "known_hosts"
        self.secrets_dir = self.state_dir / "secrets"
        self.tsig_key_file = self.secrets_dir / "tsig.key"
        self.restic_password_file = self.secrets_dir / "restic-lab.pass"
        self.restic_password = RESTIC_PASSWORD
        self.host_restic_password_file = HOST_RESTIC_PASSWORD_FILE
        self.inventory = self.state_dir / "inventory.yml"
        self.zone = ZONE
        self.tsig_key_name = TSIG_KEY_NAME
        self.bridge_address = BRIDGE_ADDRESS
        if extra is None:
            extra = self._recorded_extra()
        self.extra = extra
        self.specs = {s.name: s for s in host_specs(extra)}

    # ---------------------------------------------------------------- public helpers
    @property
    def hosts(self) -> dict[str, str]:
        """name -> address"""
        return {n: s.address for n, s in self.specs.items()}

    def address(self, host: str) -> str:
        return self.specs[host].address

    @property
    def tsig_secret(self) -> str:
        return self.tsig_key_file.read_text().strip()

    def host_dir(self, host: str) -> Path:
        return self.state_dir / "hosts" / host

    def host_path(self, host: str, path: str) -> Path:
        """Root-namespace path of `path` as seen inside `host` (only for private paths)."""
        if host not in self.specs:
            raise KeyError(host)
        p = "/" + str(path).lstrip("/")
        for pp in sorted(PRIVATE_PATHS, key=lambda x: -len(x.path)):
            if p == pp.path or p.startswith(pp.path.rstrip("/") + "/"):
                return self.host_dir(host) / "fs" / p.lstrip("/")
        raise ValueError(f"{path} is not private to a lab host (see PRIVATE_PATHS)")

    def ssh_options(self) -> list[str]:
        return [
            "-F",
            "/dev/null",
            "-i",
            str(self.identity),
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            f"UserKnownHostsFile={self.known_hosts}",
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=5",
            "-o",
            "LogLevel=ERROR",
        ]

    def ssh_argv(self, host: str, *argv: str) -> list[str]:
        """One argument: a remote shell command line as is; several: quoted with shlex.join."""
        command = argv[0] if len(argv) == 1 else shlex.join(argv)
        return ["ssh", *self.ssh_options(), f"root@{self.address(host)}", *([command] if argv else [])]

    def ssh(
        self, host: str, *argv: str, check: bool = False, input: str | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess:
        """Run a command on a lab host with the real ssh client; text output captured."""
        if not Path(f"/sys/class/net/{BRIDGE}").exists():  # never let 10.77.0.x go to a default route
            raise LabError(f"the lab is down (no bridge {BRIDGE}): run `python tests/lab/lab.py up`")
        return subprocess.run(
            self.ssh_argv(host, *argv),
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=check,
            stdin=None if input is not None else subprocess.DEVNULL,
        )

    # ---------------------------------------------------------------- up
    def up(self, extra: int | None = None, *, timeout: float = 30.0) -> float:
        """Tear down leftovers and build the lab; return the seconds it took."""
        t0 = time.monotonic()
        if extra is not None and extra != self.extra:
            self.extra = extra
            self.specs = {s.name: s for s in host_specs(extra)}
        self._preflight()
        self.down()
        self._prepare_state()
        pg_cache = (
            self._postgres_cache() if any("postgres" in s.services for s in self.specs.values()) else None
        )
        skel = self._build_skeleton()
        for spec in self.specs.values():
            self._build_host(spec, skel, pg_cache)
        self._add_mariadb()
        self._write_known_hosts()
        self._network_up()
        for spec in self.specs.values():
            self._start_host(spec)
        self._wait_ready(time.monotonic() + timeout)
        (self.state_dir / "lab.json").write_text(
            json.dumps({"extra": self.extra, "hosts": self.hosts}, indent=1) + "\n"
        )
        self.write_inventory()
        return time.monotonic() - t0

    def _preflight(self):
        if os.geteuid() != 0:
            raise LabError("the lab needs root (network and mount namespaces); run as root")
        missing = [
            b
            for b in ("ip", "unshare", "setsid", "ssh", "ssh-keygen", "/usr/sbin/sshd")
            if not shutil.which(b)
        ]
        if missing:
            raise LabError(f"missing commands: {', '.join(missing)} (run scripts/install-lab-deps)")
        needs = {"nginx": "nginx", "knot": "knotd"}
        for s in self.specs.values():
            for svc in s.services:
                if svc in needs and not shutil.which(needs[svc]):
                    raise LabError(f"{needs[svc]} is missing (run scripts/install-lab-deps)")
        probe = f"{NETNS_PREFIX}probe{os.getpid() % 10000}"
        cp = _run(["ip", "netns", "add", probe], check=False)
        if cp.returncode != 0:
            raise LabError(f"cannot create network namespaces (`ip netns add` failed): {cp.stderr.strip()}")
        _run(["ip", "netns", "del", probe], check=False)

    def _prepare_state(self):
        self.state_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.state_dir, 0o700)
        for d in (self.ssh_dir, self.secrets_dir, self.state_dir / "keys", self.state_dir / "cache"):
            d.mkdir(exist_ok=True)
            os.chmod(d, 0o700)
        if not self.identity.exists():
            self.identity.with_suffix(".pub").unlink(missing_ok=True)
            _run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "chaton-lab", "-f", str(self.identity)]
            )
        for spec in self.specs.values():
            key = self.state_dir / "keys" / spec.name / "ssh_host_ed25519_key"
            if not key.exists():
                key.parent.mkdir(exist_ok=True)
                key.with_suffix(".pub").unlink(missing_ok=True)
                _run(
                    ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{spec.name}", "-f", str(key)]
                )
        if not self.tsig_key_file.exists():
            _write(self.tsig_key_file, base64.b64encode(secrets.token_bytes(32)).decode() + "\n", 0o600)
        _write(self.restic_password_file, RESTIC_PASSWORD + "\n", 0o600)
        os.chmod(self.tsig_key_file, 0o600)

    def _postgres_cache(self) -> Path | None:
        """A Debian-style cluster `VERSION/main` with database `site`, built once (initdb)."""
        version = _postgres_version()
        if version is None or not shutil.which("pg_createcluster"):
            return None
        cache = self.state_dir / "cache" / f"postgresql-{version}"
        if (cache / "ok").exists():
            return cache
        if cache.exists():
            shutil.rmtree(cache)
        for sub, owner in (("etc", "root"), ("lib", "postgres"), ("run", "root"), ("log", "root")):
            (cache / sub).mkdir(parents=True)
            shutil.chown(cache / sub, owner, owner)
        pg_ctl = _pg_ctl(version)
        script = f"""
set -e
mount --bind etc /etc/postgresql
mount --bind lib /var/lib/postgresql
mount --bind run /run
mount --bind log /var/log
ip link set lo up
cd /
install -d -o postgres -g postgres -m 2775 /run/postgresql
install -d -o postgres -g postgres -m 0755 /var/log/postgresql
pg_createcluster {version} main -- --auth-local=peer --auth-host=scram-sha-256 --no-sync >/dev/null
printf "listen_addresses = '127.0.0.1'\\nshared_buffers = 16MB\\nfsync = off\\n" > /etc/postgresql/{version}/main/conf.d/lab.conf
stop_on_error() {{ runuser -u postgres -- {pg_ctl} -s -m immediate stop >/dev/null 2>&1 || true; }}
trap stop_on_error EXIT
runuser -u postgres -- {pg_ctl} -w -s -l /var/log/postgresql/cache-build.log start
runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 -c 'CREATE DATABASE site'
runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 -d site <<'EOF'
{POSTGRES_SEED}
EOF
runuser -u postgres -- {pg_ctl} -w -s -m fast stop
trap - EXIT
"""
        _run(
            ["unshare", "--mount", "--net", "--propagation", "private", "bash", "-c", script],
            cwd=cache,
            timeout=120,
        )
        shutil.rmtree(cache / "run")
        shutil.rmtree(cache / "log")
        (cache / "ok").write_text(version + "\n")
        return cache

    def _build_skeleton(self) -> Path:
        skel = self.state_dir / "skel"
        if skel.exists():
            shutil.rmtree(skel)
        fs = skel / "fs"
        fs.mkdir(parents=True)
        for pp in PRIVATE_PATHS:
            target = fs / pp.path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            if pp.start == "copy" and os.path.isdir(pp.path):
                _run(["cp", "-a", pp.path, str(target)])
            elif pp.start == "file":
                target.touch()
                os.chmod(target, pp.mode)
            else:
                target.mkdir(exist_ok=True)
                os.chmod(target, pp.mode)
                shutil.chown(target, pp.owner, pp.owner if pp.owner != "root" else "root")
        # per-host services' directories
        for d, mode, owner in (
            ("run/sshd", 0o755, "root"),
            ("run/knot", 0o755, "root"),
            ("run/postgresql", 0o2775, "postgres"),
            ("var/log/nginx", 0o755, "root"),
            ("var/log/postgresql", 0o755, "postgres"),
            ("root/.ssh", 0o700, "root"),
            ("srv/www", 0o755, "root"),
        ):
            p = fs / d
            p.mkdir(parents=True, exist_ok=True)
            os.chmod(p, mode)
            shutil.chown(p, owner, owner)
        # client side of OpenSSH in the host (restic uses ssh)
        for f in ("ssh_config", "ssh_config.d", "moduli"):
            if os.path.exists(f"/etc/ssh/{f}"):
                _run(["cp", "-a", f"/etc/ssh/{f}", str(fs / "etc/ssh" / f)])
        site = fs / "etc/nginx/sites-enabled/default"
        if site.parent.is_dir():
            site.unlink(missing_ok=True)
            site.write_text(NGINX_SITE.format(name="lab"))
        main_cf = fs / "etc/postfix/main.cf"
        if main_cf.exists() and shutil.which("postconf"):
            _run(["postconf", "-c", str(main_cf.parent), "-X", "myhostname"], check=False)
            _run(
                [
                    "postconf",
                    "-c",
                    str(main_cf.parent),
                    "-e",
                    "mydestination = $myhostname, localhost.localdomain, localhost",
                    "inet_protocols = ipv4",
                    "maillog_file = /var/log/postfix.log",
                ]
            )
        hosts = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
        hosts += [f"{s.address}\t{s.name}" for s in self.specs.values()]
        (fs / "etc/hosts").write_text("\n".join(hosts) + "\n")
        resolver = self.specs["dns"].address if "dns" in self.specs else BRIDGE_ADDRESS
        (fs / "etc/resolv.conf").write_text(f"# chaton lab: the lab's own knot\nnameserver {resolver}\n")
        (fs / "root" / "restic-lab.pass").write_text(RESTIC_PASSWORD + "\n")
        os.chmod(fs / "root" / "restic-lab.pass", 0o600)
        ssh = fs / "root/.ssh"
        pub = self.identity.with_suffix(".pub").read_text()
        _write(ssh / "authorized_keys", pub, 0o600)
        _write(ssh / "id_ed25519.pub", pub, 0o644)
        _write(ssh / "id_ed25519", self.identity.read_text(), 0o600)
        return skel

    def _build_host(self, spec: HostSpec, skel: Path, pg_cache: Path | None):
        hdir = self.host_dir(spec.name)
        if hdir.exists():
            shutil.rmtree(hdir)
        hdir.mkdir(parents=True)
        os.chmod(hdir, 0o700)
        fs = hdir / "fs"
        _run(["cp", "-a", str(skel / "fs"), str(fs)])
        keydir = self.state_dir / "keys" / spec.name
        for f, mode in (("ssh_host_ed25519_key", 0o600), ("ssh_host_ed25519_key.pub", 0o644)):
            _write(fs / "etc/ssh" / f, (keydir / f).read_text(), mode)
        (fs / "etc/ssh/sshd_config").write_text(SSHD_CONFIG.format(name=spec.name, address=spec.address))
        if "nginx" in spec.services:
            (fs / "srv/www/index.html").write_text(f"<h1>chaton lab: {spec.name}</h1>\n")
        if "restic-repo" in spec.services:
            (fs / "srv/restic").mkdir(mode=0o700)
        start_pg = ""
        if "postgres" in spec.services and pg_cache is not None:
            version = (pg_cache / "ok").read_text().strip()
            for sub, target in (("etc", "etc/postgresql"), ("lib", "var/lib/postgresql")):
                shutil.rmtree(fs / target)
                _run(["cp", "-a", "--reflink=auto", str(pg_cache / sub), str(fs / target)])
            log = f"/var/log/postgresql/postgresql-{version}-main.log"
            start_pg = f"runuser -u postgres -- {_pg_ctl(version)} -W -s -l {log} start </dev/null"
        if "knot" in spec.services:
            (fs / "etc/knot/knot.conf").write_text(
                KNOT_CONF.format(
                    name=spec.name,
                    address=spec.address,
                    key_name=TSIG_KEY_NAME,
                    secret=self.tsig_secret,
                    zone=ZONE,
                    reverse_zone=REVERSE_ZONE,
                )
            )
            (fs / f"var/lib/knot/{REVERSE_ZONE}.zone").write_text(
                REVERSE_ZONE_FILE.format(
                    zone=ZONE,
                    reverse_zone=REVERSE_ZONE,
                    primary_last=self.specs["primary"].address.rsplit(".", 1)[1],
                    dns_last=spec.address.rsplit(".", 1)[1],
                )
            )
            (fs / f"var/lib/knot/{ZONE}.zone").write_text(
                ZONE_FILE.format(
                    zone=ZONE,
                    dns=self.specs["dns"].address if "dns" in self.specs else spec.address,
                    primary=self.specs["primary"].address if "primary" in self.specs else spec.address,
                )
            )
        mounts = []
        for pp in PRIVATE_PATHS:
            # a symlinked file (resolv.conf under systemd-resolved) would be mounted over its target
            if pp.start == "file" and os.path.islink(pp.path):
                continue
            if os.path.exists(pp.path) and (fs / pp.path.lstrip("/")).exists():
                mounts.append(f"mount --bind {shlex.quote('fs' + pp.path)} {shlex.quote(pp.path)}")
        services = []
        if "nginx" in spec.services:
            services.append("nginx")
        if start_pg:
            services.append(start_pg.rstrip())
        if "knot" in spec.services:
            services.append("knotd -c /etc/knot/knot.conf -d")
        init = f"""#!/bin/bash
# chaton lab: init of host {spec.name} (runs inside netns lab-{spec.name}, private mount+uts ns)
set -e
cd {shlex.quote(str(hdir))}
# read now: the mounts below may hide this folder (a state directory under /tmp)
extra_starts=$(cat start.d/*.sh 2>/dev/null || true)
hostname {spec.name}
mount --make-rprivate /
{chr(10).join(mounts)}
cd /
{chr(10).join(services)}
eval "$extra_starts"
exec /usr/sbin/sshd -D -e -f /etc/ssh/sshd_config
"""
        _write(hdir / "init.sh", init, 0o700)

    def _write_known_hosts(self):
        lines = []
        for spec in self.specs.values():
            pub = (self.state_dir / "keys" / spec.name / "ssh_host_ed25519_key.pub").read_text().split()
            lines.append(f"{spec.address},{spec.name} {pub[0]} {pub[1]}")
        text = "\n".join(lines) + "\n"
        _write(self.known_hosts, text, 0o644)
        for spec in self.specs.values():
            _write(self.host_dir(spec.name) / "fs/root/.ssh/known_hosts", text, 0o644)

    def _network_up(self):
        batch = [
            f"link add {BRIDGE} type bridge",
            f"addr add {BRIDGE_ADDRESS}/24 dev {BRIDGE}",
            f"link set {BRIDGE} up",
        ]
        for spec in self.specs.values():
            ns, veth = NETNS_PREFIX + spec.name, VETH_PREFIX + spec.name
            batch += [
                f"netns add {ns}",
                f"link add {veth} type veth peer name eth0 netns {ns}",
                f"link set {veth} master {BRIDGE}",
                f"link set {veth} up",
            ]
        _run(["ip", "-batch", "-"], input="\n".join(batch) + "\n")
        procs = []
        for spec in self.specs.values():
            ns_batch = ["link set lo up", f"addr add {spec.address}/24 dev eth0", "link set eth0 up"]
            procs.append(
                subprocess.Popen(
                    ["ip", "-n", NETNS_PREFIX + spec.name, "-batch", "-"],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                )
            )
            procs[-1].stdin.write("\n".join(ns_batch) + "\n")
            procs[-1].stdin.close()
        for p in procs:
            out = p.stdout.read()
            if p.wait() != 0:
                raise LabError(f"configuring a lab namespace failed: {out}")

    def _start_host(self, spec: HostSpec):
        hdir = self.host_dir(spec.name)
        with open(hdir / "init.log", "ab") as log:
            # setsid -f: the init is not our child (no zombies), in its own session, no TTY
            subprocess.run(
                [
                    "setsid",
                    "-f",
                    "ip",
                    "netns",
                    "exec",
                    NETNS_PREFIX + spec.name,
                    "unshare",
                    "--mount",
                    "--uts",
                    "--propagation",
                    "private",
                    str(hdir / "init.sh"),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                close_fds=True,
                check=True,
            )

    def _wait_ready(self, deadline: float):
        pending = {n: self._readiness(s) for n, s in self.specs.items()}
        while True:
            for name in list(pending):
                pending[name] = [c for c in pending[name] if not c[1]()]
                if not pending[name]:
                    del pending[name]
            if not pending:
                break
            if time.monotonic() > deadline:
                raise LabError(
                    "lab hosts not ready: "
                    + ", ".join(f"{n}: {', '.join(c[0] for c in cs)}" for n, cs in pending.items())
                    + f" (see {self.state_dir}/hosts/*/init.log)"
                )
            time.sleep(0.02)
        # a real login on every host, in parallel
        procs = {
            n: subprocess.Popen(
                self.ssh_argv(n, "true"),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for n in self.specs
        }
        failed = {}
        for n, p in procs.items():
            out, _ = p.communicate(timeout=max(5, deadline - time.monotonic()))
            if p.returncode != 0:
                failed[n] = out.strip()
        if failed:
            raise LabError("ssh login failed: " + "; ".join(f"{n}: {o}" for n, o in failed.items()))

    def _readiness(self, spec: HostSpec):
        checks = [("sshd", lambda: _tcp_open(spec.address, 22))]
        if "nginx" in spec.services:
            checks.append(("nginx", lambda: _tcp_open(spec.address, 80)))
        if "knot" in spec.services:
            checks.append(("knot", lambda: _tcp_open(spec.address, 53)))
        if "postgres" in spec.services and _postgres_version():
            sock = self.host_path(spec.name, "/run/postgresql/.s.PGSQL.5432")
            checks.append(("postgres", sock.exists))
        checks += self._mariadb_readiness(spec)
        return checks

    # ---------------------------------------------------------------- MariaDB (one server per host)
    def _mariadb_cache(self) -> Path | None:
        """A MariaDB data directory (system tables, root by unix socket), built once and copied per host."""
        install = shutil.which("mariadb-install-db")
        if install is None or not shutil.which("mariadbd", path=MARIADB_PATH):
            return None
        cache = self.state_dir / "cache" / "mariadb"
        if (cache / "ok").exists():
            return cache
        if cache.exists():
            shutil.rmtree(cache)
        (cache / "lib").mkdir(parents=True)
        shutil.chown(cache / "lib", "mysql", "mysql")
        # built at the path the hosts use (the state directory is closed to the mysql user)
        command = shlex.join([install, "--no-defaults", "--user=mysql", "--datadir=/var/lib/mysql",
                              "--auth-root-authentication-method=socket", "--skip-test-db", *MARIADB_OPTIONS])
        _run(["unshare", "--mount", "--propagation", "private", "bash", "-c",
              f"set -e; mount --bind lib /var/lib/mysql; {command} >/dev/null"], cwd=cache, timeout=120)
        (cache / "ok").write_text("ok\n")
        return cache

    def _add_mariadb(self) -> None:
        """Give each host with `mariadb` a copy of the cached data directory and a server started by its init."""
        wanted = [spec for spec in self.specs.values() if "mariadb" in spec.services]
        cache = self._mariadb_cache() if wanted else None
        if cache is None:
            return
        mariadbd = shutil.which("mariadbd", path=MARIADB_PATH)
        for spec in wanted:
            fs = self.host_dir(spec.name) / "fs"
            shutil.rmtree(fs / "var/lib/mysql")
            _run(["cp", "-a", "--reflink=auto", str(cache / "lib"), str(fs / "var/lib/mysql")])
            for folder in ("run/mysqld", "var/log/mysql"):
                (fs / folder).mkdir(parents=True, exist_ok=True)
                shutil.chown(fs / folder, "mysql", "mysql")
            server = [mariadbd, "--no-defaults", "--user=mysql", "--datadir=/var/lib/mysql",
                      f"--socket={MARIADB_SOCKET}", "--pid-file=/run/mysqld/mysqld.pid", "--skip-networking",
                      "--log-error=/var/log/mysql/error.log", *MARIADB_OPTIONS]
            start = self.host_dir(spec.name) / "start.d" / "mariadb.sh"
            start.parent.mkdir(exist_ok=True)
            start.write_text(f"setsid {shlex.join(server)} </dev/null >/dev/null 2>&1 &\n")

    def _mariadb_readiness(self, spec: HostSpec) -> list:
        if "mariadb" not in spec.services or not (self.state_dir / "cache" / "mariadb" / "ok").exists():
            return []
        return [("mariadb", self.host_path(spec.name, MARIADB_SOCKET).exists)]

    # ---------------------------------------------------------------- a host that dies
    def stop_host(self, host: str) -> None:
        """Make a host vanish the way a dead machine does: its link goes down, so connections time out
        (nothing refuses); its processes and data stay, frozen behind the dead link."""
        self._set_link(host, "down")

    def start_host(self, host: str) -> None:
        """Bring a stopped host back with its data and processes."""
        self._set_link(host, "up")

    def host_is_stopped(self, host: str) -> bool:
        cp = _run(["ip", "-n", NETNS_PREFIX + host, "-o", "link", "show", "eth0"], check=False)
        flags = cp.stdout.partition("<")[2].partition(">")[0].split(",")  # "2: eth0@if5: <BROADCAST,UP,…>"
        return cp.returncode == 0 and "UP" not in flags

    def _set_link(self, host: str, state: str) -> None:
        if host not in self.specs:
            raise LabError(f"no lab host {host!r} (hosts: {', '.join(self.specs)})")
        if NETNS_PREFIX + host not in self._our_namespaces():
            raise LabError(f"lab host {host} is not running (is the lab up?)")
        _run(["ip", "-n", NETNS_PREFIX + host, "link", "set", "eth0", state])

    # ---------------------------------------------------------------- down
    def _our_namespaces(self) -> list[str]:
        cp = _run(["ip", "netns", "list"], check=False)
        names = {line.split()[0] for line in cp.stdout.splitlines() if line.strip()}
        ours = {n for n in names if _OUR_NETNS.match(n)}
        ours |= {NETNS_PREFIX + n for n in self.specs if NETNS_PREFIX + n in names}
        return sorted(ours)

    def down(self, *, grace: float = 5.0) -> float:
        """Kill the processes of the lab namespaces (by PID), delete namespaces and bridge."""
        t0 = time.monotonic()
        namespaces = self._our_namespaces()
        pids: set[int] = set()
        for ns in namespaces:
            cp = _run(["ip", "netns", "pids", ns], check=False)
            pids |= {int(p) for p in cp.stdout.split() if p.isdigit()}
        pids.discard(os.getpid())
        _signal(pids, 15)
        deadline = time.monotonic() + grace
        while pids and time.monotonic() < deadline:
            pids = {p for p in pids if _alive(p)}
            if pids:
                time.sleep(0.01)
        _signal({p for p in pids if _alive(p)}, 9)
        for ns in namespaces:  # late arrivals (forked during TERM)
            cp = _run(["ip", "netns", "pids", ns], check=False)
            _signal({int(p) for p in cp.stdout.split() if p.isdigit()} - {os.getpid()}, 9)
        batch = [f"netns del {ns}" for ns in namespaces]
        if Path(f"/sys/class/net/{BRIDGE}").exists():
            batch.append(f"link del {BRIDGE}")
        if batch:
            _run(["ip", "-force", "-batch", "-"], input="\n".join(batch) + "\n", check=False)
        for link in Path("/sys/class/net").glob(VETH_PREFIX + "*"):  # veths whose netns vanished oddly
            _run(["ip", "link", "del", link.name], check=False)
        return time.monotonic() - t0

    # ---------------------------------------------------------------- status
    def status(self) -> list[dict]:
        namespaces = set(self._our_namespaces())
        if not Path(f"/sys/class/net/{BRIDGE}").exists():  # no probes via a default route
            namespaces = set()
        rows = []
        for spec in self.specs.values():
            up = NETNS_PREFIX + spec.name in namespaces
            row = {
                "host": spec.name,
                "address": spec.address,
                "netns": up,
                "sshd": up and _tcp_open(spec.address, 22),
                "services": {name: bool(up and check()) for name, check in self._readiness(spec)[1:]},
            }
            rows.append(row)
        return rows

    def _recorded_extra(self) -> int:
        try:
            return int(json.loads((self.state_dir / "lab.json").read_text()).get("extra", 0))
        except (OSError, ValueError):
            return 0

    # ---------------------------------------------------------------- inventory
    def inventory_data(self) -> dict:
        hosts: dict = {}
        for spec in self.specs.values():
            # No systemd in the lab: playbooks start and reload services directly.
            hosts[spec.name] = {"address": spec.address, "service_manager": "direct"}
        if "vps" in hosts:
            hosts["vps"].update(kind="fallback", capacity={"disk_gb": 20, "memory_gb": 2})
            hosts["vps"].update(newer_restic())
        return {
            "version": 1,
            "collective": {"name": "Chaton Lab", "domain": ZONE, "contact": f"admins@{ZONE}"},
            "defaults": {
                "ssh": {
                    "user": "root",
                    "port": 22,
                    "identity": str(self.identity),
                    "known_hosts": str(self.known_hosts),
                },
                "retention": {"last": 3, "daily": 7, "weekly": 5, "monthly": 12},
            },
            "secrets": {
                "restic-lab": {"file": str(self.restic_password_file)},
                "tsig": {"file": str(self.tsig_key_file)},
            },
            "repositories": {
                "main": {
                    "url": f"sftp:root@{self.specs['backup'].address}:/srv/restic/main",
                    "password": "restic-lab",
                },
            },
            "hosts": hosts,
            "dns": {
                zone: {
                    "provider": "rfc2136",
                    "server": self.specs["dns"].address,
                    "key_name": TSIG_KEY_NAME,
                    "key": "tsig",
                    "algorithm": "hmac-sha256",
                    "failover_ttl": 60,
                }
                for zone in (ZONE, REVERSE_ZONE)
            },
            "tenants": {
                "lab": {
                    "contact": f"admins@{ZONE}",
                    "last_contact": datetime.date.today(),
                    "repository": "main",
                },
            },
            "services": {
                "www": {
                    "tenant": "lab",
                    "host": "primary",
                    "priority": "critical",
                    "playbook": "static-site",
                    "vars": {"server_name": f"www.{ZONE}"},
                    "data": ["/srv/www"],
                    "repositories": ["main"],
                    "dns": [{"zone": ZONE, "name": "www", "type": "A"}],
                    "check": {"http": {"url": f"http://www.{ZONE}/", "status": 200, "timeout": 5}},
                    "fallback": "vps",
                },
                "mail": {
                    "tenant": "lab",
                    "host": "primary",
                    "priority": "critical",
                    "playbook": "postfix-relay",
                    "vars": {"myhostname": f"mail.{ZONE}", "maillog_file": "/var/log/postfix.log"},
                    # the queue: each message's file and its delivery log belong together
                    "data": [f"/var/spool/postfix/{queue}" for queue in POSTFIX_QUEUES],
                    "repositories": ["main"],
                    "dns": [{"zone": ZONE, "name": "mail", "type": "A"}],
                    "check": {"smtp": {"host": f"mail.{ZONE}", "port": 25, "timeout": 5}},
                    "fallback": "vps",
                },
            },
        }

    def write_inventory(self, path: str | os.PathLike | None = None) -> Path:
        target = Path(path) if path else self.inventory
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.secrets_dir.mkdir(parents=True, exist_ok=True)
        if not self.restic_password_file.exists():
            _write(self.restic_password_file, RESTIC_PASSWORD + "\n", 0o600)
        if not self.tsig_key_file.exists():
            _write(self.tsig_key_file, base64.b64encode(secrets.token_bytes(32)).decode() + "\n", 0o600)
        data = self.inventory_data()
        header = "# chaton inventory of the test lab (generated by tests/lab/lab.py inventory)\n"
        try:
            import yaml

            text = yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
        except ImportError:  # JSON is YAML too
            text = json.dumps(data, indent=2, default=str) + "\n"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(header + text)
        return target


NEW_RESTIC = Path(os.environ.get("CHATON_LAB_CACHE", "/var/cache/chaton-lab")) / "restic-trixie/usr/bin/restic"


def newer_restic() -> dict:
    """`restic:` of the lab host that runs Debian 13's restic (0.18, fetched by scripts/install-lab-deps)
    beside the system's 0.14, so that tests cover both versions and their output."""
    if not NEW_RESTIC.is_file():
        raise LabError(f"{NEW_RESTIC} is missing: run scripts/install-lab-deps (it fetches Debian 13's restic)")
    return {"restic": str(NEW_RESTIC)}


def _write(path: Path, text: str, mode: int):
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def _signal(pids, sig):
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def print_status(lab: Lab) -> bool:
    rows = lab.status()
    print(f"{'HOST':<10} {'ADDRESS':<12} {'SSHD':<5} SERVICES")
    for r in rows:
        svcs = " ".join(f"{k}:{'up' if v else 'down'}" for k, v in r["services"].items()) or "-"
        print(f"{r['host']:<10} {r['address']:<12} {'up' if r['sshd'] else 'down':<5} {svcs}")
    return all(r["sshd"] and all(r["services"].values()) for r in rows)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == [KEEPER_COMMAND]:
        return keep_lock(int(argv[1]))
    ap = argparse.ArgumentParser(prog="lab.py", description="chaton-ops test lab")
    ap.add_argument(
        "--wait", type=float, default=0.0, metavar="SECONDS", help="wait for a lab in use (test session)"
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    p_up = sub.add_parser("up", help="(re)build the lab")
    p_up.add_argument("--extra", type=int, default=0, metavar="N", help="add hosts node1..nodeN")
    sub.add_parser("down", help="tear the lab down")
    sub.add_parser("status", help="show the lab's hosts (exit 1 if something is down)")
    p_stop = sub.add_parser("stop", help="make a host vanish from the network, as a dead machine does")
    p_stop.add_argument("host")
    p_start = sub.add_parser("start", help="bring a stopped host back, with its data")
    p_start.add_argument("host")
    p_ssh = sub.add_parser("ssh", help="run a shell command line on a host (as root, over the lab's ssh)")
    p_ssh.add_argument("host")
    p_ssh.add_argument("command", help="one shell command line")
    p_address = sub.add_parser("address", help="print a host's address")
    p_address.add_argument("host")
    p_inv = sub.add_parser("inventory", help="write a chaton inventory of the lab")
    p_inv.add_argument("path", nargs="?", help="default: <state>/inventory.yml")
    args = ap.parse_args(argv)
    lock = LabLock()
    try:
        if args.cmd in ("up", "down"):
            lock.end_keeper()  # the keeper of an earlier `lab.py up` (never another user's lock)
            lock.acquire(timeout=args.wait, who=f"lab.py {args.cmd}")
        if args.cmd == "up":
            lab = Lab(extra=args.extra)
            took = lab.up()
            keeper = lock.hand_to_keeper()  # held until `lab.py down`: nobody else's run tears it apart
            print(f"lab up in {took:.2f} s: {len(lab.specs)} hosts, state in {lab.state_dir}; "
                  f"lock {lock.path} held by keeper pid {keeper} until `lab.py down`")
            print_status(lab)
            print(
                f"ssh: ssh -i {lab.identity} -o UserKnownHostsFile={lab.known_hosts} "
                f"root@{lab.address('primary')}"
            )
        elif args.cmd == "down":
            took = Lab().down()
            print(f"lab down in {took:.2f} s")
        elif args.cmd in ("stop", "start"):
            lab = Lab()
            (lab.stop_host if args.cmd == "stop" else lab.start_host)(args.host)
            print(f"lab host {args.host} {'stopped (link down: connections time out)' if args.cmd == 'stop' else 'started'}")
        elif args.cmd == "address":
            lab = Lab()
            if args.host not in lab.specs:
                raise LabError(f"no lab host {args.host!r} (hosts: {', '.join(lab.specs)})")
            print(lab.address(args.host))
        elif args.cmd == "ssh":
            lab = Lab()
            if args.host not in lab.specs:
                raise LabError(f"no lab host {args.host!r} (hosts: {', '.join(lab.specs)})")
            done = subprocess.run(lab.ssh_argv(args.host, args.command), check=False)
            return done.returncode
        elif args.cmd == "status":
            return 0 if print_status(Lab()) else 1
        elif args.cmd == "inventory":
            print(Lab().write_inventory(args.path))
    except LabError as exc:
        print(f"lab: {exc}", file=sys.stderr)
        return 1
    finally:
        lock.release()
    return 0


if __name__ == "__main__":
    sys.exit(main())
