"""Notifications through their ports, with the fakes of tests/fakes.py: what a backup run and a status
run tell whom, what they remember between runs, and that a destination that is down loses nothing.
(tests/unit/ops/test_notify.py and tests/integration/test_notify_http.py drive the real notifier.)"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from chaton_ops.adapters.secrets import InventorySecrets
from chaton_ops.core.health import Finding, StatusReport
from chaton_ops.core.loader import LoadedInventory, load_inventory
from chaton_ops.core.report import RunReport, TargetResult
from chaton_ops.core.runbook import Plan, PlannedStep
from chaton_ops.errors import ChatonError
from chaton_ops.ops.engine import GO, NoJournal, RunResult, RunState, StepOutput, Verdict, apply_plan
from chaton_ops.ops.notify import send_run_notifications, send_run_summary, send_start_pings
from chaton_ops.ops.status_alerts import follow_up, read_silences, set_silence
from tests.fakes import FakeAlertStore, FakeLastStatuses, FakeNotifier

HC = "https://hc.example/ping/uuid-0001"
CHAT = "json://chat.example/hook/key-0002"
PAGER = "json://pager.example/hook/key-0003"
STARTED = dt.datetime(2026, 11, 22, 3, 0, tzinfo=dt.UTC)


@pytest.fixture
def loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LoadedInventory:
    monkeypatch.setenv("HC_URL", HC)
    monkeypatch.setenv("CHAT_URL", CHAT)
    monkeypatch.setenv("PAGER_URL", PAGER)
    (tmp_path / "inventory.yml").write_text("""
version: 1
collective: {name: Ti Nuage, domain: ti-nuage.example, contact: admins@ti-nuage.example}
secrets: {hc: {env: HC_URL}, chat: {env: CHAT_URL}, pager: {env: PAGER_URL}}
hosts: {web: {address: 192.0.2.23}}
notify: {healthchecks: [hc], apprise: [chat, pager]}
services:
  www: {host: web, check: {http: {url: "https://www.ti-nuage.example/"}}}
  mail: {host: web}
