"""`chaton inventory export --format ansible`: a YAML inventory Ansible can read."""

from __future__ import annotations

import yaml

from chaton_ops.cli.main import main

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
    data = yaml.safe_load(out)["all"]
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
