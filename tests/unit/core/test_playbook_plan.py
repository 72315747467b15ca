"""Planning: facts → the actions a step needs, or a no-op with a reason."""

from __future__ import annotations

from chaton_ops.core.playbook import Step
from chaton_ops.core.playbook_plan import (
    PathState,
    StepFacts,
    parse_missing_packages,
    parse_stat,
    plan_step,
)


def step(data: dict) -> Step:
    return Step.model_validate(data)


def plan(data: dict, facts: StepFacts, *, content: bytes | None = None, changed_before: bool = False,
         manager: str = "systemd"):
    return plan_step(0, step(data), facts, manager=manager, changed_before=changed_before,  # type: ignore[arg-type]
                     content=content)


def argvs(result) -> list[tuple[str, ...]]:
    return [action.argv for action in result.actions if action.kind == "run"]


def test_dpkg_query_output_tells_which_packages_are_missing():
    out = "nginx\tinstalled\npostfix\tconfig-files\n"
    assert parse_missing_packages(out, ["nginx", "postfix", "swaks"]) == ("postfix", "swaks")


def test_installed_packages_are_a_no_op_and_missing_ones_are_installed_with_apt_get():
    assert not plan({"packages": ["nginx"]}, StepFacts()).changes
    result = plan({"packages": ["nginx", "php-fpm"]}, StepFacts(missing_packages=("php-fpm",)))
    assert argvs(result)[-1] == ("apt-get", "install", "-y", "-qq", "--no-install-recommends", "php-fpm")
    assert ("DEBIAN_FRONTEND", "noninteractive") in result.actions[-1].env


def test_stat_output_is_parsed_and_a_failed_stat_means_absent():
    assert parse_stat(0, "directory|2775|root|www-data\n") == PathState(True, "directory", 0o2775, "root", "www-data")
    assert parse_stat(1, "") == PathState(False)


def test_a_missing_directory_is_created_with_its_mode_and_owner():
    result = plan({"directory": {"path": "/srv/x", "mode": "0750", "owner": "www-data"}},
                  StepFacts(path=PathState(False)))
    assert argvs(result) == [("mkdir", "-p", "--", "/srv/x"), ("chmod", "0750", "--", "/srv/x"),
                             ("chown", "www-data", "--", "/srv/x")]


def test_an_existing_directory_with_the_right_mode_and_owner_is_a_no_op():
    result = plan({"directory": {"path": "/srv/x", "mode": "0755", "owner": "root:root"}},
                  StepFacts(path=PathState(True, "directory", 0o755, "root", "root")))
    assert not result.changes and result.reason == "exists with mode and owner"


def test_a_file_where_a_directory_should_be_is_an_error():
    result = plan({"directory": {"path": "/srv/x"}}, StepFacts(path=PathState(True, "regular file", 0o644)))
    assert result.error == "/srv/x exists and is a regular file, not a directory"


def test_a_template_with_the_same_content_and_mode_is_a_no_op():
    facts = StepFacts(path=PathState(True, "regular file", 0o644, "root", "root"), content=b"a\n")
    result = plan({"template": {"src": "t.j2", "dest": "/etc/t"}}, facts, content=b"a\n")
    assert not result.changes and result.diff == ""


def test_a_changed_template_is_written_to_a_temporary_file_the_old_one_kept_then_renamed():
    facts = StepFacts(path=PathState(True, "regular file", 0o644, "root", "root"), content=b"a\nb\n")
    result = plan({"template": {"src": "t.j2", "dest": "/etc/t.conf", "owner": "root:root"}}, facts,
                  content=b"a\nc\n")
    kinds = [action.kind for action in result.actions]
    assert kinds == ["put", "run", "run", "run", "run"]
    assert result.actions[0].path == "/etc/.t.conf.chaton-new" and result.actions[0].data == b"a\nc\n"
    assert ("cp", "-p", "--", "/etc/t.conf", "/etc/t.conf.chaton-prev") in argvs(result)
    assert argvs(result)[-1] == ("mv", "-f", "-T", "--", "/etc/.t.conf.chaton-new", "/etc/t.conf")
    assert "-b\n" in result.diff and "+c\n" in result.diff


def test_a_new_template_keeps_no_previous_version_and_diffs_against_nothing():
    result = plan({"template": {"src": "t.j2", "dest": "/etc/t"}}, StepFacts(path=PathState(False)), content=b"x\n")
    assert not any(argv[0] == "cp" for argv in argvs(result))
    assert result.diff.startswith("--- /dev/null")


def test_only_a_wrong_mode_is_fixed_with_chmod_without_rewriting_the_file():
    facts = StepFacts(path=PathState(True, "regular file", 0o600, "root", "root"), content=b"x\n")
    result = plan({"template": {"src": "t.j2", "dest": "/etc/t", "mode": "0644"}}, facts, content=b"x\n")
    assert argvs(result) == [("chmod", "0644", "--", "/etc/t")]
    assert result.reason == "mode 0600 → 0644"


def test_a_command_whose_guard_holds_is_skipped_with_the_reason():
    result = plan({"command": {"argv": ["make"], "creates": "/srv/built"}}, StepFacts(guard="/srv/built exists"))
    assert not result.changes and result.reason == "/srv/built exists"
    assert argvs(plan({"command": ["make"]}, StepFacts())) == [("make",)]


def test_a_stopped_service_is_started_after_its_configuration_test():
    result = plan({"reload": {"service": "nginx", "test": ["nginx", "-t"]}}, StepFacts(running=False))
    assert argvs(result) == [("nginx", "-t"), ("systemctl", "start", "nginx")]


def test_a_running_service_is_reloaded_only_when_an_earlier_step_changed_something():
    data = {"reload": "nginx"}
    assert not plan(data, StepFacts(running=True)).changes
    assert argvs(plan(data, StepFacts(running=True), changed_before=True)) == [("systemctl", "reload", "nginx")]


def test_a_host_without_systemd_uses_the_step_s_direct_commands_and_needs_them():
    data = {"reload": {"service": "nginx", "direct": {"status": "true", "start": "nginx", "reload": "nginx -s reload"}}}
    assert argvs(plan(data, StepFacts(running=True), changed_before=True, manager="direct")) == [
        ("nginx", "-s", "reload")]
    result = plan({"reload": "nginx"}, StepFacts(running=None), manager="direct")
    assert result.error is not None and "status, start, reload" in result.error


def test_a_wait_step_probes_but_is_not_a_change():
    result = plan({"wait": {"url": "http://10.0.0.1/", "timeout": 5}}, StepFacts())
    assert [action.kind for action in result.actions] == ["wait"] and not result.changes


# ------------------------------------------------------------------ stop (a playbook's `stop:` list)
def test_a_running_service_is_stopped_with_systemctl_and_a_stopped_one_is_left_alone():
    result = plan({"stop": "postfix"}, StepFacts(running=True))
    assert argvs(result) == [("systemctl", "stop", "postfix")] and result.reason == "running"
    idle = plan({"stop": "postfix"}, StepFacts(running=False))
    assert not idle.changes and idle.reason == "not running"


def test_a_stop_step_on_a_direct_host_needs_status_and_stop_commands():
    incomplete = plan({"stop": {"service": "postfix", "direct": {"status": ["postfix", "status"]}}},
                      StepFacts(running=True), manager="direct")
    assert incomplete.error is not None and "stop" in incomplete.error
    direct = plan({"stop": {"service": "postfix", "direct": {"status": ["postfix", "status"],
                                                             "stop": ["postfix", "stop"]}}},
                  StepFacts(running=True), manager="direct")
    assert argvs(direct) == [("postfix", "stop")]
