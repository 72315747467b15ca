"""Every command that changes something tells `notify.apprise` how its run went (not only backup): a
failing deploy and a failover on the lab, their messages caught by a recording HTTP server on
127.0.0.1 through a real apprise `json://` URL. Healthchecks stay backup's: none is pinged here."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.integration.deploy_helpers import chaton, write_deploy_inventory
from tests.integration.failover_lab import FailoverLab, save_sites, tidy_lab
from tests.integration.test_notify_http import RecordingServer, closed_port

APPRISE_TOKEN = "apprise-token-51d0c2"
HC_TOKEN = "hc-token-0e77a9"


@pytest.fixture
def receiver() -> Iterator[RecordingServer]:
    recording = RecordingServer()
    recording.thread.start()
    yield recording
    recording.server.shutdown()
    recording.server.server_close()


def add_notify(inventory: Path, events: list[str]) -> None:
    """`notify.apprise` (and a healthchecks URL, which only a backup may ping) in the inventory."""
    data = yaml.safe_load(inventory.read_text())
    data.setdefault("secrets", {}).update({"admins-chat": {"env": "APPRISE_URL"}, "hc-run": {"env": "HC_URL"}})
    data["notify"] = {"apprise": ["admins-chat"], "healthchecks": ["hc-run"], "events": events}
    inventory.write_text(yaml.safe_dump(data, sort_keys=False))


def test_a_failing_deploy_sends_one_failure_message_naming_the_service_and_its_dry_run_none(
        lab, tmp_path, monkeypatch, capsys, receiver):
    monkeypatch.setenv("CHATON_JOURNAL", str(tmp_path / "journal.sqlite3"))
    monkeypatch.setenv("CHATON_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("APPRISE_URL", f"json://127.0.0.1:{receiver.port}/apprise/{APPRISE_TOKEN}")
    monkeypatch.setenv("HC_URL", f"http://127.0.0.1:{receiver.port}/ping/{HC_TOKEN}")
    playbooks = tmp_path / "playbooks"
    playbooks.mkdir()
    (playbooks / "failing.yml").write_text("description: test playbook\nsteps:\n"
                                           "  - directory: {path: /srv/deploy-notify}\n"
                                           "  - command: [sh, -c, 'echo broken >&2; exit 1']\n")
    monkeypatch.setenv("CHATON_PLAYBOOKS", str(playbooks))
    inventory = write_deploy_inventory(lab, tmp_path, extra_services={"failing": {"host": "vps",
                                                                                 "playbook": "failing"}})
    add_notify(inventory, ["failure", "recovery"])

    assert chaton("-i", str(inventory), "deploy", "failing", "--dry-run") == 0
    assert receiver.requests == []  # a dry run tells nothing

    assert chaton("-i", str(inventory), "deploy", "failing") == 1

    err = capsys.readouterr().err
    assert "warning" not in err.lower(), err  # delivered: no problem to show
    assert receiver.paths() == [f"/apprise/{APPRISE_TOKEN}"]  # one message, no healthchecks ping
    [message] = receiver.apprise_messages()
    assert message["type"] == "failure"
    assert message["title"].endswith("] deploy failed: failing")
    assert "- failing on vps: playbook failed: step 2 (" in message["message"]
    assert "exit" in message["message"]
    state = json.loads((tmp_path / "state" / "last-status.json").read_text())
    assert state == {"deploy": {"failing": "failed"}}
    lab.ssh("vps", "rm -rf /srv/deploy-notify")


def test_a_failing_deploy_with_the_receiver_down_warns_in_one_line_without_the_url(
        lab, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CHATON_JOURNAL", str(tmp_path / "journal.sqlite3"))
    monkeypatch.setenv("CHATON_STATE_DIR", str(tmp_path / "state"))
    port = closed_port()
    monkeypatch.setenv("APPRISE_URL", f"json://127.0.0.1:{port}/apprise/{APPRISE_TOKEN}")
    monkeypatch.setenv("HC_URL", f"http://127.0.0.1:{port}/ping/{HC_TOKEN}")
    playbooks = tmp_path / "playbooks"
    playbooks.mkdir()
    (playbooks / "failing.yml").write_text("description: test playbook\nsteps:\n"
                                           "  - command: [sh, -c, 'exit 1']\n")
    monkeypatch.setenv("CHATON_PLAYBOOKS", str(playbooks))
    inventory = write_deploy_inventory(lab, tmp_path, extra_services={"failing": {"host": "vps",
                                                                                 "playbook": "failing"}})
    add_notify(inventory, ["failure"])

    assert chaton("-i", str(inventory), "deploy", "failing") == 1  # the deploy's own code, not another

    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning")]
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith("warning: apprise 'admins-chat' (failure) failed: ")
    assert APPRISE_TOKEN not in warnings[0]


@pytest.fixture
def flab(lab, tmp_path):
    helper = FailoverLab(lab, tmp_path)
    original = {"www": helper.record("www")}
    sites = save_sites(lab, tmp_path / "sites")
    yield helper
    tidy_lab(lab, original, sites)


def test_a_failover_that_succeeds_tells_every_admin_even_with_events_failure_only(flab, lab, receiver):
    flab.write_collective(services=("www",))
    add_notify(flab.inventory, ["failure"])
    flab.env["APPRISE_URL"] = f"json://127.0.0.1:{receiver.port}/apprise/{APPRISE_TOKEN}"
    flab.env["HC_URL"] = f"http://127.0.0.1:{receiver.port}/ping/{HC_TOKEN}"
    flab.deploy_on_primary("www")
    backup = flab.chaton("backup", "www", "--init")
    assert backup.returncode == 0, backup.output
    receiver.requests.clear()  # backup's own pings (and no message: it succeeded)

    assert flab.failover("www", "--dry-run").returncode == 0
    assert receiver.requests == []  # a dry run tells nothing

    run = flab.failover("www")

    assert run.returncode == 0, run.output
    assert receiver.paths() == [f"/apprise/{APPRISE_TOKEN}"]  # one message, no healthchecks ping
    [message] = receiver.apprise_messages()
    assert message["type"] == "success"
    assert message["title"].endswith(" failover ok: www")
    assert "- www: dns changed" in message["message"]
    assert "- www on vps: restore changed" in message["message"]
