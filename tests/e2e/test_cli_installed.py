"""The installed `chaton` command, run as an admin runs it (a subprocess, no test harness in between)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
# the command under test: the one installed beside this interpreter (CHATON_E2E_COMMAND names another)
CHATON = Path(os.environ.get("CHATON_E2E_COMMAND") or Path(sys.executable).parent / "chaton")
CORPUS = ROOT / "tests" / "unit" / "core" / "bad_inventories"



def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


@pytest.fixture(autouse=True)
def installed_chaton() -> Path:
    """The tier drives the installed command: in CI its absence fails every test (a broken install must
    not pass as a skipped tier); elsewhere it skips them."""
    if not CHATON.exists():
        message = f"chaton is not installed at {CHATON} (pip install -e . / make install)"
        if in_ci():
            pytest.fail(f"{message}; CI=true: the end-to-end tier must run", pytrace=False)
        pytest.skip(message)
    return CHATON


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


def big_inventory(tmp_path: Path, services: int = 400) -> Path:
    lines = ["version: 1", "collective: {name: Big, domain: big.example, contact: a@big.example}",
             "secrets: {pw: {env: BIG_PASSWORD}}", "repositories: {main: {url: /srv/restic, password: pw}}",
             "hosts:", "  web: {address: 192.0.2.10}", "services:"]
    lines += [f"  svc-{index}: {{host: web, data: [/srv/svc-{index}/data, /srv/svc-{index}/more]}}"
              for index in range(services)]
    path = tmp_path / "big.yml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("args", [
    ["inventory"], ["inventory", "--json"], ["inventory", "show", "web"], ["inventory", "schema"],
    ["inventory", "export"], ["--help"], ["backup", "--all", "--dry-run"], ["backup", "--all", "--dry-run", "--json"],
])
def test_a_reader_that_stops_early_ends_chaton_quietly_with_0(tmp_path: Path, args: list[str]) -> None:
    inventory = big_inventory(tmp_path)
    argv = shlex.join([str(CHATON), "-i", str(inventory), *args])
    env = {**os.environ, "CHATON_JOURNAL": str(tmp_path / "journal.sqlite3"), "COLUMNS": "80"}

    # `head -c 1` reads one byte and leaves: every later write of chaton meets a closed pipe
    done = subprocess.run(["bash", "-c", f"{argv} 2>{tmp_path / 'err'} | head -c 1 >/dev/null; "
                                         "echo ${PIPESTATUS[0]}"], capture_output=True, text=True, env=env,
                          timeout=60, check=False)

    assert done.stdout.strip() == "0"
    assert (tmp_path / "err").read_text() == ""


@pytest.mark.parametrize("argv", [
    ["inventory", "check", "-i"], ["backup", "--al"], ["no-such-command"], ["check", "--via"],
    ["inventory", "check", "--inventory", "--json"], ["ping", "--jobs", "0"], ["history", "--limit", "x"],
])
def test_a_usage_error_is_one_line_and_exit_2(tmp_path: Path, argv: list[str]) -> None:
    done = run_chaton(*argv, tmp_path=tmp_path)

    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 1 and done.stderr.startswith("error: "), done.stderr
    assert not (tmp_path / "journal.sqlite3").exists()


def test_an_ascii_locale_gets_escapes_instead_of_a_crash(tmp_path: Path) -> None:
    inventory = tmp_path / "inventaire-é.yml"
    inventory.write_text(
        "version: 1\ncollective: {name: Les Chatons Libérés, domain: t.example, contact: a@t.example}\n"
        "secrets: {pw: {env: PASSWORD}}\nrepositories: {main: {url: /srv/restic, password: pw}}\n"
        "hosts:\n  web: {address: 192.0.2.10}\n"
        "services:\n  www: {host: web, data: [/srv/café → menu]}\n")
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("LC_", "LANG", "PYTHONIOENCODING", "PYTHONUTF8"))}
    env.update(LC_ALL="C", PYTHONUTF8="0", CHATON_JOURNAL=str(tmp_path / "journal.sqlite3"), COLUMNS="80")

    def chaton(*args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([str(CHATON), "-i", str(inventory), *args], capture_output=True, env=env, timeout=60,
                              check=False)

    table = chaton("inventory")
    shown = chaton("inventory", "show", "www", "--json")
    plan = chaton("backup", "www", "--dry-run")
    failed = chaton("inventory", "show", "caf\u00e9")

    assert table.returncode == 0 and b"Traceback" not in table.stderr
    assert b"/srv/caf\\xe9 \\u2192 menu" in table.stdout
    assert shown.returncode == 0 and json.loads(shown.stdout)[0]["settings"]["data"] == ["/srv/café → menu"]
    assert plan.returncode == 0 and b"Traceback" not in plan.stderr
    assert failed.returncode == 2 and failed.stderr.startswith(b"error: ") and b"Traceback" not in failed.stderr
