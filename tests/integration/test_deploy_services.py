"""The shipped mail and PHP playbooks deployed for real in the lab."""

from __future__ import annotations

import smtplib

import pytest

from tests.integration.deploy_helpers import chaton, post_form, wait_for_page, write_deploy_inventory


@pytest.fixture
def inventory(lab, tmp_path, monkeypatch):
    monkeypatch.setenv("CHATON_JOURNAL", str(tmp_path / "journal.sqlite3"))
    return write_deploy_inventory(lab, tmp_path)


@pytest.fixture
def postfix_stopped_afterwards(lab):
    # The lab lives for the whole session: leave vps without a running postfix, as it was found.
    yield
    lab.ssh("vps", "postfix status >/dev/null 2>&1 && postfix stop || true")


def test_postfix_relay_on_vps_accepts_mail_for_the_collective_domain_and_queues_it(
    lab, inventory, capsys, postfix_stopped_afterwards
):
    assert chaton("-i", str(inventory), "deploy", "mail", "--to", "vps") == 0
    with smtplib.SMTP(lab.address("vps"), 25, timeout=10) as smtp:
        code, banner = smtp.ehlo("tester.example")
        assert code == 250 and banner.startswith(b"vps.lab.test")
        assert smtp.mail("alice@example.org")[0] == 250
        assert smtp.rcpt(f"bob@{lab.zone}")[0] == 250
        assert smtp.rcpt("carol@elsewhere.example")[0] == 554  # relay access denied
        assert smtp.data(b"Subject: failover\r\n\r\nqueued while the primary is away\r\n")[0] == 250
    queue = lab.ssh("vps", "postqueue", "-p", check=True).stdout
    assert f"bob@{lab.zone}" in queue
    capsys.readouterr()
    assert chaton("-i", str(inventory), "--json", "deploy", "mail", "--to", "vps") == 0
    assert '"changed": 0' in capsys.readouterr().out


def test_php_pages_on_vps_stores_notes_in_postgresql_and_a_second_run_changes_nothing(lab, inventory, capsys):
    assert chaton("-i", str(inventory), "deploy", "pages", "--to", "vps") == 0
    assert "<h1>Notes</h1>" in wait_for_page(lab.address("vps"), "pages.lab.test", "<h1>Notes</h1>")
    # follows the 303 to GET /
    page = post_form(lab.address("vps"), "pages.lab.test", {"author": "Camille", "body": "hello from the lab"})
    assert "<b>Camille</b>: hello from the lab" in page
    rows = lab.ssh("vps", "runuser", "-u", "postgres", "--", "psql", "-tA", "-d", "pages", "-c",
                   "SELECT author || '|' || body FROM notes", check=True).stdout
    assert rows.strip() == "Camille|hello from the lab"
    capsys.readouterr()
    assert chaton("-i", str(inventory), "--json", "deploy", "pages", "--to", "vps") == 0
    assert '"changed": 0' in capsys.readouterr().out


def test_php_pages_shows_php_looking_names_as_text_and_runs_none_of_them(lab, tmp_path, monkeypatch, capsys):
    """A collective name and a title holding PHP reach the page escaped, inside string literals: the
    code they carry never runs (it would print INJECTED)."""
    import yaml

    monkeypatch.setenv("CHATON_JOURNAL", str(tmp_path / "journal.sqlite3"))
    inventory = write_deploy_inventory(lab, tmp_path)
    data = yaml.safe_load(inventory.read_text())
    data["collective"]["name"] = "Lab ?><?php echo 'INJECTED'; ?>"
    data["services"]["pages"]["vars"]["title"] = "<?php echo 'INJECTED'; ?> & '\\' notes"
    inventory.write_text(yaml.safe_dump(data, sort_keys=False))

    assert chaton("-i", str(inventory), "deploy", "pages", "--to", "vps") == 0
    page = wait_for_page(lab.address("vps"), "pages.lab.test", "&lt;?php echo")
    assert "<h1>&lt;?php echo &#039;INJECTED&#039;; ?&gt; &amp; &#039;\\&#039; notes</h1>" in page
    assert "Lab ?&gt;&lt;?php echo &#039;INJECTED&#039;; ?&gt;</title>" in page
    assert "INJECTED" not in page.replace("&#039;INJECTED&#039;", "")
