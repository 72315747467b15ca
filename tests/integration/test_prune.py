"""Retention that does not cost a second backup: `chaton backup` forgets only, `chaton prune` frees the
space of forgotten snapshots on its own (journaled, confirmed, with the space it freed)."""

from __future__ import annotations

import os

import pytest

from chaton_ops.adapters.journal import Journal
from tests.integration.backup_lab import BackupLab, service


@pytest.fixture
def blab(lab, tmp_path) -> BackupLab:
    return BackupLab(lab, tmp_path)


def unused_bytes(blab: BackupLab) -> str:
    """What a prune would remove now, as restic's own dry run says it."""
    done = blab.restic("primary", "prune", "--dry-run")
    return next(line for line in done.stdout.splitlines() if line.startswith("total prune:"))


def repository_size(blab: BackupLab) -> int:
    return sum(path.stat().st_size for path in blab.repo_path.rglob("*") if path.is_file())


def back_up_three_versions(blab: BackupLab) -> None:
    folder = blab.make_files("primary", "/srv/site", {"keep.txt": "kept"})
    blab.write_inventory({"site": service("primary", ["/srv/site"], retention={"last": 1})})
    for version in range(3):
        (folder / "big.bin").write_bytes(os.urandom(400_000 + version))
        run = blab.chaton("backup", "site", *(["--init"] if version == 0 else []))
        assert run.returncode == 0, run.output


def test_a_backup_forgets_but_never_prunes(blab):
    back_up_three_versions(blab)

    assert len(blab.snapshots()) == 1
    steps = blab.journal_steps()
    assert ("backup", "main", "forget", "ok") in steps
    assert not [step for step in steps if step[2] == "prune"]
    assert unused_bytes(blab) != "total prune:           0 blobs / 0 B"  # the forgotten data is still there


def test_prune_removes_the_forgotten_data_reports_it_and_journals_the_run(blab):
    back_up_three_versions(blab)

    size_before = repository_size(blab)
    run = blab.chaton("--yes", "--json", "prune")

    assert run.returncode == 0, run.output
    (step,) = run.json()["steps"]
    assert step["key"] == "prune:main" and step["host"] == "primary" and step["status"] == "changed"
    assert step["outputs"]["removed_bytes"] >= 800_000  # the two forgotten versions of big.bin
    # the space came back: the repository's own files shrank by what restic removed (the filesystem's
    # free space is reported too, but other processes on this machine move it: not a measure here)
    assert size_before - repository_size(blab) >= 800_000
    assert all(isinstance(step["outputs"][key], int) and step["outputs"][key] > 0
               for key in ("free_before_bytes", "free_after_bytes"))
    assert unused_bytes(blab).endswith(" 0 B")
    with Journal(blab.journal) as journal:
        (prune_run,) = journal.runs(command="prune")
        assert prune_run.status == "ok"
        assert journal.keyed_steps(prune_run.id)["prune:main"].status == "changed"

    again = blab.chaton("--yes", "--json", "prune")
    assert again.returncode == 0 and again.json()["steps"][0]["status"] == "ok"


def test_prune_asks_first_and_refuses_without_a_terminal_and_a_dry_run_runs_nothing(blab):
    back_up_three_versions(blab)
    before = unused_bytes(blab)

    refused = blab.chaton("prune")
    dry = blab.chaton("prune", "--dry-run", "--max-unused", "0")

    assert refused.returncode == 2 and "there is no terminal to ask on; add --yes" in refused.stderr
    assert dry.returncode == 0 and "prune --max-unused 0" in dry.stdout and "dry run" in dry.stdout
    assert unused_bytes(blab) == before
    assert blab.chaton("prune", "--max-unused", "lots").returncode == 2
    with Journal(blab.journal) as journal:
        assert journal.runs(command="prune") == []
