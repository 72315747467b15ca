"""restic restore, ls and stats: argv per version (the feature table) and parsers of output captured
from Debian 12's restic 0.14 and Debian 13's 0.18 in the lab."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaton_ops.core.ports import CommandResult
from chaton_ops.core.restic import (
    FEATURE_MIN_VERSION,
    Feature,
    ResticRun,
    build_load_pipeline_argv,
    build_ls_argv,
    build_restore_argv,
    build_stats_argv,
    classify,
    parse_pipe_status,
)
from chaton_ops.core.restic_output import (
    go_mode_to_unix,
    parse_ls,
    parse_restore_status,
    parse_restore_summary,
    parse_stats,
)

SAMPLES = Path(__file__).parent / "restic_samples"
URL = "sftp:root@10.77.0.4:/srv/restic/main"
V014, V018 = (0, 14, 0), (0, 18, 0)


def sample(name: str) -> str:
    return (SAMPLES / name).read_text()


def test_feature_table_puts_json_restore_at_016_and_delete_overwrite_dry_run_at_017():
    assert FEATURE_MIN_VERSION[Feature.JSON_RESTORE] == (0, 16, 0)
    for feature in (Feature.RESTORE_DELETE, Feature.RESTORE_OVERWRITE, Feature.RESTORE_DRY_RUN):
        assert FEATURE_MIN_VERSION[feature] == (0, 17, 0)


def test_restore_argv_on_014_is_text_and_verifies():
    argv = build_restore_argv("restic", URL, "abcd1234", target="/srv/.chaton-restore-x", version=V014)
    assert argv == ["restic", "--repo", URL, "restore", "--target", "/srv/.chaton-restore-x", "--verify", "--",
                    "abcd1234"]


def test_restore_argv_on_018_asks_for_json_and_takes_the_017_options():
    argv = build_restore_argv("restic", URL, "abcd1234", target="/t", version=V018, includes=["/srv/a"],
                              verify=False, delete=True, overwrite="if-changed", dry_run=True)
    assert argv == ["restic", "--repo", URL, "restore", "--json", "--target", "/t", "--include", "/srv/a",
                    "--delete", "--overwrite", "if-changed", "--dry-run", "--", "abcd1234"]


@pytest.mark.parametrize("option", [{"delete": True}, {"overwrite": "always"}, {"dry_run": True, "verify": False}])
def test_restore_options_of_017_are_refused_for_014(option):
    with pytest.raises(ValueError, match="restic 0.14.0 has no"):
        build_restore_argv("restic", URL, "abcd1234", target="/t", version=V014, **option)


def test_restore_cannot_verify_a_dry_run():
    with pytest.raises(ValueError, match="verify"):
        build_restore_argv("restic", URL, "abcd1234", target="/t", version=V018, dry_run=True)


def test_ls_argv_chooses_latest_by_tag_and_paths_without_locking():
    argv = build_ls_argv("restic", URL, "latest", tags=["service:mail"], paths=["/srv/mail"])
    assert argv == ["restic", "--repo", URL, "ls", "--json", "--no-lock", "--tag", "service:mail", "--path",
                    "/srv/mail", "--", "latest"]
    assert build_stats_argv("restic", URL, "abcd")[-4:] == ["--mode", "restore-size", "--", "abcd"]


@pytest.mark.parametrize("version", ["v0.14", "v0.18"])
def test_ls_gives_the_snapshot_and_every_node_with_type_mode_size_and_owner(version):
    listing = parse_ls(sample(f"{version}-ls.jsonl"))
    assert listing.snapshot.short_id == "cbf8dd70"
    assert listing.snapshot.tags == ("chaton", "service:mail")
    assert listing.snapshot.paths == ("/srv/mail",)
    nodes = {node.path: node for node in listing.nodes}
    assert nodes["/srv/mail"].type == "dir" and nodes["/srv/mail"].mode == 0o755
    assert nodes["/srv/mail/cur/m2"].mode == 0o600 and nodes["/srv/mail/cur/m2"].size == 6
    assert nodes["/srv/mail/link"].type == "symlink"
    assert listing.file_count == 3 and listing.total_file_bytes == 18
    assert [n.path for n in listing.under("/srv/mail/cur")] == ["/srv/mail/cur", "/srv/mail/cur/m1",
                                                                 "/srv/mail/cur/m2", "/srv/mail/cur/m3"]


def test_ls_without_a_snapshot_line_is_an_error():
    # restic 0.14 prints nothing and exits 0 when `latest` matches no snapshot
    with pytest.raises(ValueError):
        parse_ls("")


def test_go_file_modes_become_unix_modes_with_special_bits():
    assert go_mode_to_unix(2147484141) == 0o755  # a directory
    assert go_mode_to_unix((1 << 23) | 0o755) == 0o4755
    assert go_mode_to_unix((1 << 22) | (1 << 20) | 0o775) == 0o3775


@pytest.mark.parametrize("version", ["v0.14", "v0.18"])
def test_stats_restore_size(version):
    size = parse_stats(sample(f"{version}-stats.json"))
    assert (size.total_bytes, size.total_files) == (18, 8)


def test_restore_status_lines_of_018_give_progress():
    lines = sample("v0.18-restore.jsonl").splitlines()
    statuses = [parse_restore_status(line) for line in lines]
    progress = [s for s in statuses if s is not None]
    assert progress[0].fraction == 0 and progress[0].total_bytes == 30_000_000
    assert progress[1].bytes_restored == 17_700_000 and progress[1].files_restored == 177
    assert parse_restore_status(lines[-1]) is None  # the summary is not a status


def test_restore_summary_of_018_json():
    summary = parse_restore_summary(sample("v0.18-restore.jsonl"))
    assert summary.files_restored == 302 and summary.bytes_restored == 30_000_000
    assert summary.files_deleted is None
    assert parse_restore_summary(sample("v0.18-restore-delete.jsonl")).files_deleted == 1


@pytest.mark.parametrize("version", ["v0.14", "v0.18"])
def test_restore_text_says_how_many_files_were_verified(version):
    summary = parse_restore_summary(sample(f"{version}-restore-verify.txt"))
    assert summary.files_verified == 3
    assert parse_restore_status(sample(f"{version}-restore-verify.txt").splitlines()[0]) is None


@pytest.mark.parametrize("version, expected", [
    ("v0.14", 'no matching ID found for prefix "nosuch"'),
    ("v0.18", 'no matching ID found for prefix "nosuch"'),
])
def test_unknown_snapshot_errors_are_readable_in_both_versions(version, expected):
    stderr = sample(f"{version}-restore-unknown-id.stderr.txt")
    run = ResticRun(CommandResult("vps", ("restic",), 1, "", stderr, 0.1), classify(1, stderr))
    assert expected in run.error("restore").message


def test_the_json_exit_error_of_018_is_the_message():
    stderr = sample("v0.18-no-repository.stderr.txt")
    run = ResticRun(CommandResult("vps", ("restic",), 10, "", stderr, 0.1), classify(10, stderr))
    assert run.outcome == "no-repository"
    assert "repository does not exist" in run.error("ls").stderr_tail


def test_load_pipeline_reports_both_exit_codes_and_keeps_the_password_from_the_loader():
    argv = build_load_pipeline_argv(["restic", "--repo", URL, "dump", "abcd", "/postgres-site.sql"],
                                    ["runuser", "-u", "postgres", "--", "psql", "-d", "site"])
    assert argv[:2] == ["bash", "-c"]
    assert "| env -u RESTIC_PASSWORD runuser -u postgres -- psql -d site;" in argv[2]
    assert parse_pipe_status("ERROR: x\nchaton-pipe-status: 0 3\n") == (0, 3)
