"""Running restic through the Transport port (ops/restic_calls.py), with fake hosts: the password only
in the secret environment, the outcome classified, `restic version` asked once per host and run."""

from __future__ import annotations

import pytest

from chaton_ops.core.ports import CommandResult
from chaton_ops.core.restic import OLDEST_SUPPORTED, ResticError
from chaton_ops.errors import CommandFailed
from chaton_ops.ops.restic_calls import VersionCache, detect_version, run_restic
from tests.fakes import FakeTransport

PASSWORD = "s3cret-restic-pass"


class ResticVersionHost(FakeTransport):
    """A host answering `restic version` with `line` (or exit `code` with `stderr`)."""

    def __init__(self, host: str, line: str = "restic 0.14.0 compiled with go1.19.8 on linux/amd64\n", *,
                 code: int = 0, stderr: str = "") -> None:
        super().__init__(host)
        self.line, self.code, self.stderr = line, code, stderr

    def answer(self, argv: list[str]) -> CommandResult:
        return self.result(argv, self.code, self.line if self.code == 0 else "", self.stderr)


def test_the_password_travels_in_the_secret_environment_only_and_the_exit_is_classified() -> None:
    class Locked(FakeTransport):
        def answer(self, argv: list[str]) -> CommandResult:
            return self.result(argv, 11, "", "Fatal: unable to create lock in backend: repository is already locked\n")

    host = Locked("web")
    argv = ["restic", "--repo", "/srv/restic/main", "snapshots", "--json"]

    run = run_restic(host, argv, PASSWORD)

    assert host.commands == [argv]
    assert host.secret_environments == [{"RESTIC_PASSWORD": PASSWORD}]
    assert all(PASSWORD not in part for part in host.commands[0])
    assert (run.outcome, run.succeeded) == ("locked", False)
    assert run.error("snapshots of main").kind == "locked"


@pytest.mark.parametrize(("line", "expected"), [
    ("restic 0.14.0 compiled with go1.19.8 on linux/amd64\n", (0, 14, 0)),
    ("restic 0.18.0 compiled with go1.24.1 on linux/amd64\n", (0, 18, 0)),
])
def test_the_version_is_read_from_restic_version(line: str, expected: tuple[int, int, int]) -> None:
    assert detect_version(ResticVersionHost("web", line)) == expected


def test_a_missing_or_too_old_restic_is_a_restic_error_and_a_failing_one_a_command_failure() -> None:
    with pytest.raises(ResticError) as missing:
        detect_version(ResticVersionHost("web", code=127, stderr="bash: restic: command not found\n"))
    with pytest.raises(ResticError) as old:
        detect_version(ResticVersionHost("web", "restic 0.9.6 compiled with go1.13 on linux/amd64\n"))
    with pytest.raises(CommandFailed):
        detect_version(ResticVersionHost("web", code=2, stderr="segfault\n"))

    assert missing.value.kind == "missing" and "web: restic is not installed" in missing.value.message
    assert old.value.kind == "fatal" and f"{'.'.join(map(str, OLDEST_SUPPORTED))} or newer" in old.value.message


def test_the_version_cache_asks_each_host_once_per_run() -> None:
    web, mail = ResticVersionHost("web"), ResticVersionHost("mail", "restic 0.18.0 compiled with go1.24\n")
    cache = VersionCache()

    versions = [cache.get(host) for host in (web, mail, web, mail, web)]

    assert versions == [(0, 14, 0), (0, 18, 0), (0, 14, 0), (0, 18, 0), (0, 14, 0)]
    assert web.commands == [["restic", "version"]] and mail.commands == [["restic", "version"]]
    assert VersionCache().get(web) == (0, 14, 0) and len(web.commands) == 2  # a new run asks again
