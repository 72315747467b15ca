"""`chaton deploy` on the command line without a host: help, and errors found before connecting."""

from __future__ import annotations

from chaton_ops.cli.main import main


def test_deploy_has_help_naming_its_options(capsys):
    assert main(["deploy", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--to" in out and "--after-restore" in out


def test_deploy_of_an_unknown_service_exits_2_before_connecting(tmp_path, capsys):
    path = tmp_path / "inventory.yml"
    path.write_text("version: 1\ncollective: {name: T, domain: t.example, contact: a@t.example}\n"
                    "hosts: {web: {address: 192.0.2.1}}\n")
    assert main(["-i", str(path), "deploy", "www"]) == 2
    assert "unknown service 'www'" in capsys.readouterr().err
