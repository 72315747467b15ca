"""The restic adapter: argv builders, the exit-code table, version features, parsers of real 0.14
output (captured from Debian 12's restic) and of the newer format (0.17/0.18)."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from chaton_ops.core.restic import (
    Feature,
    build_backup_argv,
    build_dump_pipeline_argv,
    build_forget_argv,
    build_init_argv,
    build_stdin_backup_argv,
    classify,
    parse_pipe_status,
    parse_read_data_subset,
    parse_version,
    supports,
)
from chaton_ops.core.restic_output import (
    parse_backup_errors,
    parse_backup_summary,
    parse_forget,
    parse_init,
    parse_lock_message,
    parse_snapshots,
)

SAMPLES = Path(__file__).parent / "restic_samples"
URL = "sftp:root@10.77.0.4:/srv/restic/main"


def sample(name: str) -> str:
    return (SAMPLES / name).read_text()


# ------------------------------------------------------------------ versions and features


def test_version_is_read_from_both_debian_12_and_newer_restic():
    assert parse_version(sample("v0.14-version.txt")) == (0, 14, 0)
    assert parse_version(sample("v0.18-version.txt")) == (0, 18, 0)


def test_features_follow_the_minimum_version_table():
    assert not supports((0, 14, 0), Feature.JSON_INIT)
    assert supports((0, 15, 0), Feature.JSON_INIT)
    assert not supports((0, 16, 4), Feature.EXIT_CODES_10_TO_12)
    assert supports((0, 18, 0), Feature.STDIN_FROM_COMMAND)


def test_a_garbled_version_line_is_refused():
    with pytest.raises(ValueError):
        parse_version("command not found")


# ------------------------------------------------------------------ argv builders


def test_backup_argv_names_the_inventory_host_tags_and_excludes_and_never_a_password():
    argv = build_backup_argv("restic", URL, paths=["/srv/www"], host="primary",
                             tags=["chaton", "service:www"], excludes=["*.tmp"])
    assert argv == ["restic", "--repo", URL, "backup", "--json", "--host", "primary", "--tag", "chaton",
                    "--tag", "service:www", "--exclude", "*.tmp", "--", "/srv/www"]
    assert not any("password" in part for part in argv)


def test_backup_argv_can_date_a_snapshot():
    argv = build_backup_argv("restic", URL, paths=["/srv"], host="h", tags=[], time=dt.datetime(2026, 1, 2, 3, 4, 5))
    assert argv[argv.index("--time") + 1] == "2026-01-02 03:04:05"


def test_init_asks_for_json_only_where_restic_has_it():
    assert build_init_argv("restic", URL, (0, 14, 0))[-1] == "init"
    assert build_init_argv("restic", URL, (0, 17, 0))[-2:] == ["init", "--json"]


def test_forget_selects_the_services_by_tag_and_groups_by_host_and_tags():
    argv = build_forget_argv("restic", URL, tags=["service:a", "service:b"], keep_flags=["--keep-last", "3"],
                             prune=True)
    assert argv[3:] == ["forget", "--json", "--group-by", "host,tags", "--tag", "service:a", "--tag", "service:b",
                        "--keep-last", "3", "--prune"]


def test_forget_without_any_keep_rule_is_refused_because_restic_would_keep_nothing():
    with pytest.raises(ValueError):
        build_forget_argv("restic", URL, tags=["service:a"], keep_flags=[], prune=False)


def test_stdin_backup_uses_stdin_from_command_when_asked():
    argv = build_stdin_backup_argv("restic", URL, filename="postgres-site.sql", host="primary", tags=["chaton"],
                                   command=["pg_dump", "site"])
    assert argv[-5:] == ["postgres-site.sql", "--stdin-from-command", "--", "pg_dump", "site"]


def test_dump_pipeline_quotes_every_word_and_keeps_the_password_from_the_dump_tool():
    restic = build_stdin_backup_argv("restic", URL, filename="x.sql", host="primary", tags=["service:it's"])
    argv = build_dump_pipeline_argv(["pg_dump", "db; rm -rf /"], restic)
    assert argv[:2] == ["bash", "-c"]
    script = argv[2]
    assert "'db; rm -rf /'" in script and "'service:it'\"'\"'s'" in script
    assert "env -u RESTIC_PASSWORD pg_dump" in script and "set -o pipefail" in script


def test_pipe_status_is_read_back_from_stderr():
    assert parse_pipe_status("pg_dump: error: no db\nchaton-pipe-status: 1 1\n") == (1, 1)
    assert parse_pipe_status("nothing here") is None


# ------------------------------------------------------------------ exit codes


@pytest.mark.parametrize(("returncode", "stderr", "outcome"), [
    (0, "", "ok"),
    (3, sample("v0.14-backup-unreadable.stderr.txt"), "warning"),
    (1, sample("v0.14-wrong-password.stderr.txt"), "wrong-password"),
    (1, sample("v0.14-no-repository.stderr.txt"), "no-repository"),
    (1, sample("v0.14-locked.stderr.txt"), "locked"),
    (1, "Fatal: unable to open repository at sftp:x: unable to start the sftp session, error: EOF", "unreachable"),
    (1, "Fatal: something else broke", "fatal"),
    (10, "Fatal: repository does not exist: unable to open config file", "no-repository"),
    (11, "unable to create lock in backend", "locked"),
    (12, "Fatal: wrong password or no key found", "wrong-password"),
    (127, "sh: restic: not found", "missing"),
])
def test_one_table_classifies_restic_exits_of_every_version(returncode, stderr, outcome):
    assert classify(returncode, stderr) == outcome


def test_lock_message_names_the_holder_and_age_on_one_line():
    message = parse_lock_message(sample("v0.14-locked.stderr.txt"))
    assert "locked by PID 13782 on primary" in message and "lock was created at" in message
    assert "\n" not in message


# ------------------------------------------------------------------ parsers


def test_backup_summary_of_restic_0_14_has_the_short_snapshot_id():
    summary = parse_backup_summary(sample("v0.14-backup.jsonl"))
    assert summary is not None
    assert len(summary.snapshot_id or "") == 8
    assert (summary.files_new, summary.files_changed, summary.files_unmodified) == (4, 0, 0)
    assert summary.data_added > 0


def test_backup_summary_of_newer_restic_has_the_full_snapshot_id():
    summary = parse_backup_summary(sample("v0.17-backup.jsonl"))
    assert summary is not None
    assert summary.snapshot_id is not None and len(summary.snapshot_id) == 64
    assert (summary.files_new, summary.files_changed, summary.files_unmodified) == (3, 1, 5)


def test_no_summary_means_no_snapshot():
    assert parse_backup_summary('{"message_type":"status","percent_done":0}\nFatal: boom\n') is None


def test_unreadable_files_are_listed_from_either_version():
    old = parse_backup_errors(sample("v0.14-backup-unreadable.stdout.jsonl"), sample("v0.14-backup-unreadable.stderr.txt"))
    new = parse_backup_errors("", sample("v0.17-backup-unreadable.stderr.txt"))
    assert old.unreadable == ("/srv/www/sub/blocked",)
    assert new.unreadable == ("/srv/www/sub/blocked",)


def test_snapshots_of_0_14_parse_with_nanosecond_times_and_no_size():
    snapshots = parse_snapshots(sample("v0.14-snapshots.json"))
    assert [s.short_id for s in snapshots] == ["35b8b7f2", "785d4c83"]  # oldest first
    assert snapshots[0].time == dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)
    assert snapshots[1].tag_value("service") == "www" and snapshots[1].tag_value("tenant") == "lab"
    assert snapshots[1].size is None


def test_snapshots_of_newer_restic_carry_their_size():
    (snapshot,) = parse_snapshots(sample("v0.17-snapshots.json"))
    assert snapshot.size == 6000
    assert snapshot.time.utcoffset() == dt.timedelta(hours=1)


def test_an_empty_repository_has_no_snapshots():
    assert parse_snapshots("[]") == [] and parse_snapshots("null") == [] and parse_snapshots("") == []


def test_forget_groups_list_what_was_kept_and_removed():
    (group,) = parse_forget(sample("v0.14-forget.json"))
    assert group.host == "primary" and "service:www" in group.tags
    assert len(group.keep) == 1 and len(group.remove) == 1


def test_init_gives_the_repository_id_as_text_or_json():
    assert parse_init(sample("v0.14-init.txt")) == "ecbe416c06"
    assert (parse_init(sample("v0.17-init.jsonl")) or "").startswith("8f2a0c8d")


SUBSETS_RESTIC_ACCEPTS = ["1/3", "3/3", "01/3", "1/03", "10%", "100%", "2.5%", "500M", "500m", "1G", "1T", "5K", "500b",
                          "500B"]
SUBSETS_RESTIC_REFUSES = ["0/3", "4/3", "1/0", "0%", "100.5%", "12", "0", "1.5G", "x", "-1", "1/3/4", " 1/3", "5 %",
                          "5%%", "1e3", "0x10", "1_000", "5MiB", "9999999999999999999G", "1/", "/3", "0M"]


@pytest.mark.parametrize("subset", SUBSETS_RESTIC_ACCEPTS)
def test_a_read_data_subset_restic_accepts_is_accepted(subset: str) -> None:
    assert parse_read_data_subset(subset) == subset


@pytest.mark.parametrize("subset", [*SUBSETS_RESTIC_REFUSES, ""])  # "" restic reads as "not given"
def test_a_read_data_subset_restic_refuses_is_refused_with_the_forms_it_takes(subset: str) -> None:
    with pytest.raises(ValueError, match="expected n/t"):
        parse_read_data_subset(subset)


@pytest.mark.skipif(shutil.which("restic") is None, reason="restic is not installed")
def test_the_subset_forms_agree_with_the_installed_restic(tmp_path: Path) -> None:
    """The lists above, asked of the real restic: chaton refuses exactly what restic refuses (a size is
    refused by an empty repository for being larger than it, after the syntax was accepted)."""
    password = tmp_path / "pw"
    password.write_text("pw\n")
    subprocess.run(["restic", "-r", str(tmp_path / "repo"), "--password-file", str(password), "init", "-q"],
                   check=True, capture_output=True)
    def restic_accepts(subset: str) -> tuple[bool, str]:
        # --no-lock: the probes are read-only and run side by side
        done = subprocess.run(["restic", "-r", str(tmp_path / "repo"), "--password-file", str(password), "--no-lock",
                               "check", f"--read-data-subset={subset}"], capture_output=True, text=True, check=False)
        accepted = done.returncode == 0 or "Cannot read from a repository having size 0" in done.stderr
        return accepted, done.stderr.strip()[-120:]

    subsets = SUBSETS_RESTIC_ACCEPTS + SUBSETS_RESTIC_REFUSES
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = dict(zip(subsets, pool.map(restic_accepts, subsets), strict=True))
    disagreements = [(subset, stderr) for subset, (accepted, stderr) in answers.items()
                     if accepted != (subset in SUBSETS_RESTIC_ACCEPTS)]
    assert disagreements == []


@pytest.mark.parametrize("version", ["0.14", "0.18"])
def test_prune_reports_what_it_removed_and_what_stays_unused(version):
    from chaton_ops.core.restic_output import parse_prune

    text = (Path(__file__).parent / "restic_samples" / f"v{version}-prune.txt").read_text()

    report = parse_prune(text)

    assert report.removed_bytes is not None and 590_000 < report.removed_bytes < 610_000
    assert report.remaining_bytes is not None and 900_000 < report.remaining_bytes < 902_000
    assert report.unused_after_bytes == 0


@pytest.mark.parametrize("limit, ok", [("5%", True), ("0", True), ("2G", True), ("500m", True),
                                       ("unlimited", True), ("101%", False), ("-1", False), ("5 %", False),
                                       ("lots", False), ("1e9", False)])
def test_max_unused_takes_the_forms_restic_takes(limit, ok):
    from chaton_ops.core.restic import build_prune_argv, parse_max_unused

    if ok:
        assert parse_max_unused(limit) == limit
        assert build_prune_argv("restic", "/r", max_unused=limit)[-2:] == ["--max-unused", limit]
    else:
        with pytest.raises(ValueError, match="expected a size"):
            parse_max_unused(limit)
