"""Fixtures for tests against the real lab (tests/lab/): hosts in network namespaces.

Every test in tests/integration/ gets the marker `lab`.  The session-scoped `lab` fixture brings
the lab up once and always tears it down at the end (finalizer + atexit + SIGTERM/SIGHUP).
If the lab cannot be built (not root, no namespaces, missing packages) the fixture FAILS: these
tests are never skipped.  Under pytest-xdist each worker brings up a lab of its own (tests/conftest.py).
"""

from __future__ import annotations

import atexit
import dataclasses
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

_REPO = Path(__file__).resolve().parents[2]
if str(_REPO) not in sys.path:
    sys.path.insert(0, str(_REPO))

from tests.lab.lab import Lab, LabError, LabLock  # noqa: E402

_HERE = Path(__file__).resolve().parent


def pytest_configure(config):
    config.addinivalue_line("markers", "lab: needs the namespace lab (tests/lab/), run as root")
    config.addinivalue_line(
        "markers", "lab_rebuild: rebuilds the lab (wipes host data); run at the end of the session"
    )


def pytest_collection_modifyitems(config, items):
    for item in items:
        if _HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.lab)
    # tests that rebuild the lab go last, so no other test's lab state is wiped under it
    rebuild = [i for i in items if i.get_closest_marker("lab_rebuild")]
    if rebuild:
        items[:] = [i for i in items if not i.get_closest_marker("lab_rebuild")] + rebuild


class LabHandle:
    """What tests see of the lab.

    state_dir, hosts {name: address}, identity, known_hosts, inventory (paths), tsig_key_file,
    tsig_secret, tsig_key_name, zone, restic_password, restic_password_file (root namespace),
    host_restic_password_file (same password, inside every host: /root/restic-lab.pass),
    ssh(host, *argv) -> CompletedProcess, ssh_argv(host, *argv), ssh_options(),
    host_path(host, path) -> Path, address(host), raw (the tests.lab.lab.Lab).
    """

    def __init__(self, lab: Lab):
        self.raw = lab
        self.state_dir = lab.state_dir
        self.hosts = lab.hosts
        self.identity = lab.identity
        self.known_hosts = lab.known_hosts
        self.inventory = lab.inventory
        self.tsig_key_file = lab.tsig_key_file
        self.tsig_key_name = lab.tsig_key_name
        self.zone = lab.zone
        self.restic_password = lab.restic_password
        self.restic_password_file = lab.restic_password_file
        self.host_restic_password_file = lab.host_restic_password_file

    @property
    def tsig_secret(self) -> str:
        return self.raw.tsig_secret

    def address(self, host: str) -> str:
        return self.raw.address(host)

    def ssh(
        self, host: str, *argv: str, check: bool = False, input: str | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess:
        """One argument = a remote shell command line; several = argv, quoted for the remote shell."""
        return self.raw.ssh(host, *argv, check=check, input=input, timeout=timeout)

    def ssh_argv(self, host: str, *argv: str) -> list[str]:
        return self.raw.ssh_argv(host, *argv)

    def ssh_options(self) -> list[str]:
        return self.raw.ssh_options()

    def host_path(self, host: str, path: str) -> Path:
        return self.raw.host_path(host, path)


_active: list[Lab] = []
_lock = LabLock()


def _teardown_all():
    while _active:
        lab = _active.pop()
        try:
            lab.down()
        except Exception as exc:  # noqa: BLE001 - best effort at exit
            print(f"lab teardown failed: {exc}", file=sys.stderr)
    _lock.release()


def _on_signal(signum, frame):
    _teardown_all()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


atexit.register(_teardown_all)


@pytest.fixture(scope="session")
def lab(request) -> LabHandle:
    extra = int(os.environ.get("CHATON_LAB_EXTRA", "0"))
    raw = Lab(extra=extra)
    problem = None
    try:
        # one lab per machine: wait for another test session (another worktree, a colleague) to end
        _lock.acquire(timeout=float(os.environ.get("CHATON_LAB_LOCK_WAIT", "240")), who="pytest")
    except (LabError, OSError) as exc:
        problem = str(exc)
    if problem:  # the lab belongs to someone else: do not tear it down
        pytest.fail(f"the test lab could not be brought up: {problem}", pytrace=False)
    _active.append(raw)
    request.addfinalizer(_teardown_all)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        try:
            if signal.getsignal(sig) in (signal.SIG_DFL, None):
                signal.signal(sig, _on_signal)
        except ValueError:  # not in the main thread
            pass
    try:
        raw.up()
    except (LabError, OSError, subprocess.SubprocessError) as exc:
        problem = f"the test lab could not be brought up: {exc}"
    if problem:  # fail, never skip: CI must notice a machine that cannot run the lab
        pytest.fail(problem, pytrace=False)
    return LabHandle(raw)


@dataclasses.dataclass(frozen=True)
class FreshRepo:
    name: str
    url: str  # sftp:root@10.77.0.4:/srv/restic/<name> (not initialised)
    password: str
    password_file: Path  # root namespace
    host_password_file: str  # the same password inside every lab host
    path: Path  # root-namespace path of the repository directory on backup


@pytest.fixture
def fresh_repo(lab: LabHandle) -> FreshRepo:
    name = f"t-{uuid.uuid4().hex[:10]}"
    return FreshRepo(
        name=name,
        url=f"sftp:root@{lab.address('backup')}:/srv/restic/{name}",
        password=lab.restic_password,
        password_file=lab.restic_password_file,
        host_password_file=lab.host_restic_password_file,
        path=lab.host_path("backup", f"/srv/restic/{name}"),
    )
