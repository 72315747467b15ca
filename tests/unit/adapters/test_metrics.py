from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chaton_ops.adapters.metrics import escape_label_value, parse_labels, read_textfile, write_textfile
from chaton_ops.core.report import RunReport, TargetResult

DAY_ONE = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
DAY_TWO = DAY_ONE + timedelta(days=1)
# A sample line of the text exposition format: name{label="value",…} number
SAMPLE_LINE = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*",?)*\})? \S+$')


def make_run(started: datetime, *results: TargetResult) -> RunReport:
    return RunReport(command="backup", started=started, ended=started + timedelta(minutes=5), results=results)


def ok(service: str, repository: str = "main", host: str = "web") -> TargetResult:
    return TargetResult(service=service, host=host, repository=repository, status="ok", snapshot_id="1a2b3c4d",
                        bytes_added=2048, duration=12.5, files_new=3, files_changed=1)


def failed(service: str, repository: str = "main", host: str = "web") -> TargetResult:
    return TargetResult(service=service, host=host, repository=repository, status="failed", message="Fatal", duration=2.0)


def value(path: Path, metric: str, service: str, repository: str = "main") -> float | None:
    family = read_textfile(path).get(metric)
    if family is None:
        return None
    for labels, sample in family.samples.items():
        if dict(labels)["service"] == service and dict(labels)["repository"] == repository:
            return sample
    return None


def test_textfile_has_help_type_and_well_formed_samples(tmp_path: Path) -> None:
    path = tmp_path / "chaton.prom"

    write_textfile(path, make_run(DAY_ONE, ok("www"), failed("mail")))

    lines = path.read_text().splitlines()
    names = {line.split()[0].split("{")[0] for line in lines if not line.startswith("#")}
    for name in names:
        assert sum(line.startswith(f"# HELP {name} ") for line in lines) == 1
        assert f"# TYPE {name} gauge" in lines
    assert all(SAMPLE_LINE.match(line) for line in lines if not line.startswith("#"))
    assert 'chaton_backup_success{service="www",host="web",repository="main"} 1' in lines
    assert 'chaton_backup_success{service="mail",host="web",repository="main"} 0' in lines
    assert 'chaton_backup_bytes_added{service="www",host="web",repository="main"} 2048' in lines
    assert value(path, "chaton_backup_duration_seconds", "www") == 12.5


def test_a_successful_target_records_the_end_of_the_run_as_last_success(tmp_path: Path) -> None:
    path = tmp_path / "chaton.prom"

    write_textfile(path, make_run(DAY_ONE, ok("www")))

    assert value(path, "chaton_backup_last_success_timestamp_seconds", "www") == (DAY_ONE + timedelta(minutes=5)).timestamp()
    assert value(path, "chaton_backup_last_run_timestamp_seconds", "www") == (DAY_ONE + timedelta(minutes=5)).timestamp()


def test_a_failure_keeps_the_previous_last_success(tmp_path: Path) -> None:
    path = tmp_path / "chaton.prom"
    write_textfile(path, make_run(DAY_ONE, ok("www")))

    write_textfile(path, make_run(DAY_TWO, failed("www")))

    assert value(path, "chaton_backup_last_success_timestamp_seconds", "www") == (DAY_ONE + timedelta(minutes=5)).timestamp()
    assert value(path, "chaton_backup_last_run_timestamp_seconds", "www") == (DAY_TWO + timedelta(minutes=5)).timestamp()
    assert value(path, "chaton_backup_success", "www") == 0
    assert value(path, "chaton_backup_bytes_added", "www") is None  # nothing added by a failed run


def test_a_target_that_never_succeeded_has_last_success_zero(tmp_path: Path) -> None:
    path = tmp_path / "chaton.prom"

    write_textfile(path, make_run(DAY_ONE, failed("www")))

    assert value(path, "chaton_backup_last_success_timestamp_seconds", "www") == 0