""")
    return load_inventory(tmp_path / "inventory.yml")


def backup_run(**statuses: str) -> RunReport:
    results = tuple(TargetResult(service=s, host="web", repository="main", status=status)  # type: ignore[arg-type]
                    for s, status in statuses.items())
    return RunReport("backup", STARTED, STARTED + dt.timedelta(seconds=5), results)


def test_start_pings_go_to_the_start_url(loaded: LoadedInventory) -> None:
    notifier = FakeNotifier()

    assert send_start_pings(loaded, ["www"], notifier, secrets=InventorySecrets(loaded)) == []

    assert [d.url for d in notifier.deliveries] == [f"{HC}/start"]


def test_a_failure_is_told_then_its_recovery_once(loaded: LoadedInventory) -> None:
    notifier, memory = FakeNotifier(), FakeLastStatuses()

    send_run_notifications(loaded, backup_run(www="failed", mail="ok"), notifier, memory,
                           secrets=InventorySecrets(loaded))
    send_run_notifications(loaded, backup_run(www="ok", mail="ok"), notifier, memory,
                           secrets=InventorySecrets(loaded))
    send_run_notifications(loaded, backup_run(www="ok", mail="ok"), notifier, memory,
                           secrets=InventorySecrets(loaded))

    messages = [(d.url, d.title, d.notify_type) for d in notifier.deliveries if d.title]
    assert messages == [
        (CHAT, "[Ti Nuage] backup failed: www", "failure"),
        (PAGER, "[Ti Nuage] backup failed: www", "failure"),
        (CHAT, "[Ti Nuage] backup recovered: www", "success"),
        (PAGER, "[Ti Nuage] backup recovered: www", "success"),
    ]
    assert [d.url for d in notifier.deliveries if not d.title] == [f"{HC}/fail", HC, HC]
    assert memory.statuses == {"backup": {"www": "ok", "mail": "ok"}}


def test_a_destination_that_is_down_is_a_problem_naming_its_secret_and_the_others_still_arrive(
        loaded: LoadedInventory) -> None:
    notifier = FakeNotifier(failing=["json://chat.example"])

    problems = send_run_notifications(loaded, backup_run(www="failed"), notifier, FakeLastStatuses(),
                                      secrets=InventorySecrets(loaded))

    assert problems == ["apprise 'chat' (failure) failed: connection refused"]
    assert [d.url for d in notifier.arrived()] == [f"{HC}/fail", PAGER]


def test_an_unreadable_memory_is_reported_and_the_run_still_recorded(loaded: LoadedInventory) -> None:
    memory = FakeLastStatuses({"backup": {"www": "failed"}}, unreadable=True)

    problems = send_run_notifications(loaded, backup_run(www="ok"), FakeNotifier(), memory,
                                      secrets=InventorySecrets(loaded))

    assert len(problems) == 1 and "recoveries not reported" in problems[0]
    assert memory.statuses == {"backup": {"www": "ok"}}


def test_a_memory_that_cannot_be_written_is_a_problem_not_an_exception(loaded: LoadedInventory) -> None:
    problems = send_run_notifications(loaded, backup_run(www="ok"), FakeNotifier(),
                                      FakeLastStatuses(unwritable=True), secrets=InventorySecrets(loaded))

    assert problems == ["notifications: cannot record this run's statuses: "
                        "cannot write last-status.json: read-only file system"]


def status_report(level: str, minute: int) -> StatusReport:
    finding = Finding("services", "www", "http", level, f"says {level}", item="u", host="web",  # type: ignore[arg-type]
                      service="www")
    return StatusReport(STARTED + dt.timedelta(minutes=minute), (finding,))


def test_a_status_problem_is_told_once_after_it_is_confirmed(loaded: LoadedInventory) -> None:
    notifier, store = FakeNotifier(), FakeAlertStore()
    sent_per_run = []
    for minute in range(4):
        followed = follow_up(loaded, status_report("critical", minute), store,
                             secrets=InventorySecrets(loaded), notify=True, notifier=notifier)
        sent_per_run.append([change.event for change in followed.sent])

    assert sent_per_run == [[], ["failure"], [], []]
    assert [d.url for d in notifier.deliveries] == [CHAT, PAGER]
    assert store.writes == 4 and store.writes_outside_lock == 0


def test_a_status_message_that_did_not_arrive_is_sent_again_on_the_next_run(loaded: LoadedInventory) -> None:
    store = FakeAlertStore()
    down = FakeNotifier(failing=["json://pager.example"])
    follow_up(loaded, status_report("critical", 0), store,
              secrets=InventorySecrets(loaded), notify=True, notifier=down)
    followed = follow_up(loaded, status_report("critical", 1), store,
                         secrets=InventorySecrets(loaded), notify=True, notifier=down)
    assert followed.sent == () and [c.event for c in followed.pending] == ["failure"]
    assert followed.problems == ("apprise 'pager' (failure) failed: connection refused",)

    up = FakeNotifier()
    followed = follow_up(loaded, status_report("critical", 2), store,
                         secrets=InventorySecrets(loaded), notify=True, notifier=up)

    assert [c.event for c in followed.sent] == ["failure"]
    assert [d.url for d in up.deliveries] == [CHAT, PAGER]


def test_without_notify_nothing_is_sent_and_the_change_stays_pending(loaded: LoadedInventory) -> None:
    notifier, store = FakeNotifier(), FakeAlertStore()
    for minute in range(2):
        followed = follow_up(loaded, status_report("critical", minute), store,
                             secrets=InventorySecrets(loaded), notify=False, notifier=notifier)

    assert notifier.deliveries == [] and [c.event for c in followed.pending] == ["failure"]


def test_a_silence_is_kept_in_the_store_and_read_back(loaded: LoadedInventory) -> None:
    store = FakeAlertStore()

    until = set_silence(loaded, store, "www", "2h", STARTED)

    assert until == STARTED + dt.timedelta(hours=2)
    assert read_silences(store, STARTED + dt.timedelta(hours=1)) == {"www": until}
    assert read_silences(store, STARTED + dt.timedelta(hours=3)) == {}
    assert store.writes_outside_lock == 0


# ---------------------------------------------------------------------------------------------
# Any other command: apprise messages from the engine's RunSummary, no pings
# ---------------------------------------------------------------------------------------------


class _Playbook:
    """A deploy-like engine action: `www`'s playbook fails at its second step while `failing` says so."""

    def __init__(self) -> None:
        self.failing = True

    def check(self, step: PlannedStep, run: RunState) -> Verdict:
        return GO

    def apply(self, step: PlannedStep, run: RunState) -> StepOutput:
        if self.failing and step.target == "www":
            raise ChatonError("step 2 (reload nginx): exit 1")
        return StepOutput("changed", {"steps": 3}, "1 of 3 steps changed")


