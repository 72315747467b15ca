"""ops/vm with an in-memory cluster: vm_health (the VM section of `chaton status`), task waiting, journaling."""

from __future__ import annotations

import datetime as dt
import itertools
from contextlib import contextmanager
from typing import Any

import pytest

from chaton_ops.core.inventory import Inventory
from chaton_ops.core.proxmox import GuestRef, start_call
from chaton_ops.core.vm_plan import Change
from chaton_ops.errors import ConnectError, ProxmoxAuthError, TaskFailed
from chaton_ops.ops.vm import vm_health
from chaton_ops.ops.vm.runner import JournalRun, apply_change, wait_for_task
from tests.unit.ops.fake_proxmox import FakeProxmox

NOW = dt.datetime(2026, 11, 21, 14, 0, tzinfo=dt.UTC)
UPID = "UPID:pve1:000003E8:00001B58:6B022889:qmstart:103:chaton@pve!ops:"
STATUS = f"/nodes/pve1/tasks/{UPID}/status"
LOG = f"/nodes/pve1/tasks/{UPID}/log"


def inventory(vzdump: bool = True) -> Inventory:
    cluster = {"api": "https://pve1:8006", "token_id": "c@pve!ops", "token": "tok"}
    if vzdump:
        cluster["vzdump"] = {"storage": "backup", "max_age_hours": 26}
    return Inventory.model_validate({
        "version": 1, "collective": {"name": "T", "domain": "t.example", "contact": "a@t.example"},
        "secrets": {"tok": {"env": "TOK"}}, "proxmox": {"hutte": cluster},
        "hosts": {name: {"address": f"192.0.2.{vmid % 250}", "vm": {"proxmox": "hutte", "node": node, "vmid": vmid}}
                  for name, vmid, node in (("mail", 101, "pve1"), ("web", 103, "pve1"), ("far", 104, "pve2"),
                                           ("gone", 150, "pve1"))}})


def cluster_answers() -> dict[str, Any]:
    epoch = int(NOW.timestamp())
    return {
        "/cluster/status": [{"type": "cluster", "quorate": 1}, {"type": "node", "name": "pve1", "online": 1},
                            {"type": "node", "name": "pve2", "online": 0}],
        "/cluster/resources": [
            {"type": "qemu", "vmid": 101, "node": "pve1", "name": "mail", "status": "running"},
            {"type": "qemu", "vmid": 103, "node": "pve1", "name": "web", "status": "stopped", "lock": "backup"},
            {"type": "qemu", "vmid": 104, "node": "pve2", "name": "far", "status": "unknown"},
            {"type": "lxc", "vmid": 120, "node": "pve1", "name": "stray", "status": "running"}],
        "/nodes/pve1/qemu/101/config": {"onboot": 1},
        "/nodes/pve1/qemu/103/config": {},
        "/nodes/pve1/lxc/120/config": {"onboot": 1},
        "/nodes/pve1/storage/backup/content": [
            {"volid": "backup:backup/vzdump-qemu-101-x.vma.zst", "vmid": 101, "ctime": epoch - 3600},
            {"volid": "backup:backup/vzdump-lxc-120-x.tar.zst", "vmid": 120, "ctime": epoch - 50 * 3600}],
    }


def test_vm_health_gives_plain_data_per_guest() -> None:
    api = FakeProxmox(answers=cluster_answers())

    report = vm_health(inventory(), lambda name: api, NOW)

    health = {g.vmid: g for g in report.guests}
    assert sorted(health) == [101, 103, 104, 120, 150]
    mail, web, far, stray, gone = (health[v] for v in (101, 103, 104, 120, 150))
    assert (mail.running, mail.onboot, mail.lock, mail.last_archive_age_hours, mail.ok) == (True, True, None, 1.0, True)
    assert web.problems == ("not running (stopped)", "onboot is off: would not start with its node",
                            "locked (backup)", "no archive")
    assert far.running is None and far.problems == ("node pve2 is offline",)
    assert stray.host is None and stray.problems == ("no archive newer than 26 h (newest 2 d 2 h old)",)
    assert gone.problems == ("no guest 150 on cluster hutte",)
    assert not report.ok
    assert report.as_dict()["guests"][0]["vmid"] == 101
    assert "/nodes/pve2/qemu/104/config" not in api.read  # an offline node is not asked


