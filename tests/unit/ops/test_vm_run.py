"""The changing `chaton vm` use cases on the runbook engine, with an in-memory cluster and a real journal:
a failing task does not stop the other guests, and each step's precondition is read again just before
it runs (a state that changed since the plan makes the step a no-op or a refusal, never a blind call)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chaton_ops.adapters.journal import Journal
from chaton_ops.core.inventory import Inventory
from chaton_ops.errors import ExitCode
from chaton_ops.ops.vm.run import (
    OnbootRequest,
    SnapshotRequest,
    VmSession,
    VzdumpRequest,
    fix_onboot,
    run_vzdump,
    take_snapshot,
)
from tests.unit.ops.fake_proxmox import FakeProxmox


def inventory() -> Inventory:
    return Inventory.model_validate({
        "version": 1, "collective": {"name": "T", "domain": "t.example", "contact": "a@t.example"},
        "secrets": {"tok": {"env": "TOK"}},
        "proxmox": {"hutte": {"api": "https://pve1:8006", "token_id": "c@pve!ops", "token": "tok",
                              "vzdump": {"storage": "backup"}}},
        "hosts": {name: {"address": f"192.0.2.{vmid % 250}", "vm": {"proxmox": "hutte", "node": node, "vmid": vmid}}
                  for name, vmid, node in (("mail", 101, "pve1"), ("web", 103, "pve1"), ("far", 104, "pve2"))}})


def upid(node: str, vmid: int) -> str:
    return f"UPID:{node}:000003E8:00001B58:6B022889:vzdump:{vmid}:chaton@pve!ops:"


def status_path(node: str, vmid: int) -> str:
    return f"/nodes/{node}/tasks/{upid(node, vmid)}/status"


def one_after_another(*answers: Any) -> Any:
    """An answer that changes from one read to the next (the last one stays)."""
    values: Iterator[Any] = iter(answers)
    last: list[Any] = [None]

    def next_answer() -> Any:
        last[0] = next(values, last[0])
        return last[0]

    return next_answer


def cluster(offline: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "/cluster/status": [{"type": "cluster", "quorate": 1},
                            *({"type": "node", "name": n, "online": int(n not in offline)} for n in ("pve1", "pve2"))],
        "/cluster/resources": [
            {"type": "qemu", "vmid": 101, "node": "pve1", "name": "mail", "status": "running"},
            {"type": "qemu", "vmid": 103, "node": "pve1", "name": "web", "status": "running"},
            {"type": "qemu", "vmid": 104, "node": "pve2", "name": "far", "status": "running"}],
    }


def session(api: FakeProxmox, journal_path: Path) -> VmSession:
    return VmSession(inventory(), lambda name: api, lambda: Journal(journal_path), confirm=lambda plan: True)


def journal_of(path: Path) -> tuple[Any, list[tuple[str, str, str]]]:
    with Journal(path) as journal:
        [run] = journal.runs()
        return run, [(s.target, s.step, s.status) for s in journal.steps(run.id)]


@pytest.mark.parametrize(("failing", "expected"), [((101,), ExitCode.PARTIAL), ((101, 103, 104), ExitCode.FAILED)])
def test_a_failing_vzdump_does_not_stop_the_other_guests_even_on_its_node(tmp_path: Path, failing: tuple[int, ...],
                                                                          expected: ExitCode) -> None:
    answers = cluster()
    for node, vmid in (("pve1", 101), ("pve1", 103), ("pve2", 104)):
        ok = vmid not in failing
        answers[status_path(node, vmid)] = {"status": "stopped", "exitstatus": "OK" if ok else "job errors"}
        answers[f"/nodes/{node}/tasks/{upid(node, vmid)}/log"] = [{"n": 1, "t": f"ERROR: Backup of VM {vmid} failed"}]
    answers["POST /nodes/pve1/vzdump"] = one_after_another(upid("pve1", 101), upid("pve1", 103))
    answers["POST /nodes/pve2/vzdump"] = upid("pve2", 104)
    api = FakeProxmox(answers=answers)

    report = run_vzdump(session(api, tmp_path / "j.sqlite3"), VzdumpRequest(("mail", "web", "far"), jobs=2))

    assert [call.path for call in api.sent].count("/nodes/pve1/vzdump") == 2  # web's after mail's failure
    results = {r.vmid: r for r in report.run.results}
    assert sorted(results) == [101, 103, 104]
    assert {vmid for vmid, r in results.items() if r.status == "failed"} == set(failing)
    assert results[101].log_tail == ("ERROR: Backup of VM 101 failed",)
    assert report.exit_code == expected
    run, rows = journal_of(tmp_path / "j.sqlite3")
    assert (run.command, run.status, run.exit_code) == ("vm vzdump", "partial" if expected == 3 else "failed",
                                                        expected)
    assert sorted(rows) == sorted((f"{name} (hutte/{vmid})", "vzdump", "failed" if vmid in failing else "ok")
                                  for name, vmid in (("mail", 101), ("web", 103), ("far", 104)))


def test_a_snapshot_taken_meanwhile_under_the_same_name_is_refused_not_sent(tmp_path: Path) -> None:
    answers = cluster()
    answers["/nodes/pve1/qemu/103/snapshot"] = one_after_another([], [{"name": "before-work", "snaptime": 1}])
    api = FakeProxmox(answers=answers)

    run = take_snapshot(session(api, tmp_path / "j.sqlite3"), SnapshotRequest("web", name="before-work"))

    assert api.sent == []
    [result] = run.results
    assert (result.status, result.message) == ("failed", "a snapshot named before-work appeared meanwhile: not taken")
    assert run.exit_code == ExitCode.FAILED
    assert journal_of(tmp_path / "j.sqlite3")[1] == [("web (hutte/103)", "snapshot before-work", "failed")]


def test_onboot_set_meanwhile_is_a_no_op_and_nothing_is_sent(tmp_path: Path) -> None:
    answers = cluster()
    answers["/nodes/pve1/qemu/101/config"] = {"onboot": 1}
    answers["/nodes/pve1/qemu/103/config"] = one_after_another({"digest": "a"}, {"onboot": 1, "digest": "b"})
    answers["/nodes/pve2/qemu/104/config"] = {"onboot": 1}
    api = FakeProxmox(answers=answers)

    report = fix_onboot(session(api, tmp_path / "j.sqlite3"), OnbootRequest(fix=True))

    assert [s.key for s in report.run.plan.steps] == ["vm-onboot:hutte/103@pve1"]  # type: ignore[union-attr]
    assert api.sent == []
    assert [(r.status, r.message) for r in report.run.results] == [("ok", "already set (changed meanwhile)")]
    assert report.run.run is not None and [s.status for s in report.run.run.steps] == ["noop"]
    assert report.exit_code == ExitCode.OK
    assert journal_of(tmp_path / "j.sqlite3")[1] == [("web (hutte/103)", "set onboot=1", "skipped")]


def test_a_node_gone_offline_since_the_plan_is_refused_and_its_guest_reported_unreachable(tmp_path: Path) -> None:
    answers = cluster()
    answers["/cluster/status"] = one_after_another(cluster()["/cluster/status"],
                                                   cluster(offline=("pve2",))["/cluster/status"])
    api = FakeProxmox(answers=answers)

    report = run_vzdump(session(api, tmp_path / "j.sqlite3"), VzdumpRequest(("far",)))

    assert api.sent == []
    [result] = report.run.results
    assert (result.status, result.message, result.unreachable) == ("failed", "node pve2 is offline", True)
    assert report.exit_code == ExitCode.UNREACHABLE
    assert journal_of(tmp_path / "j.sqlite3")[1] == [("far (hutte/104)", "vzdump", "failed")]
