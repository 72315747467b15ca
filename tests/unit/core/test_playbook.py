"""The playbook format: validation with file:line, shorthands, and the shipped playbooks."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaton_ops.core.playbook import (
    PlaybookError,
    builtin_playbooks_dir,
    find_playbook,
    load_playbook,
    playbook_search_path,
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "test.yml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("name", ["static-site", "postfix-relay", "php-pages"])
def test_every_shipped_playbook_is_valid(name):
    loaded = load_playbook(builtin_playbooks_dir() / f"{name}.yml")
    assert loaded.playbook.steps
    assert loaded.folder.is_dir()


def test_an_unknown_key_is_reported_with_file_line_and_a_suggestion(tmp_path):
    path = write(tmp_path, "steps:\n  - packages: [nginx]\n  - template: {src: a.j2, dest: /etc/a, mdoe: '0644'}\n")
    with pytest.raises(PlaybookError) as caught:
        load_playbook(path)
    text = str(caught.value)
    assert f"{path}:3" in text
    assert "unknown key 'mdoe'" in text and "did you mean 'mode'" in text
    assert "in the playbook" in text


def test_every_problem_is_reported_at_once(tmp_path):
    path = write(tmp_path, "steps:\n  - packages: [nginx]\n    command: [echo]\n  - directory: {path: relative}\n")
    with pytest.raises(PlaybookError) as caught:
        load_playbook(path)
    assert len(caught.value.problems) == 2
    assert "exactly one of" in str(caught.value) and "not an absolute path" in str(caught.value)


def test_a_duplicate_key_is_an_error_not_last_wins(tmp_path):
    path = write(tmp_path, "steps:\n  - packages: [nginx]\nsteps:\n  - packages: [postfix]\n")
    with pytest.raises(PlaybookError, match="duplicate key 'steps'"):
        load_playbook(path)


def test_a_mode_written_as_a_number_is_refused_because_yaml_reads_it_ambiguously(tmp_path):
    path = write(tmp_path, "steps:\n  - directory: {path: /srv/x, mode: 0755}\n")
    with pytest.raises(PlaybookError, match="quoted octal string"):
        load_playbook(path)


def test_a_command_string_is_split_like_a_shell_would_and_shorthands_expand(tmp_path):
    path = write(tmp_path, "steps:\n  - command: \"nginx -t -c '/etc/my nginx.conf'\"\n  - reload: nginx\n"
                           "  - command: {argv: [echo], creates: /etc/done, unless: test -e /x}\n")
    steps = load_playbook(path).playbook.steps
    assert steps[0].command is not None and steps[0].command.argv == ["nginx", "-t", "-c", "/etc/my nginx.conf"]
    assert steps[1].reload is not None and steps[1].reload.service == "nginx"
    assert steps[2].command is not None and steps[2].command.unless == ["test", "-e", "/x"]
    assert [step.kind for step in steps] == ["command", "reload", "command"]


def test_a_template_source_cannot_leave_the_playbook_folder(tmp_path):
    path = write(tmp_path, "steps:\n  - template: {src: ../../etc/shadow, dest: /tmp/x}\n")
    with pytest.raises(PlaybookError, match="inside the playbook's folder"):
        load_playbook(path)


def test_templated_values_are_checked_only_after_rendering(tmp_path):
    path = write(tmp_path, "steps:\n  - directory: {path: '{{ data[0] }}'}\n  - reload: 'php{{ vars.v }}-fpm'\n")
    assert len(load_playbook(path).playbook.steps) == 2


def test_playbooks_are_found_in_the_environment_then_the_inventory_folder_then_the_shipped_ones(tmp_path):
    own = tmp_path / "own"
    own.mkdir()
    (own / "static-site.yml").write_text("steps: [{packages: [nginx]}]\n")
    search = playbook_search_path(tmp_path / "inventory", {"CHATON_PLAYBOOKS": str(own)})
    assert find_playbook("static-site", search) == own / "static-site.yml"
    assert find_playbook("postfix-relay", search) == builtin_playbooks_dir() / "postfix-relay.yml"
    with pytest.raises(PlaybookError, match="playbook 'nope' not found"):
        find_playbook("nope", search)


@pytest.mark.parametrize("name, stops", [("static-site", []), ("postfix-relay", ["stop postfix"]),
                                         ("php-pages", ["stop php{{ vars.php_version }}-fpm"])])
def test_shipped_playbooks_say_what_a_restore_stops_and_starts_again(name, stops):
    playbook = load_playbook(builtin_playbooks_dir() / f"{name}.yml").playbook
    assert [step.label for step in playbook.stop] == stops
    assert len(playbook.start) == len(stops)  # whatever is stopped is started again


def test_the_folder_the_inventory_names_comes_before_its_playbooks_folder_and_the_built_in_ones(tmp_path):
    from chaton_ops.core.loader import load_inventory

    inventory = tmp_path / "collective"
    (inventory / "ours").mkdir(parents=True)
    (inventory / "playbooks").mkdir()
    (inventory / "ours" / "static-site.yml").write_text("steps: [{packages: [nginx]}]\n")
    (inventory / "playbooks" / "static-site.yml").write_text("steps: [{packages: [apache2]}]\n")
    (inventory / "playbooks" / "php-pages.yml").write_text("steps: [{packages: [php]}]\n")
    (inventory / "inventory.yml").write_text(
        "version: 1\ncollective: {name: T, domain: t.example, contact: a@t.example}\nplaybooks: ours\n")
    loaded = load_inventory(inventory / "inventory.yml")

    search = loaded.playbook_search_path({})

    assert search == [inventory / "ours", inventory / "playbooks", builtin_playbooks_dir()]
    assert find_playbook("static-site", search) == inventory / "ours" / "static-site.yml"
    assert find_playbook("php-pages", search) == inventory / "playbooks" / "php-pages.yml"
    assert find_playbook("postfix-relay", search) == builtin_playbooks_dir() / "postfix-relay.yml"


def test_the_built_in_playbooks_live_inside_the_package(tmp_path):
    import chaton_ops

    assert builtin_playbooks_dir() == Path(chaton_ops.__file__).parent / "playbooks"
    assert {p.stem for p in builtin_playbooks_dir().glob("*.yml")} == {"static-site", "postfix-relay", "php-pages"}
