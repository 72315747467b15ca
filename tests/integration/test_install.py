"""chaton installed like a tool: a wheel built from the sources, installed (not editable) into a fresh
virtual environment far from the source tree, deploys a built-in playbook on a lab host.

The fresh environment gets the wheel alone (`--no-deps --no-index`); its dependencies (typer, pydantic,
paramiko…) come from the test environment's site-packages through a `.pth` line, so the test needs no
package index. That folder's own `.pth` files are not run (it is not a site folder), so the editable
install of the sources there cannot shadow the wheel: the test checks where `chaton_ops` is loaded from.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.integration.deploy_helpers import SITE_NAME, SITE_ROOT, wait_for_page, write_deploy_inventory

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    build = tmp_path_factory.mktemp("build")
    # a copy of the sources: building writes build/ and *.egg-info, which must not land in the worktree
    subprocess.run(["cp", "-a", str(ROOT / "src"), str(ROOT / "pyproject.toml"), str(ROOT / "README.md"), str(build)],
                   check=True)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                    "-w", str(out), str(build)], check=True, capture_output=True, text=True, timeout=300)
    (found,) = out.glob("chaton_ops-*.whl")
    return found


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    venv = tmp_path_factory.mktemp("venv") / "fresh"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", str(wheel)], check=True,
                   capture_output=True, text=True, timeout=300)
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    (Path(site) / "chaton-test-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


def test_the_wheel_carries_the_built_in_playbooks_and_their_templates(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())

    for playbook in ("static-site", "postfix-relay", "php-pages"):
        assert f"chaton_ops/playbooks/{playbook}.yml" in names
    assert "chaton_ops/playbooks/static-site/site.conf.j2" in names
    assert "chaton_ops/playbooks/postfix-relay/main.cf.j2" in names
    assert not any(name.startswith("playbooks/") for name in names)


def test_the_installed_chaton_runs_from_the_fresh_environment_and_says_its_version(installed, tmp_path):
    chaton = installed / "bin" / "chaton"
    where = subprocess.run([str(installed / "bin" / "python"), "-c",
                            "import chaton_ops.core.playbook as p; print(p.__file__); print(p.builtin_playbooks_dir())"],
                           check=True, capture_output=True, text=True, cwd=tmp_path).stdout.split()

    assert all(line.startswith(str(installed)) for line in where), where
    version = subprocess.run([str(chaton), "--version"], capture_output=True, text=True, cwd=tmp_path, check=False)
    assert version.returncode == 0 and version.stdout.strip() == f"chaton {_project_version()}"


def test_the_installed_chaton_deploys_a_built_in_playbook_on_a_lab_host(installed, lab, tmp_path):
    inventory = write_deploy_inventory(lab, tmp_path / "collective")
    index = lab.host_path("vps", f"{SITE_ROOT}/index.html")
    index.parent.mkdir(parents=True, exist_ok=True)
    index.write_text("<h1>deployed by the wheel</h1>\n")
    env = {**os.environ, "CHATON_JOURNAL": str(tmp_path / "journal.sqlite3")}
    env.pop("CHATON_PLAYBOOKS", None)

    done = subprocess.run([str(installed / "bin" / "chaton"), "-i", str(inventory), "deploy", "site", "--to", "vps"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300, check=False)

    assert done.returncode == 0, done.stdout + done.stderr
    assert wait_for_page(lab.address("vps"), SITE_NAME, "<h1>deployed by the wheel</h1>\n") == \
        "<h1>deployed by the wheel</h1>\n"
    config = lab.host_path("vps", "/etc/nginx/conf.d/chaton-site.conf").read_text()
    assert f"root {SITE_ROOT};" in config


def _project_version() -> str:
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
