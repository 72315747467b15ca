"""`chaton status` reads the guests of the example cluster (fakepve) through `chaton vm`'s vm_health: the
Proxmox section, its levels, and nothing asked of a cluster-less inventory."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import yaml

from chaton_ops.cli.main import main
from tests.pve.cluster import prepare_example


def closed_port() -> int:
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


def test_status_shows_each_described_guest_at_its_level(fakepve: Any, fakepve_cafile: str, tmp_path: Path,
                                                         monkeypatch: Any, capsys: Any) -> None:
    monkeypatch.setenv("CHATON_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("CHATON_JOURNAL", str(tmp_path / "journal.sqlite3"))
    inventory = prepare_example(fakepve, tmp_path, fakepve_cafile)
    data = yaml.safe_load(inventory.read_text())
    # the example's hosts are not reachable from here: refused at once instead of timing out
    data["defaults"]["ssh"] = {"known_hosts": str(tmp_path / "known_hosts"), "connect_timeout": 1}
    for index, host in enumerate(data["hosts"].values(), start=2):
        host.update(address=f"127.0.0.{index}", ssh={"port": closed_port()})
    for service in data["services"].values():
        service.pop("check", None)
        service.pop("dns", None)
    data["dns"] = {}
    (tmp_path / "known_hosts").write_text("")
    inventory.write_text(yaml.safe_dump(data, sort_keys=False))
    fakepve.vm(110).status = "stopped"

    code = main(["-i", str(inventory), "status", "--json", "--host", "web", "--host", "cloud",
                 "--host", "cigales-vm"])

    out, err = capsys.readouterr()
    assert out, err
    findings = {f["subject"]: f for f in json.loads(out)["findings"] if f["section"] == "vms"}
    assert code == 4  # the hosts refuse SSH here
    assert set(findings) == {"web", "cloud", "cigales-vm"}  # a selection keeps its own guests only
    assert findings["cloud"]["level"] == "warning" and "onboot is off" in findings["cloud"]["summary"]
    assert findings["cigales-vm"]["level"] == "critical" and "not running" in findings["cigales-vm"]["summary"]
    assert findings["web"]["level"] == "warning" and "runs on node hutte2" in findings["web"]["summary"]
    assert findings["web"]["item"] == "hutte/103"
    monkeypatch.setenv("COLUMNS", "80")
    main(["-i", str(inventory), "status", "--host", "cigales-vm"])
    table = capsys.readouterr().out
    assert "Proxmox guests" in table
    assert next(line for line in table.splitlines() if line.startswith("cigales-vm  hutte/110")).split()[2] == "critical"
