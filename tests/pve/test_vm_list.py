"""`chaton vm list` against fakepve: drift both ways, offline nodes, and how connection problems end
(wrong token, unreachable API, untrusted certificate)."""

from __future__ import annotations

import socket
import time

import pytest

from chaton_ops.errors import ExitCode
from tests.pve.conftest import FakeCluster, vm_host


@pytest.fixture
def drifting(cluster: FakeCluster) -> FakeCluster:
    """Guests 101 (as described), 102 (described on pve1, runs on pve2), 120 (no host), CT 200 (no host),
    template 9000; inventory host `gone` (vmid 150) has no guest."""
    pve = cluster.pve
    pve.add_node("pve2")
    pve.add_vm(101, "mail", node="pve1", status="running", config={"onboot": 1, "memory": 2048})
    pve.add_vm(102, "web", node="pve2", status="running", config={"memory": 1024})
    pve.add_vm(120, "old-test", node="pve2", status="stopped")
    pve.add_ct(200, "dns", node="pve1", status="running")
    pve.add_vm(9000, "debian-tpl", node="pve1", template=True, config={"template": 1})
    cluster.write_inventory({"mail": vm_host(101), "web": vm_host(102, node="pve1"), "gone": vm_host(150)})
    return cluster


def relations(data: dict) -> dict[int, str]:
    return {guest["vmid"]: guest["relation"] for guest in data["guests"]}


def test_list_shows_every_guest_with_its_drift_both_ways(drifting: FakeCluster) -> None:
    ran = drifting.chaton("vm", "list", "--json")

    assert ran.code == ExitCode.OK, ran.err
    data = ran.json()
    assert relations(data) == {101: "inventory", 102: "migrated", 120: "not-in-inventory", 200: "not-in-inventory",
                               9000: "template", 150: "missing"}
    assert data["drift"] == 4
    guests = {guest["vmid"]: guest for guest in data["guests"]}
    assert guests[101]["onboot"] is True and guests[102]["onboot"] is False
    assert guests[200]["type"] == "lxc" and guests[200]["status"] == "running"
    assert guests[102]["node"] == "pve2" and guests[102]["inventory_node"] == "pve1"
    assert guests[101]["max_memory"] == 2048 * 1024**2
    assert data["clusters"][0]["quorate"] is True


def test_list_as_a_table_names_each_drift_in_words(drifting: FakeCluster) -> None:
    ran = drifting.chaton("vm", "list")

    assert ran.code == ExitCode.OK, ran.err
    assert "drift: 102 web runs on pve2; host web in the inventory says pve1" in ran.out
    assert "drift: 120 old-test is not in the inventory" in ran.out
    assert "drift: 200 dns is not in the inventory" in ran.out
    assert "drift: host gone (150 on pve1) has no guest on cluster hutte" in ran.out
    assert "9000" in ran.out and "drift: 9000" not in ran.out  # a template is no drift


def test_quiet_list_prints_only_the_drift(drifting: FakeCluster) -> None:
    ran = drifting.chaton("-q", "vm", "list")

    assert ran.code == ExitCode.OK
    assert ran.out.splitlines() == [
        "drift: 102 web runs on pve2; host web in the inventory says pve1",
        "drift: 120 old-test is not in the inventory",
        "drift: 200 dns is not in the inventory",
        "drift: host gone (150 on pve1) has no guest on cluster hutte",
    ]


def test_an_offline_node_is_named_and_its_guests_are_unknown(drifting: FakeCluster) -> None:
    drifting.pve.set_node_offline("pve2")

    ran = drifting.chaton("vm", "list", "--json")

    assert ran.code == ExitCode.OK, ran.err
    assert "node pve2 is offline" in ran.err
    guests = {guest["vmid"]: guest for guest in ran.json()["guests"]}
    assert guests[102]["status"] == "unknown" and guests[102]["onboot"] is None
    assert guests[101]["onboot"] is True
    assert {"name": "pve2", "online": False} in ran.json()["clusters"][0]["nodes"]


def test_a_wrong_token_is_an_authentication_error_exit_2(drifting: FakeCluster) -> None:
    (drifting.directory / "pve-token").write_text("not-the-token\n")

    ran = drifting.chaton("vm", "list")

    assert ran.code == ExitCode.USAGE
    assert "hutte: the API refused token chaton@pve!ops (PVE: 401 authentication failure)" in ran.err
    assert "not-the-token" not in ran.err + ran.out


def test_a_closed_port_is_unreachable_exit_4(cluster: FakeCluster) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cluster.url = f"https://127.0.0.1:{port}"
    cluster.write_inventory({})

    ran = cluster.chaton("vm", "list")

    assert ran.code == ExitCode.UNREACHABLE
    assert f"hutte: cannot connect to https://127.0.0.1:{port}/api2/json: Connection refused" in ran.err