def test_vm_health_without_vzdump_settings_has_no_archive_age() -> None:
    report = vm_health(inventory(vzdump=False), lambda name: FakeProxmox(answers=cluster_answers()), NOW)

    mail = next(g for g in report.guests if g.vmid == 101)
    assert mail.archive_max_age_hours is None and mail.last_archive_age_hours is None and mail.ok


def test_vm_health_reports_a_cluster_it_cannot_read_by_name_and_never_raises() -> None:
    api = FakeProxmox(errors={"/cluster/status": ConnectError("hutte", "no answer within 10 s")})

    report = vm_health(inventory(), lambda name: api, NOW)

    assert report.guests == () and report.errors == {"hutte": "hutte: no answer within 10 s"}
    assert not report.ok


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_a_task_still_running_at_the_bound_is_reported_not_waited_for() -> None:
    api = FakeProxmox(answers={STATUS: {"status": "running"}})
    clock = Clock()

    with pytest.raises(TaskFailed, match=r"still running after 30 s; it goes on on node pve1"):
        wait_for_task(api, UPID, 30, sleep=clock.sleep, clock=clock)
    assert 30 <= clock.now < 32 and max(clock.slept) <= 2.0


def test_a_stopped_task_is_not_a_success_unless_its_exitstatus_is_ok() -> None:
    answers = iter([{"status": "running"}, {"status": "stopped", "exitstatus": "WARNINGS: 2"}])
    log = [{"n": n, "t": f"line {n}"} for n in range(1, 15)]
    api = FakeProxmox(answers={STATUS: lambda: next(answers), LOG: log})
    clock = Clock()

    with pytest.raises(TaskFailed) as failure:
        wait_for_task(api, UPID, 30, sleep=clock.sleep, clock=clock)

    assert failure.value.exitstatus == "WARNINGS: 2"
    assert failure.value.log_tail == tuple(f"line {n}" for n in range(5, 15))


class RecordingJournal:
    def __init__(self) -> None:
        self.runs: list[tuple[str, list[str]]] = []
        self.steps: list[tuple[str, str, dict[str, Any]]] = []
        self.finished: list[tuple[str, int]] = []
        self.ids = itertools.count(1)

    def start_run(self, command: str, args: list[str]) -> int:
        self.runs.append((command, args))
        return next(self.ids)

    @contextmanager
    def step(self, run_id: int, target: str, step: str, detail: dict[str, Any] | None = None):
        extra = dict(detail or {})
        try:
            yield extra
        except BaseException as error:
            self.steps.append((target, step, {**extra, "status": "failed", "error": str(error)}))
            raise
        self.steps.append((target, step, extra))

    def finish_run(self, run_id: int, status: str, exit_code: int) -> None:
        self.finished.append((status, exit_code))


def change() -> Change:
    ref = GuestRef("hutte", "pve1", "qemu", 103)
    return Change(ref, "web", "web", "start", start_call(ref), 30)


def test_a_change_is_journaled_with_its_call_and_task() -> None:
    api = FakeProxmox(answers={"POST /nodes/pve1/qemu/103/status/start": UPID,
                               STATUS: {"status": "stopped", "exitstatus": "OK"}})
    journal = RecordingJournal()
    run = JournalRun(journal, "vm test", ["web"])

    result = apply_change(api, change(), run)

    assert result.status == "ok" and result.upid == UPID
    [(target, step, detail)] = journal.steps
    assert (target, step, detail["status"], detail["upid"]) == ("web (hutte/103)", "start", "ok", UPID)
    assert detail["call"] == "POST /nodes/pve1/qemu/103/status/start"


def test_a_refused_token_stops_the_run_and_is_journaled_as_failed() -> None:
    api = FakeProxmox(errors={"/nodes/pve1/qemu/103/status/start": ProxmoxAuthError("hutte", "refused")})
    journal = RecordingJournal()

    with pytest.raises(ProxmoxAuthError):
        apply_change(api, change(), JournalRun(journal, "vm test", []))
    assert journal.steps[0][2]["status"] == "failed"
