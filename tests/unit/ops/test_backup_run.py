"""The backup use case against an in-memory host that behaves like restic (no lab needed)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from chaton_ops.core.backup_plan import plan_backup
from chaton_ops.core.loader import LoadedInventory
from chaton_ops.core.ports import CommandResult
from chaton_ops.errors import ConnectError, ExitCode
from chaton_ops.ops.backup import BackupSettings, backup_exit_code, run_backup
from tests.fakes import FakeTransport
from tests.unit.core.test_backup import make_inventory

PASSWORD = "s3cret-pass"


class FakeResticHost(FakeTransport):
    """A host with restic 0.14 and one SFTP repository; remembers what restic was given."""

    def __init__(self, host: str, repositories: set[str], *, missing_paths: Sequence[str] = ()) -> None:
        super().__init__(host)
        self.repositories = repositories
        self.missing_paths = set(missing_paths)
        self.snapshots: list[dict[str, object]] = []
        self.environments = self.secret_environments
        self.argvs = self.commands

    def answer(self, argv: list[str]) -> CommandResult:
        if argv[:2] == ["restic", "version"]:
            return self._done(argv, 0, "restic 0.14.0 compiled with go1.19.8 on linux/amd64\n")
        if argv[0] == "sftp":
            return self._done(argv, 0, "   Size   Used   Avail   (root) %Capacity\n")
        if argv[0] == "sh":
            return self._done(argv, 0, "".join(f"{p}\n" for p in argv[4:] if p in self.missing_paths))
        url, command = argv[2], argv[3]
        if command == "init":
            self.repositories.add(url)
            return self._done(argv, 0, "created restic repository 0123456789 at x\n")
        if url not in self.repositories:
            return self._done(argv, 1, "", "Fatal: unable to open config file: Stat: file does not exist\n"
                                           "Is there a repository at the following location?\n")
        if command == "backup":
            snapshot_id = f"{len(self.snapshots):08x}"
            self.snapshots.append({"id": snapshot_id, "tags": [argv[i + 1] for i, a in enumerate(argv) if a == "--tag"]})
            summary = {"message_type": "summary", "files_new": 2, "files_changed": 0, "data_added": 10,
                       "snapshot_id": snapshot_id}
            return self._done(argv, 0, json.dumps(summary) + "\n")
        if command == "forget":
            return self._done(argv, 0, "[]\n")
        return self._done(argv, 1, "", f"unexpected {command}")

    def _done(self, argv: list[str], code: int, stdout: str, stderr: str = "") -> CommandResult:
        return self.result(argv, code, stdout, stderr)


INVENTORY = make_inventory(
    www={"host": "web", "data": ["/srv/www"], "repositories": ["main"]},
    mail={"host": "mail", "data": ["/var/mail"], "repositories": ["main"]},
)
LOADED = LoadedInventory(INVENTORY, Path("inventory.yml"), (Path("inventory.yml"),), positions=None)  # type: ignore[arg-type]
MAIN = INVENTORY.repositories["main"].url


def run(hosts: dict[str, FakeResticHost], services: list[str], **options: bool):
    plan = plan_backup(INVENTORY, services)
    return run_backup(LOADED, plan, transports=hosts.__getitem__, settings=BackupSettings(jobs=2, **options),
                      passwords={"main": PASSWORD})


def test_a_missing_repository_is_created_only_with_init_and_the_backup_then_made():
    refused_host = FakeResticHost("web", set())
    refused = run({"web": refused_host}, ["www"])
    assert refused.results[0].status == "failed" and "--init" in refused.results[0].message
    assert refused_host.repositories == set() and refused_host.snapshots == []

    host = FakeResticHost("web", set())
    report = run({"web": host}, ["www"], init=True)
    assert report.results[0].status == "ok" and report.results[0].snapshot_id == "00000000"
    assert host.repositories == {MAIN}
    assert host.snapshots[0]["tags"] == ["chaton", "service:www"]


def test_the_password_reaches_restic_only_through_the_secret_environment():
    host = FakeResticHost("web", {MAIN})
    run({"web": host}, ["www"])
    restic_calls = [(a, e) for a, e in zip(host.argvs, host.environments, strict=True) if a[0] == "restic"
                    and a[1] != "version"]
    assert restic_calls and all(e == {"RESTIC_PASSWORD": PASSWORD} for _, e in restic_calls)
    assert not any(PASSWORD in " ".join(a) for a in host.argvs)


def test_one_failing_host_does_not_stop_the_others_and_the_run_is_partial():
    web = FakeResticHost("web", {MAIN})
    mail = FakeResticHost("mail", {MAIN}, missing_paths=["/var/mail"])
    report = run({"web": web, "mail": mail}, ["www", "mail"])
    statuses = {r.service: r.status for r in report.results}
    assert statuses == {"www": "ok", "mail": "failed"}
    assert "source path missing on mail: /var/mail" in report.results[1].message
    assert backup_exit_code(report) == ExitCode.PARTIAL
    assert mail.snapshots == [] and len(web.snapshots) == 1
    # retention thins only what was renewed: the failed service's snapshots are left alone
    forgets = [a for a in web.argvs + mail.argvs if len(a) > 3 and a[3] == "forget"]
    assert [a[a.index("--tag") + 1] for a in forgets] == ["service:www"]


class UnreachableHost(FakeResticHost):
    """A host whose SSH connection cannot be made: every command ends in ConnectError."""

    def run(self, argv, **kwargs):  # type: ignore[no-untyped-def, override]
        raise ConnectError(self.host, "connection refused (10.77.0.99 port 22)")


def test_a_run_whose_every_host_is_unreachable_exits_4_and_says_which_host():
    report = run({"web": UnreachableHost("web", {MAIN}), "mail": UnreachableHost("mail", {MAIN})}, ["www", "mail"])
    assert [r.status for r in report.results] == ["failed", "failed"]
    assert all(r.unreachable and "connection refused" in r.message for r in report.results)
    assert backup_exit_code(report) == ExitCode.UNREACHABLE


def test_one_unreachable_host_beside_a_good_one_is_partial():
    report = run({"web": FakeResticHost("web", {MAIN}), "mail": UnreachableHost("mail", {MAIN})}, ["www", "mail"])
    assert {r.service: r.status for r in report.results} == {"www": "ok", "mail": "failed"}
    assert backup_exit_code(report) == ExitCode.PARTIAL


LOCKED_014 = ("unable to create lock in backend: repository is already locked exclusively by PID 4242 on vps by "
              "root (UID 0, GID 0)\nlock was created at 2026-11-22 03:00:01 (12.5s ago)\nstorage ID 1a2b3c4d\n")


class CheckRunningElsewhere(FakeResticHost):
    """Another machine runs `restic check` on the repository: restic's exclusive lock is held for the
    first `locked_tries` exclusive commands (forget, prune); a restic ≥ 0.16 waits with --retry-lock."""

    def __init__(self, host: str, repositories: set[str], *, locked_tries: int, version: str = "0.14.0") -> None:
        super().__init__(host, repositories)
        self.locked_tries = locked_tries
        self.version = version
        self.given: list[list[str]] = []  # argv as chaton gave it

    def run(self, argv, **kwargs):  # type: ignore[no-untyped-def, override]
        argv = list(argv)
        self.given.append(argv)
        if argv[:2] == ["restic", "version"]:
            self.argvs.append(argv)
            return self._done(argv, 0, f"restic {self.version} compiled with go1.24.1 on linux/amd64\n")
        if "--retry-lock" in argv:  # restic waits by itself until the check is over
            argv = [argv[0], *argv[3:]]
            self.locked_tries = 0
        if "forget" in argv and self.locked_tries > 0:
            self.locked_tries -= 1
            self.argvs.append(argv)
            return self._done(argv, 1, "", LOCKED_014)
        return super().run(argv, **kwargs)


def test_retention_waits_for_a_check_holding_restic_s_lock_on_restic_0_14(monkeypatch) -> None:
    monkeypatch.setattr("chaton_ops.ops.restic_calls.LOCK_RETRY_FIRST_PAUSE", 0.01)
    host = CheckRunningElsewhere("web", {MAIN}, locked_tries=3)

    report = run({"web": host}, ["www"])

    assert [(r.status, r.snapshot_id) for r in report.results] == [("ok", "00000000")]
    assert backup_exit_code(report) == ExitCode.OK
    assert sum(1 for a in host.argvs if "forget" in a) == 4  # three refused, then done


def test_retention_waits_with_retry_lock_where_restic_has_it() -> None:
    host = CheckRunningElsewhere("web", {MAIN}, locked_tries=1, version="0.18.0")

    report = run({"web": host}, ["www"])

    assert report.results[0].status == "ok"
    waited = [a for a in host.given if "--retry-lock" in a]
    assert len(waited) == 1 and waited[0][:3] == ["restic", "--retry-lock", "600s"] and "forget" in waited[0]


def test_a_lock_held_past_the_wait_postpones_retention_and_the_backup_stays_a_success(monkeypatch) -> None:
    monkeypatch.setattr("chaton_ops.ops.restic_calls.LOCK_RETRY_FIRST_PAUSE", 0.01)
    host = CheckRunningElsewhere("web", {MAIN}, locked_tries=10_000)
    plan = plan_backup(INVENTORY, ["www"])

    report = run_backup(LOADED, plan, transports={"web": host}.__getitem__,
                        settings=BackupSettings(jobs=1, retention_lock_wait=0.2), passwords={"main": PASSWORD})

    (result,) = report.results
    assert (result.status, result.snapshot_id, result.succeeded) == ("warning", "00000000", True)
    assert ("snapshot made; retention (forget) postponed to the next run: main stayed "
                                      "locked for 0.2 s (unable to create lock in backend: repository is already locked exclusively by PID 4242 on vps"
            in result.message)
    assert backup_exit_code(report) == ExitCode.PARTIAL  # something to look at, not a failed backup


def test_a_backup_waits_for_restic_s_lock_only_when_asked(monkeypatch) -> None:
    monkeypatch.setattr("chaton_ops.ops.restic_calls.LOCK_RETRY_FIRST_PAUSE", 0.01)

    class LockedForBackup(CheckRunningElsewhere):
        def run(self, argv, **kwargs):  # type: ignore[no-untyped-def, override]
            if "backup" in argv and self.locked_tries > 0:
                self.locked_tries -= 1
                return self._done(list(argv), 1, "", LOCKED_014)
            return super().run(argv, **kwargs)

    refused = run({"web": LockedForBackup("web", {MAIN}, locked_tries=2)}, ["www"])
    waited_host = LockedForBackup("web", {MAIN}, locked_tries=2)
    plan = plan_backup(INVENTORY, ["www"])
    waited = run_backup(LOADED, plan, transports={"web": waited_host}.__getitem__,
                        settings=BackupSettings(jobs=1, lock_wait=30), passwords={"main": PASSWORD})

    assert refused.results[0].status == "failed"
    assert "repository main is locked: unable to create lock in backend: repository is already locked" in refused.results[0].message
    assert "--lock-wait SECONDS waits for it" in refused.results[0].message
    assert waited.results[0].status == "ok" and len(waited_host.snapshots) == 1