def deploy_run(action: _Playbook, command: str = "deploy") -> RunResult:
    plan = Plan(command, tuple(PlannedStep(f"deploy:{s}@web", "playbook", f"deploy {s} on web", host="web", target=s,
                                           lane=f"service:{s}") for s in ("www", "mail")))
    return apply_plan(plan, {"playbook": action}, NoJournal(), 0)


def test_a_failed_deploy_is_told_without_a_ping_then_its_recovery(loaded: LoadedInventory) -> None:
    notifier, memory, action = FakeNotifier(), FakeLastStatuses(), _Playbook()

    first = send_run_summary(loaded, deploy_run(action).summary(), notifier, memory, secrets=InventorySecrets(loaded))
    action.failing = False
    second = send_run_summary(loaded, deploy_run(action).summary(), notifier, memory, secrets=InventorySecrets(loaded))

    assert first == second == []
    assert [(d.url, d.title, d.notify_type) for d in notifier.deliveries] == [
        (CHAT, "[Ti Nuage] deploy failed: www", "failure"), (PAGER, "[Ti Nuage] deploy failed: www", "failure"),
        (CHAT, "[Ti Nuage] deploy recovered: www", "success"), (PAGER, "[Ti Nuage] deploy recovered: www", "success")]
    assert "- www on web: playbook failed: step 2 (reload nginx): exit 1" in notifier.deliveries[0].body
    assert memory.statuses == {"deploy": {"www": "ok", "mail": "ok"}}  # per command: backup's are apart


def test_a_failover_success_is_told_to_every_destination_and_a_dry_run_tells_nothing(
        loaded: LoadedInventory) -> None:
    notifier, memory, action = FakeNotifier(failing=[PAGER]), FakeLastStatuses(), _Playbook()
    action.failing = False

    problems = send_run_summary(loaded, deploy_run(action, "failover").summary(), notifier, memory,
                                secrets=InventorySecrets(loaded))
    nothing = send_run_summary(loaded, None, notifier, memory, secrets=InventorySecrets(loaded))

    assert [(d.url, d.title, d.arrived) for d in notifier.deliveries] == [
        (CHAT, "[Ti Nuage] failover ok: www, mail", True), (PAGER, "[Ti Nuage] failover ok: www, mail", False)]
    assert problems == ["apprise 'pager' (success) failed: connection refused"]
    assert nothing == []


def test_delivery_and_memory_problems_of_a_run_summary_are_returned(loaded: LoadedInventory) -> None:
    notifier, action = FakeNotifier(), _Playbook()

    problems = send_run_summary(loaded, deploy_run(action).summary(), notifier,
                                FakeLastStatuses(unreadable=True, unwritable=True), secrets=InventorySecrets(loaded))

    assert problems == [
        "notifications: previous statuses unknown, recoveries not reported: last-status.json is not valid JSON",
        "notifications: cannot record this run's statuses: cannot write last-status.json: read-only file system"]
    assert len(notifier.arrived()) == 2


def test_without_any_apprise_destination_a_run_summary_reads_and_remembers_nothing(tmp_path: Path) -> None:
    (tmp_path / "inventory.yml").write_text("""
version: 1
collective: {name: Ti Nuage, domain: ti-nuage.example, contact: admins@ti-nuage.example}
hosts: {web: {address: 192.0.2.23}}
services: {www: {host: web}, mail: {host: web}}
""")
    loaded = load_inventory(tmp_path / "inventory.yml")
    notifier, memory = FakeNotifier(), FakeLastStatuses(unreadable=True, unwritable=True)

    assert send_run_summary(loaded, deploy_run(_Playbook()).summary(), notifier, memory,
                            secrets=InventorySecrets(loaded)) == []
    assert notifier.deliveries == [] and memory.statuses == {}
