"""Proxmox guests as status findings: levels from vm_health's data."""

from __future__ import annotations

from chaton_ops.core.vm_checks import evaluate_guests
from chaton_ops.core.vm_health import GuestHealth


def guest(vmid: int, host: str | None, *, running: bool | None = True, onboot: bool | None = True,
          problems: tuple[str, ...] = (), age: float | None = 20.0) -> GuestHealth:
    return GuestHealth("hutte", vmid, f"vm{vmid}", host, "hutte1", running, onboot, None, age, 96.0, problems)


def test_levels_of_guests_described_by_the_inventory() -> None:
    guests = [
        guest(101, "mail"),
        guest(102, "cloud", onboot=False, problems=("onboot is off: would not start with its node",)),
        guest(103, "web", running=False, problems=("not running (stopped)",)),
        guest(104, "gone", running=None, problems=("no guest 104 on cluster hutte",)),
        guest(120, None, running=False, problems=("onboot is off: would not start with its node",)),
    ]

    findings = {f.subject: f for f in evaluate_guests(guests, {"offsite": "cannot reach https://pve2:8006"})}

    assert {name: f.level for name, f in findings.items()} == {
        "mail": "ok", "cloud": "warning", "web": "critical", "gone": "critical", "offsite": "unknown"}
    assert findings["mail"].summary == "running, onboot, last vzdump 20 h ago"
    assert findings["cloud"].summary == "onboot is off: would not start with its node"
    assert findings["web"].item == "hutte/103" and findings["web"].host == "web"
    assert findings["mail"].value == 20.0 and findings["mail"].warning == 96.0
    assert findings["offsite"].summary == "cluster not read: cannot reach https://pve2:8006"


def test_a_selection_of_hosts_keeps_their_guests_only() -> None:
    findings = evaluate_guests([guest(101, "mail"), guest(103, "web")], {}, hosts={"web"})

    assert [f.subject for f in findings] == ["web"]
