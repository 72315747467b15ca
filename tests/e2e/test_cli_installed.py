"""The installed `chaton` command, run as an admin runs it (a subprocess, no test harness in between)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
CHATON = Path(sys.executable).parent / "chaton"
CORPUS = ROOT / "tests" / "unit" / "core" / "bad_inventories"

pytestmark = pytest.mark.skipif(not CHATON.exists(), reason="chaton is not installed in this environment")


def run_chaton(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CHATON_JOURNAL": str(tmp_path / "journal.sqlite3"), "COLUMNS": "80"}
    env.pop("CHATON_INVENTORY", None)
    return subprocess.run([str(CHATON), *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60,
                          check=False)


def test_check_of_the_example_inventory_exits_0(tmp_path: Path) -> None:
    done = run_chaton("inventory", "check", "inventory/example.yml", tmp_path=tmp_path)

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("inventory OK: 6 hosts, 12 services")


def test_check_of_a_bad_inventory_exits_2_with_file_and_line(tmp_path: Path) -> None:
    bad = CORPUS / "17-dangling-host.yml"

    done = run_chaton("inventory", "check", str(bad), tmp_path=tmp_path)

    assert done.returncode == 2
    assert f"{bad}:14:5: at 'services.www.host': unknown host 'nowhere'" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_usage_error_exits_2_without_traceback(tmp_path: Path) -> None:
    done = run_chaton("inventory", "no-such-subcommand", tmp_path=tmp_path)

    assert done.returncode == 2
    assert "Traceback" not in done.stderr


def test_json_after_the_subcommand_gives_parsable_output(tmp_path: Path) -> None:
    done = run_chaton("inventory", "show", "www", "-i", "inventory/example.yml", "--json", tmp_path=tmp_path)

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0]["host"]["name"] == "web"


def test_inventory_check_imports_no_heavy_library(tmp_path: Path) -> None:
    probe = ("import sys; from chaton_ops.cli.main import main; main(['inventory', 'check', "
             "'inventory/example.yml']); heavy = {'fabric', 'paramiko', 'proxmoxer', 'httpx', 'dns', 'jinja2', "
             "'rich'}; print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))")

    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=60,
                          check=False)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize("args", [["--help"], ["vm", "--help"], ["vm", "list", "--help"]])
def test_help_of_the_vm_commands_imports_neither_proxmoxer_nor_requests(args: list[str]) -> None:
    probe = (f"import sys; from chaton_ops.cli.main import main; main({args!r}); "
             "heavy = {'proxmoxer', 'requests', 'urllib3', 'paramiko', 'httpx', 'rich'}; "
             "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))")

    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=60,
                          check=False)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_vm_list_of_the_example_names_its_missing_ca_file_and_exits_2(tmp_path: Path) -> None:
    done = run_chaton("-i", "inventory/example.yml", "vm", "list", tmp_path=tmp_path)

    assert done.returncode == 2
    assert "proxmox.hutte.ca_file: /etc/chaton/pve-root-ca.pem is not a file (inventory/example.yml:" in done.stderr
    assert "Traceback" not in done.stderr


def test_vm_list_without_the_token_secret_says_which_and_exits_1(tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.yml"
    text = (ROOT / "inventory" / "example.yml").read_text()
    inventory.write_text(text.replace("    ca_file: /etc/chaton/pve-root-ca.pem", "    ca_file: " + str(inventory)))
    env_free = {k: v for k, v in os.environ.items() if k != "CHATON_PVE_TOKEN"}
    done = subprocess.run([str(CHATON), "-i", str(inventory), "vm", "list"], capture_output=True, text=True,
                          cwd=ROOT, timeout=60, check=False,
                          env={**env_free, "CHATON_JOURNAL": str(tmp_path / "journal.sqlite3")})

    assert done.returncode == 1
    assert "secret 'pve-token': environment variable CHATON_PVE_TOKEN is not set" in done.stderr
    assert "Traceback" not in done.stderr