def test_an_api_that_never_answers_fails_within_the_timeout(cluster: FakeCluster) -> None:
    cluster.pve.flaky_network(hang_rate=1.0, hang_secs=4)  # real seconds at time_scale 0
    cluster.write_inventory({}, timeout=1)

    started = time.monotonic()
    ran = cluster.chaton("vm", "list")
    elapsed = time.monotonic() - started

    assert ran.code == ExitCode.UNREACHABLE
    assert f"hutte: no answer from {cluster.url}/api2/json within 1 s" in ran.err
    assert elapsed < 5


def test_a_certificate_not_signed_by_the_ca_file_is_refused(cluster: FakeCluster, tmp_path) -> None:
    from fakepve.certs import make_cert

    other_ca = make_cert(str(tmp_path), name="other", hosts=("127.0.0.1",))[0]
    cluster.cafile = other_ca
    cluster.write_inventory({})

    ran = cluster.chaton("vm", "list")

    assert ran.code == ExitCode.UNREACHABLE
    assert "TLS: the certificate of" in ran.err and "certificate verify failed" in ran.err
    assert "proxmox.hutte.ca_file" in ran.err


def test_verify_tls_false_works_and_warns_on_every_run(cluster: FakeCluster) -> None:
    cluster.pve.add_vm(101, "mail")
    cluster.write_inventory({"mail": vm_host(101)})
    text = cluster.inventory_path.read_text().replace("ca_file:", "verify_tls: false\n    old_ca_file:")
    cluster.inventory_path.write_text(text.replace("    old_ca_file: " + cluster.cafile + "\n", ""))

    for _ in range(2):
        ran = cluster.chaton("vm", "list", "--json")
        assert ran.code == ExitCode.OK, ran.err
        assert "warning: proxmox.hutte: verify_tls is false" in ran.err
    assert [guest["vmid"] for guest in ran.json()["guests"]] == [101]


def test_one_unreachable_cluster_does_not_hide_the_others(drifting: FakeCluster) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    other = {"api": f"https://127.0.0.1:{port}", "token_id": "chaton@pve!ops", "token": "pve-token",
             "ca_file": drifting.cafile}
    drifting.write_inventory({"mail": vm_host(101)}, extra_clusters={"grange": other})

    ran = drifting.chaton("vm", "list", "--json")

    assert ran.code == ExitCode.UNREACHABLE
    clusters = {item["cluster"]: item for item in ran.json()["clusters"]}
    assert clusters["grange"]["error"].startswith("grange: cannot connect")
    assert clusters["hutte"]["error"] is None
    assert 101 in relations(ran.json())


def test_a_token_with_the_documented_privileges_can_run_every_command(cluster: FakeCluster) -> None:
    """docs/reference/vm.md lists the privileges the token needs: exactly those, granted on `/`."""
    pve = cluster.pve
    pve.grant("chaton@pve!ops", "/", "Sys.Audit", "VM.Audit", "VM.Config.Options", "VM.Snapshot", "VM.PowerMgmt",
              "VM.Backup", "Datastore.AllocateSpace", "Datastore.Audit")
    pve.grant("someone@pve", "/", "VM.Audit")  # from the first grant on, fakepve checks every privilege
    pve.add_vm(103, "web", status="running", config={"scsi0": "local-lvm:vm-103-disk-0,size=8G"})
    cluster.write_inventory({"web": vm_host(103)}, vzdump={"storage": "local"})

    for args in (["vm", "list"], ["--yes", "vm", "onboot", "--fix"], ["vm", "snapshot", "web", "--name", "s1"],
                 ["vm", "snapshots", "web"], ["--yes", "vm", "rollback", "web", "--name", "s1"],
                 ["--yes", "vm", "snapshot", "--prune", "web", "--keep", "0"], ["vm", "vzdump", "web"],
                 ["vm", "backups"]):
        ran = cluster.chaton(*args)
        assert ran.code == ExitCode.OK, f"{args}: {ran.err}"



def test_a_page_that_is_not_pves_json_is_named_not_parsed(drifting: FakeCluster) -> None:
    drifting.pve.fail("GET", "/cluster/resources", 200, "<html><body>Portal login</body></html>", html=True)

    ran = drifting.chaton("vm", "list")

    assert ran.code == ExitCode.FAILED
    assert "GET /cluster/resources: the answer of" in ran.err and "is not PVE's JSON" in ran.err


def test_a_proxys_error_page_gives_its_status_not_its_html(drifting: FakeCluster) -> None:
    drifting.pve.fail("GET", "/cluster/resources", 502, "<html><body>Bad Gateway</body></html>", html=True)

    ran = drifting.chaton("vm", "list")

    assert ran.code == ExitCode.FAILED
    assert "hutte: GET /cluster/resources:" in ran.err and "<html>" not in ran.err