def test_targets_not_in_this_run_are_carried_over(tmp_path: Path) -> None:
    path = tmp_path / "chaton.prom"
    write_textfile(path, make_run(DAY_ONE, ok("www"), ok("mail", repository="offsite")))

    write_textfile(path, make_run(DAY_TWO, ok("www")))

    assert value(path, "chaton_backup_last_success_timestamp_seconds", "mail", "offsite") == (
        DAY_ONE + timedelta(minutes=5)).timestamp()
    assert value(path, "chaton_backup_bytes_added", "mail", "offsite") == 2048


def test_a_service_moved_to_another_host_replaces_its_series(tmp_path: Path) -> None:
    path = tmp_path / "chaton.prom"
    write_textfile(path, make_run(DAY_ONE, ok("www", host="web")))

    write_textfile(path, make_run(DAY_TWO, failed("www", host="vps")))

    family = read_textfile(path)["chaton_backup_last_success_timestamp_seconds"]
    assert list(family.samples) == [(("service", "www"), ("host", "vps"), ("repository", "main"))]
    assert family.samples[(("service", "www"), ("host", "vps"), ("repository", "main"))] == (
        DAY_ONE + timedelta(minutes=5)).timestamp()


def test_writing_leaves_no_temporary_file_and_replaces_the_file(tmp_path: Path) -> None:
    path = tmp_path / "textfile" / "chaton.prom"
    path.parent.mkdir()
    write_textfile(path, make_run(DAY_ONE, ok("www")))
    first_inode = path.stat().st_ino

    write_textfile(path, make_run(DAY_TWO, ok("www")))

    assert [entry.name for entry in path.parent.iterdir()] == ["chaton.prom"]
    assert path.stat().st_ino != first_inode  # renamed over, not rewritten in place
    assert path.stat().st_mode & 0o777 == 0o644


def test_label_values_are_escaped_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "chaton.prom"
    odd = 'sftp:u@h:/srv/"x"\\y\nz'

    write_textfile(path, make_run(DAY_ONE, ok("www", repository=odd)))

    assert escape_label_value(odd) in path.read_text()
    assert "\n" not in escape_label_value(odd)
    assert value(path, "chaton_backup_success", "www", odd) == 1


def test_foreign_metrics_in_the_file_survive(tmp_path: Path) -> None:
    path = tmp_path / "chaton.prom"
    path.write_text('# HELP site_info Something else.\n# TYPE site_info gauge\nsite_info{name="a"} 1\n')

    write_textfile(path, make_run(DAY_ONE, ok("www")))

    assert 'site_info{name="a"} 1' in path.read_text().splitlines()


def test_garbage_in_a_previous_file_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "chaton.prom"
    path.write_text("this is { not metrics\nchaton_backup_success{service=\"www\" 1\n")

    write_textfile(path, make_run(DAY_ONE, ok("www")))

    assert value(path, "chaton_backup_success", "www") == 1
    assert "not metrics" not in path.read_text()


def test_parse_labels_rejects_unterminated_values() -> None:
    assert parse_labels('a="1",b="2"') == (("a", "1"), ("b", "2"))
    assert parse_labels('a="1') is None


def test_a_device_is_never_replaced_nor_read(tmp_path: Path) -> None:
    import os
    import stat

    from chaton_ops.errors import PathError

    if os.geteuid() != 0:
        pytest.skip("mknod needs root")
    device = tmp_path / "null"
    os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))

    with pytest.raises(PathError, match="it is a character device"):
        write_textfile(device, make_run(DAY_ONE, ok("www")))

    assert stat.S_ISCHR(os.lstat(device).st_mode)
    assert read_textfile(Path("/dev/zero")) == {}  # returns at once: nothing endless is read


def test_a_missing_folder_is_refused_not_created(tmp_path: Path) -> None:
    from chaton_ops.errors import PathError

    with pytest.raises(PathError, match="does not exist"):
        write_textfile(tmp_path / "typo" / "chaton.prom", make_run(DAY_ONE, ok("www")))

    assert not (tmp_path / "typo").exists()
