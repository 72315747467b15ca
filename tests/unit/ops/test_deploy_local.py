"""ops/deploy end to end on the local transport: a playbook in a temporary folder, applied to tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from chaton_ops.adapters.journal import Journal
from chaton_ops.adapters.local import LocalTransport
from chaton_ops.adapters.templates import TemplateRenderer
from chaton_ops.core.loader import load_inventory
from chaton_ops.core.playbook import PlaybookError
from chaton_ops.ops.deploy import prepare_deploy, run_playbook

PLAYBOOK = """\
description: demo
variables:
  greeting: {type: string, default: hello, description: What the greeting says.}
  where: {type: string, description: Somewhere.}
steps:
  - directory: {path: "{{ data[0] }}", mode: "0750"}
  - name: greeting
    template: {src: greeting.txt.j2, dest: "{{ data[0] }}/greeting.txt", mode: "0640"}
  - command: {argv: [touch, "{{ data[0] }}/built"], creates: "{{ data[0] }}/built"}
  - reload:
      service: demo
      direct:
        status: [test, -e, "{{ data[0] }}/running"]
        start: [touch, "{{ data[0] }}/running"]
        reload: [touch, "{{ data[0] }}/reloaded"]
  - wait: {tcp: "{{ host.address }}:1", timeout: 1}
after_restore:
  - command: [touch, "{{ data[0] }}/restored"]
