"""`chaton inventory export --format ansible`: a YAML inventory Ansible can read."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from chaton_ops.cli.main import main
from chaton_ops.ops.export import ssh_common_args


class AnsibleLoader(yaml.SafeLoader):
    """Reads `!unsafe` as Ansible does (a string it never templates)."""


AnsibleLoader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def load_export(text: str) -> dict:
    return yaml.load(text, Loader=AnsibleLoader)  # noqa: S506 - a SafeLoader subclass

INVENTORY = """\
version: 1
collective: {name: Ti Nuage, domain: ti-nuage.example, contact: admins@ti-nuage.example}
defaults:
  ssh: {user: admin, port: 2222, identity: keys/id_ed25519, known_hosts: keys/known_hosts}
secrets:
  restic-main: {env: RESTIC_MAIN}
repositories:
  main: {url: "sftp:backup@backup.example:/srv/restic/main", password: restic-main}
hosts:
  web: {address: 192.0.2.23}
  vps: {address: 198.51.100.7, kind: fallback, ssh: {port: 22}}
tenants:
  les-cigales: {contact: contact@cigales.example}
services:
  www:
    tenant: les-cigales
    host: web
    playbook: static-site
    vars: {server_name: www.ti-nuage.example}
    data: [/srv/www]
    databases: [{engine: postgres, name: site}]
    fallback: vps
"""


def export(tmp_path, capsys, *args: str) -> tuple[int, str, str]:
    path = tmp_path / "inventory.yml"
    path.write_text(INVENTORY)
    code = main(["-i", str(path), "inventory", "export", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_export_parses_as_yaml_with_hosts_connection_variables_and_groups(tmp_path, capsys):
    code, out, _ = export(tmp_path, capsys, "--format", "ansible")
    assert code == 0
    data = load_export(out)["all"]
    web = data["hosts"]["web"]
    assert (web["ansible_host"], web["ansible_port"], web["ansible_user"]) == ("192.0.2.23", 2222, "admin")
    assert web["ansible_ssh_private_key_file"] == str(tmp_path / "keys/id_ed25519")
    assert "StrictHostKeyChecking=yes" in web["ansible_ssh_common_args"]
    assert data["hosts"]["vps"]["ansible_port"] == 22
    assert set(data["children"]["kind_server"]["hosts"]) == {"web"}
    assert set(data["children"]["kind_fallback"]["hosts"]) == {"vps"}
    assert set(data["children"]["tenant_les_cigales"]["hosts"]) == {"web"}
    www = web["chaton_services"]["www"]
    assert www["vars"] == {"server_name": "www.ti-nuage.example"} and www["data"] == ["/srv/www"]
    assert www["databases"] == [{"engine": "postgres", "name": "site"}]
    assert data["vars"]["chaton_collective"]["domain"] == "ti-nuage.example"
    assert "chaton_services" not in data["hosts"]["vps"]


def test_an_unknown_export_format_is_a_usage_error(tmp_path, capsys):
    code, _, err = export(tmp_path, capsys, "--format", "salt")
    assert code == 2
    assert "unknown export format 'salt'" in err


def test_every_string_value_is_unsafe_for_ansible_so_it_is_never_templated(tmp_path, capsys):
    code, out, _ = export(tmp_path, capsys, "--format", "ansible")
    assert code == 0
    assert "ansible_host: !unsafe '192.0.2.23'" in out
    assert "server_name: !unsafe 'www.ti-nuage.example'" in out
    assert "ansible_port: 2222" in out  # numbers stay numbers


@pytest.mark.parametrize("known_hosts", ["/etc/chaton/known_hosts", "/tmp/kh;$(touch x)#-oProxyCommand=y",
                                         "/tmp/a'b", "/tmp/-o"])
def test_the_ssh_common_args_split_as_ansible_splits_them_into_exactly_four_words(known_hosts: str) -> None:
    assert shlex.split(ssh_common_args(known_hosts)) == [
        "-o", f'UserKnownHostsFile="{known_hosts}"', "-o", "StrictHostKeyChecking=yes"]


ANSIBLE_PLAYBOOK = Path(os.environ.get("VIRTUAL_ENV", Path(__file__).parents[3] / ".venv")) / "bin" / "ansible-playbook"


@pytest.mark.skipif(not ANSIBLE_PLAYBOOK.exists() and not shutil.which("ansible-playbook"),
                    reason="ansible-core is in the test extras (pip install -e '.[test]')")
def test_ansible_connects_with_the_known_hosts_file_as_one_option_and_templates_no_value(tmp_path, capsys):
    """Real Ansible reads the export: its ssh plugin gets the known_hosts path as one -o option (no
    ProxyCommand from a crafted path), and a `{{ lookup('pipe', …) }}` in the inventory runs nothing."""
    pwned = tmp_path / "pwned"
    inventory = INVENTORY.replace("known_hosts: keys/known_hosts", f"known_hosts: '{tmp_path}/kh-oProxyCommand=x'")
    inventory = inventory.replace("name: Ti Nuage", "name: \"Ti {{ lookup('pipe', 'touch " + str(pwned) + "') }}\"")
    path = tmp_path / "inventory.yml"
    path.write_text(inventory)
    assert main(["-i", str(path), "inventory", "export"]) == 0
    (tmp_path / "hosts.yml").write_text(capsys.readouterr().out)
    recorder = tmp_path / "ssh"
    recorder.write_text(f"#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > {tmp_path}/argv\nexit 255\n")
    recorder.chmod(0o755)
    (tmp_path / "play.yml").write_text("- hosts: web\n  gather_facts: false\n  connection: local\n  tasks:\n"
                                       "    - debug: {msg: '{{ chaton_collective.name }}'}\n"
                                       "- hosts: web\n  gather_facts: false\n  tasks:\n    - ping:\n")
    binary = str(ANSIBLE_PLAYBOOK) if ANSIBLE_PLAYBOOK.exists() else "ansible-playbook"
    env = {**os.environ, "ANSIBLE_SSH_EXECUTABLE": str(recorder), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_LOCAL_TEMP": str(tmp_path / "tmp"), "ANSIBLE_HOME": str(tmp_path / "home")}
    done = subprocess.run([binary, "-i", str(tmp_path / "hosts.yml"), str(tmp_path / "play.yml")],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    argv = (tmp_path / "argv").read_text().splitlines()
    index = argv.index(f'UserKnownHostsFile="{tmp_path}/kh-oProxyCommand=x"')
    assert argv[index - 1] == "-o" and not any(a.startswith("ProxyCommand") for a in argv)
    assert "Ti {{ lookup('pipe', 'touch " in done.stdout  # printed as it is, not run
    assert not pwned.exists()
