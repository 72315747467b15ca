"""The restore use case with the real restic (0.14, and 0.18 when the lab's install step fetched it) on
this machine through the local transport: a repository in a temporary folder, no lab needed."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

from chaton_ops.adapters.journal import Journal
from chaton_ops.adapters.local import LocalTransport
from chaton_ops.adapters.secrets import InventorySecrets
from chaton_ops.adapters.templates import TemplateRenderer
from chaton_ops.core.loader import load_inventory
from chaton_ops.core.restic_output import ListedNode
from chaton_ops.errors import ChatonError, UsageError
from chaton_ops.ops.restore import (
    measured_restore_speed,
    prepare_restore,
    verify_restored,
)
from chaton_ops.ops.restore_run import run_restore

PASSWORD = "local-test-Pw9x"
NEW_RESTIC = Path(os.environ.get("CHATON_LAB_CACHE", "/var/cache/chaton-lab")) / "restic-trixie/usr/bin/restic"
BINARIES = ["restic", pytest.param(str(NEW_RESTIC), marks=pytest.mark.skipif(
    not NEW_RESTIC.is_file(), reason="restic 0.18 not fetched (scripts/install-lab-deps)"))]


def tree(root: Path) -> dict[str, tuple[str, int, int, str]]:
    """Relative path → (type, mode, mtime, sha256 of content or link target)."""
    found = {}
    for path in [root, *sorted(root.rglob("*"))]:
        info = path.lstat()
        relative = str(path.relative_to(root))
        if path.is_symlink():
            found[relative] = ("link", 0, int(info.st_mtime), os.readlink(path))
        elif path.is_dir():
            found[relative] = ("dir", info.st_mode & 0o7777, int(info.st_mtime), "")
        else:
            found[relative] = ("file", info.st_mode & 0o7777, int(info.st_mtime),
                               hashlib.sha256(path.read_bytes()).hexdigest())
    return found


@pytest.fixture(scope="module", params=BINARIES)
def setup(request, tmp_path_factory):
    binary = request.param
    base = tmp_path_factory.mktemp("restore")
    repo = base / "repo"
    env = {**os.environ, "RESTIC_PASSWORD": PASSWORD}
    subprocess.run([binary, "-r", str(repo), "init"], env=env, check=True, capture_output=True)
    inventory = base / "inventory.yml"
    inventory.write_text(json.dumps({
        "version": 1,
        "collective": {"name": "T", "domain": "t.example", "contact": "a@t.example"},
        "secrets": {"pw": {"env": "CHATON_TEST_RESTIC_PW"}},
        "repositories": {"main": {"url": str(repo), "password": "pw"}},
        "hosts": {"localhost": {"address": "localhost", "restic": binary, "service_manager": "direct"}},
        "services": {
            "mail": {"host": "localhost", "data": [str(base / "data" / "mail")]},
            "www": {"host": "localhost", "data": [str(base / "data" / "www")]},
        },
    }))
    os.environ["CHATON_TEST_RESTIC_PW"] = PASSWORD
    return {"base": base, "repo": repo, "env": env, "binary": binary, "loaded": load_inventory(inventory)}


def back_up(setup, service: str) -> str:
    data = setup["base"] / "data" / service
    done = subprocess.run([setup["binary"], "-r", str(setup["repo"]), "backup", "--json", "--host", "localhost",
                           "--tag", "chaton", "--tag", f"service:{service}", str(data)],
                          env=setup["env"], check=True, capture_output=True, text=True)
    return [json.loads(line) for line in done.stdout.splitlines() if '"summary"' in line][0]["snapshot_id"]


def transports(name: str) -> LocalTransport:
    return LocalTransport(name)


def test_restore_in_place_makes_the_tree_equal_to_the_snapshot_and_keeps_the_rest_aside(setup):
    mail = setup["base"] / "data" / "mail"
    (mail / "cur").mkdir(parents=True)
    for index in range(5):
        (mail / "cur" / f"m{index}").write_text(f"mail {index}\n" * (index + 1))
    (mail / "cur" / "m1").chmod(0o600)
    (mail / "latest").symlink_to("cur/m0")
    back_up(setup, "mail")
    at_backup = tree(mail)
    (mail / "cur" / "m2").unlink()  # deleted since: comes back
    (mail / "cur" / "new-mail").write_text("arrived after the backup")  # added since: kept aside
    (mail / "cur" / "m3").write_text("changed")
    (mail / "cur" / "m4").chmod(0o640)
    journal = Journal(setup["base"] / "journal.sqlite3")

    report = run_restore(setup["loaded"], "mail", transports, confirm=lambda plan: plan.live, journal=journal)

    assert tree(mail) == at_backup
    (aside,) = [swap.kept_aside for swap in report.swaps]
    assert aside is not None and (Path(aside) / "cur" / "new-mail").read_text() == "arrived after the backup"
    assert report.verified and report.status == "ok"
    assert not any(p.name.startswith(".chaton-restore-") for p in mail.parent.iterdir())  # staging removed
    (run,) = journal.runs(command="restore")
    steps = {step.step: step for step in journal.steps(run.id)}
    detail = steps["restore"].detail
    assert {"service", "host", "snapshot", "snapshot_time", "bytes", "files", "duration", "mb_per_s",
            "verified"} <= set(detail) and detail["verified"] is True
    assert steps["swap"].detail["kept_aside"] == aside
    assert measured_restore_speed(journal) is not None
    assert measured_restore_speed(journal, host="elsewhere") is None


def test_target_restores_under_a_folder_and_leaves_the_live_data_alone(setup):
    www = setup["base"] / "data" / "www"
    www.mkdir(parents=True)
    (www / "index.html").write_text("v1")
    back_up(setup, "www")
    (www / "index.html").write_text("v2 live")
    target = setup["base"] / "inspect"

    report = run_restore(setup["loaded"], "www", transports, target=str(target))

    assert (www / "index.html").read_text() == "v2 live"
    assert (target / str(www).lstrip("/") / "index.html").read_text() == "v1"
    assert report.swaps == [] and report.verified


def test_a_live_restore_without_confirmation_changes_nothing(setup):
    www = setup["base"] / "data" / "www"
    www.mkdir(parents=True, exist_ok=True)
    (www / "index.html").write_text("v1")
    back_up(setup, "www")
    (www / "index.html").write_text("live")
    with pytest.raises(ChatonError, match="not confirmed"):
        run_restore(setup["loaded"], "www", transports, confirm=lambda plan: False)
    assert (www / "index.html").read_text() == "live"


def test_a_snapshot_of_another_service_is_refused_naming_both(setup):
    (setup["base"] / "data" / "www").mkdir(parents=True, exist_ok=True)
    snapshot = back_up(setup, "www")
    with pytest.raises(UsageError, match=f"snapshot {snapshot[:8]} belongs to service www, not to mail"):
        prepare_restore(setup["loaded"], "mail", transports, secrets=InventorySecrets(setup["loaded"]),
                        templates=TemplateRenderer, snapshot=snapshot)
    with pytest.raises(UsageError, match="no snapshot 0123abcd"):
        prepare_restore(setup["loaded"], "mail", transports, secrets=InventorySecrets(setup["loaded"]),
                        templates=TemplateRenderer, snapshot="0123abcd")


def test_verification_finds_what_differs_from_the_listing(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a").write_text("12345")
    (tmp_path / "d" / "extra").write_text("x")
    info = (tmp_path / "d" / "a").stat()
    folder = (tmp_path / "d").stat()
    expected = [ListedNode("/srv/d", "dir", folder.st_mode & 0o7777, 0, os.getuid(), os.getgid(), int(folder.st_mtime)),
                ListedNode("/srv/d/a", "file", 0o600, 4, os.getuid(), os.getgid(), int(info.st_mtime)),
                ListedNode("/srv/d/gone", "file", 0o644, 1, 0, 0, 0)]
    result = verify_restored(LocalTransport(), expected, "/srv/d", str(tmp_path / "d"))
    assert not result.verified
    assert set(result.differences) == {
        f"/srv/d/a: mode {info.st_mode & 0o7777:04o}, the snapshot has 0600", "/srv/d/a: 5 bytes, the snapshot has 4",
        "missing: /srv/d/gone", "not in the snapshot: /srv/d/extra"}


def test_the_local_transport_streams_output_while_the_command_runs():
    chunks: list[bytes] = []
    result = LocalTransport().run_streaming(["sh", "-c", "echo one; sleep 0.1; echo two"], chunks.append)
    assert b"".join(chunks) == b"one\ntwo\n" == result.stdout.encode() and len(chunks) == 2