"""


@pytest.fixture
def setup(tmp_path):
    def make(vars: dict | None = None, playbook: str = PLAYBOOK, template: str = "{{ vars.greeting }} {{ service.name }} "
             "of {{ tenant.name }} on {{ host.name }} ({{ collective.domain }})\n"):
        folder = tmp_path / "inventory"
        (folder / "playbooks" / "demo").mkdir(parents=True, exist_ok=True)
        (folder / "playbooks" / "demo.yml").write_text(playbook)
        (folder / "playbooks" / "demo" / "greeting.txt.j2").write_text(template)
        inventory = {
            "version": 1,
            "collective": {"name": "Test", "domain": "test.example", "contact": "admins@test.example"},
            "secrets": {"restic": {"env": "RESTIC_PASSWORD"}},
            "repositories": {"main": {"url": str(tmp_path / "repo"), "password": "restic"}},
            "hosts": {"here": {"address": "localhost", "service_manager": "direct"}},
            "tenants": {"cigales": {"contact": "c@test.example"}},
            "services": {"web": {"host": "here", "tenant": "cigales", "playbook": "demo", "vars": vars or {},
                                 "data": [str(tmp_path / "data")]}},
        }
        (folder / "inventory.yml").write_text(yaml.safe_dump(inventory))
        return load_inventory(folder / "inventory.yml")
    return make


def answering(target: str, timeout: float, status: int) -> str | None:
    return None


def deploy(loaded, **kwargs):
    prepared = prepare_deploy(loaded, "web", templates=TemplateRenderer, environ={}, phase=kwargs.pop("phase", "steps"))
    return run_playbook(prepared, LocalTransport("here"), probe=answering, **kwargs)


def test_a_first_run_changes_everything_and_a_second_run_changes_nothing(setup, tmp_path):
    loaded = setup()
    first = deploy(loaded)
    assert [o.status for o in first.outcomes] == ["changed", "changed", "changed", "changed", "ok"]
    greeting = tmp_path / "data" / "greeting.txt"
    assert greeting.read_text() == "hello web of cigales on here (test.example)\n"
    assert greeting.stat().st_mode & 0o777 == 0o640
    assert (tmp_path / "data").stat().st_mode & 0o777 == 0o750
    assert (tmp_path / "data" / "running").exists()

    second = deploy(loaded)
    assert {o.status for o in second.outcomes} == {"ok"} and second.changed == 0
    assert not (tmp_path / "data" / "reloaded").exists()
    assert not (tmp_path / "data" / "greeting.txt.chaton-prev").exists()


def test_a_changed_file_is_replaced_the_previous_version_kept_and_the_service_reloaded(setup, tmp_path):
    deploy(setup())
    third = deploy(setup({"greeting": "salut"}))
    assert [o.status for o in third.outcomes] == ["ok", "changed", "ok", "changed", "ok"]
    assert (tmp_path / "data" / "greeting.txt").read_text().startswith("salut web")
    assert (tmp_path / "data" / "greeting.txt.chaton-prev").read_text().startswith("hello web")
    assert (tmp_path / "data" / "reloaded").exists()
    assert not list((tmp_path / "data").glob(".*chaton-new"))


def test_a_dry_run_plans_with_a_diff_and_changes_nothing(setup, tmp_path):
    deploy(setup())
    before = (tmp_path / "data" / "greeting.txt").read_text()
    report = deploy(setup({"greeting": "salut"}), dry_run=True)
    by_label = {plan.label: plan for plan in report.plans}
    assert by_label["greeting"].changes
    assert "-hello web" in by_label["greeting"].diff and "+salut web" in by_label["greeting"].diff
    assert by_label["reload demo"].changes  # because the greeting would change
    assert (tmp_path / "data" / "greeting.txt").read_text() == before
    assert not (tmp_path / "data" / "reloaded").exists()


def test_a_failing_step_stops_the_run_with_command_exit_code_and_output_and_later_steps_do_not_run(setup, tmp_path):
    playbook = PLAYBOOK.replace('  - command: {argv: [touch, "{{ data[0] }}/built"], creates: "{{ data[0] }}/built"}',
                                '  - command: [ls, "{{ data[0] }}/missing"]')
    report = deploy(setup(playbook=playbook))
    assert [o.status for o in report.outcomes] == ["changed", "changed", "failed"]
    failure = report.failure
    assert failure is not None and failure.returncode == 2 and failure.argv[0] == "ls"
    assert "No such file or directory" in failure.output_tail
    assert not (tmp_path / "data" / "running").exists()


def test_a_missing_variable_names_the_template_file_and_line_before_anything_runs(setup, tmp_path):
    loaded = setup(template="line one\n{{ vars.greeting }} {{ vars.nope }}\n")
    with pytest.raises(PlaybookError) as caught:
        prepare_deploy(loaded, "web", templates=TemplateRenderer, environ={})
    assert "demo/greeting.txt.j2:2" in str(caught.value) and "nope" in str(caught.value)
    assert caught.value.exit_code == 2
    assert not (tmp_path / "data").exists()


def test_an_undefined_variable_in_a_playbook_value_names_the_playbook_line(setup):
    loaded = setup(playbook=PLAYBOOK.replace('"{{ data[0] }}/built"]', '"{{ vars.missing }}/built"]', 1))
    with pytest.raises(PlaybookError) as caught:
        prepare_deploy(loaded, "web", templates=TemplateRenderer, environ={})
    assert "demo.yml:9" in str(caught.value) and "missing" in str(caught.value)


def test_a_rendered_value_is_validated_again(setup):
    loaded = setup(vars={"where": "relative/path"},
                   playbook=PLAYBOOK.replace('path: "{{ data[0] }}", mode', 'path: "{{ vars.where }}", mode'))
    with pytest.raises(PlaybookError, match="'relative/path' is not an absolute path"):
        prepare_deploy(loaded, "web", templates=TemplateRenderer, environ={})


def test_every_step_goes_to_the_journal(setup, tmp_path):
    journal = Journal(tmp_path / "journal.sqlite3")
    report = deploy(setup(), journal=journal)
    run = journal.run(report.run_id or 0)
    assert run is not None and (run.command, run.status, run.exit_code) == ("deploy", "ok", 0)
    steps = journal.steps(run.id)
    assert [s.status for s in steps] == ["changed", "changed", "changed", "changed", "ok"]
    assert steps[1].step == "web: greeting"


def test_a_wait_that_never_answers_fails_the_step(setup):
    prepared = prepare_deploy(setup(), "web", templates=TemplateRenderer, environ={})
    report = run_playbook(prepared, LocalTransport("here"), probe=lambda target, timeout, status: "refused")
    assert report.outcomes[-1].status == "failed" and report.failure is not None
    assert report.failure.message == "refused"


def test_after_restore_steps_run_on_their_own(setup, tmp_path):
    (tmp_path / "data").mkdir()
    report = deploy(setup(), phase="after_restore")
    assert [o.status for o in report.outcomes] == ["changed"]
    assert (tmp_path / "data" / "restored").exists() and not (tmp_path / "data" / "greeting.txt").exists()


def test_the_target_host_defaults_to_the_service_s_and_must_exist(setup):
    from chaton_ops.errors import UsageError

    loaded = setup()
    assert prepare_deploy(loaded, "web", templates=TemplateRenderer, environ={}).host == "here"
    with pytest.raises(UsageError, match="unknown host 'elsewhere'"):
        prepare_deploy(loaded, "web", "elsewhere", templates=TemplateRenderer, environ={})
    with pytest.raises(UsageError, match="unknown service 'nope'"):
        prepare_deploy(loaded, "nope", templates=TemplateRenderer, environ={})


def test_shipped_playbooks_render_for_a_lab_like_service(setup):
    from chaton_ops.core.inventory import Inventory

    loaded = setup({"server_name": "www.test.example"})
    data = loaded.inventory.model_dump()
    data["services"]["web"]["playbook"] = "static-site"
    data["services"]["mail"] = {**data["services"]["web"], "playbook": "postfix-relay", "vars": {}}
    data["services"]["app"] = {**data["services"]["web"], "playbook": "php-pages",
                               "databases": [{"engine": "postgres", "name": "app"}]}
    from dataclasses import replace

    other = replace(loaded, inventory=Inventory.model_validate(data), source=Path("/nonexistent/inventory.yml"))
    for service in ("web", "mail", "app"):
        prepared = prepare_deploy(other, service, templates=TemplateRenderer, environ={})
        assert prepared.steps
    main_cf = next(s.content for s in prepare_deploy(other, "mail", templates=TemplateRenderer, environ={}).steps if s.content and
                   b"relay_domains" in s.content)
    assert b"relay_domains = test.example" in main_cf and b"defer_transports = relay" in main_cf


def test_a_wait_step_probes_through_the_probes_port_until_the_status_is_the_expected_one() -> None:
    from chaton_ops.ops.deploy import probe_until_answering
    from tests.fakes import FakeProbes

    answering = FakeProbes()
    assert probe_until_answering("http://127.0.0.1:8080/health", 1.0, 200, probes=answering) is None
    assert answering.calls == ["http://127.0.0.1:8080/health"]
    assert probe_until_answering("127.0.0.1:5432", 1.0, probes=answering) is None
    assert answering.calls[-1] == "127.0.0.1"

    wrong_status = FakeProbes(status=502)
    problem = probe_until_answering("http://127.0.0.1:8080/", 0.3, 200, probes=wrong_status)
    assert problem == "http://127.0.0.1:8080/ did not answer within 0.3 s (HTTP 502, expected 200)"
    assert len(wrong_status.calls) >= 2  # it polled until its timeout

    refused = FakeProbes(down=["127.0.0.1"])
    assert "connection refused" in (probe_until_answering("127.0.0.1:1", 0.0, probes=refused) or "")
    assert "neither an http(s) URL nor HOST:PORT" in (probe_until_answering("nowhere", 0.0, probes=refused) or "")


def test_the_default_wait_probe_reaches_a_real_http_server_with_httpx() -> None:
    import http.server
    import threading

    from chaton_ops.adapters.probes import NetworkProbes
    from chaton_ops.ops.deploy import probing_with

    probe_until_answering = probing_with(NetworkProbes())  # what the composition roots hand the playbooks

    class Teapot(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            self.send_response(418)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Teapot)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        assert probe_until_answering(url, 2.0, 418) is None
        assert "HTTP 418, expected 200" in (probe_until_answering(url, 0.0, 200) or "")
        assert probe_until_answering(f"127.0.0.1:{server.server_address[1]}", 2.0) is None
    finally:
        server.shutdown()
        server.server_close()


def test_a_deploy_of_a_service_another_run_holds_is_refused_before_anything_changes(setup, tmp_path, monkeypatch,
                                                                                    capsys):
    from chaton_ops.cli.main import main
    from chaton_ops.errors import ExitCode
    from tests.unit.adapters.test_run_locks import hold_names_in_another_process

    setup()
    monkeypatch.setenv("CHATON_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("CHATON_JOURNAL", str(tmp_path / "journal.sqlite3"))
    inventory = str(tmp_path / "inventory" / "inventory.yml")
    holder = hold_names_in_another_process(tmp_path / "state" / "locks", ["service:web"], 30)
    try:
        assert main(["-i", inventory, "deploy", "web"]) == ExitCode.FAILED
    finally:
        holder.kill()
        holder.wait()
    err = capsys.readouterr().err
    assert f"service web is in use by another chaton run (held by pid {holder.pid}); try again when it has ended" in err
    assert "Traceback" not in err
    assert not (tmp_path / "data").exists()  # nothing deployed
    assert main(["-i", inventory, "history"]) == ExitCode.OK
    assert "no run recorded yet" in capsys.readouterr().out  # and no run journaled

    main(["-i", inventory, "-q", "deploy", "web"])  # the lock is free again: the playbook runs
    assert (tmp_path / "data" / "greeting.txt").exists()
