"""The Secrets port: use cases ask it for the secret a step needs, by the name the inventory gives, and
hand the value to restic's secret environment only; the inventory's references (adapters/secrets.py)
and the in-memory fake (tests/fakes.py) both implement it."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaton_ops.adapters.secrets import InventorySecrets
from chaton_ops.core.backup_plan import plan_backup
from chaton_ops.core.loader import LoadedInventory
from chaton_ops.core.masking import MASK, mask_text
from chaton_ops.core.ports import CommandResult, Secrets
from chaton_ops.errors import SecretError
from chaton_ops.ops.backup import BackupSettings, run_backup
from chaton_ops.ops.check import check_repositories, plan_check
from chaton_ops.ops.snapshots import list_repository_snapshots
from tests.fakes import FakeSecrets
from tests.unit.ops.test_backup_run import INVENTORY, MAIN, FakeResticHost

LOADED = LoadedInventory(INVENTORY, Path("inventory.yml"), (Path("inventory.yml"),), positions=None)  # type: ignore[arg-type]
PASSWORD = "fake-port-pass-0042"


class SnapshotsHost(FakeResticHost):
    """FakeResticHost that also lists (no) snapshots."""

    def answer(self, argv: list[str]) -> CommandResult:
        if "snapshots" in argv:
            return self.result(argv, 0, "[]\n")
        return super().answer(argv)


def test_restic_gets_the_repository_s_password_from_the_port_in_its_secret_environment_only() -> None:
    secrets = FakeSecrets({"pw": PASSWORD})
    host = SnapshotsHost("web", {MAIN})

    assert list_repository_snapshots(LOADED, "main", host, secrets=secrets, service="www") == []

    assert secrets.asked == ["pw"]  # the name `repositories.main.password` gives
    assert host.secret_environments == [{"RESTIC_PASSWORD": PASSWORD}]
    assert not any(PASSWORD in part for argv in host.commands for part in argv)


def test_a_secret_that_cannot_be_resolved_stops_before_restic_runs() -> None:
    host = SnapshotsHost("web", {MAIN})

    with pytest.raises(SecretError, match="secret 'pw' is not defined"):
        list_repository_snapshots(LOADED, "main", host, secrets=FakeSecrets({}))

    assert host.commands == []


def test_a_backup_resolves_every_password_through_the_port_before_anything_starts() -> None:
    plan = plan_backup(INVENTORY, ["www"])
    host = FakeResticHost("web", {MAIN})

    report = run_backup(LOADED, plan, transports={"web": host}.__getitem__, settings=BackupSettings(jobs=1),
                        secrets=FakeSecrets({"pw": PASSWORD}))
    untouched = FakeResticHost("web", {MAIN})
    with pytest.raises(SecretError):
        run_backup(LOADED, plan, transports={"web": untouched}.__getitem__, settings=BackupSettings(jobs=1),
                   secrets=FakeSecrets({}))

    assert [r.status for r in report.results] == ["ok"]
    assert {"RESTIC_PASSWORD": PASSWORD} in host.secret_environments
    assert untouched.commands == []


def test_a_check_whose_password_cannot_be_resolved_fails_that_repository_with_the_reason() -> None:
    plan = plan_check(INVENTORY, ["main"], via="web", integrity=False)

    report = check_repositories(LOADED, {"web": SnapshotsHost("web", {MAIN})}.__getitem__, plan,
                                secrets=FakeSecrets({}))

    (checked,) = report.repositories
    assert checked.integrity == "failed" and "secret 'pw' is not defined" in (checked.error or "")


def test_the_inventory_s_references_implement_the_port_and_the_value_is_masked(monkeypatch) -> None:
    monkeypatch.setenv("PW", PASSWORD + "\n")
    secrets: Secrets = InventorySecrets(LOADED)

    value = secrets.resolve("pw")

    assert value.reveal() == PASSWORD
    assert PASSWORD not in repr(value) and PASSWORD not in str(value)
    assert mask_text(f"restic said {PASSWORD}") == f"restic said {MASK}"
    with pytest.raises(SecretError) as unknown:
        secrets.resolve("nope")
    assert "secret 'nope' is not defined" in unknown.value.message
