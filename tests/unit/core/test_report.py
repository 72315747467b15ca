from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chaton_ops.core.report import RunReport, TargetResult, worst_status
from chaton_ops.errors import ExitCode

STARTED = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)


def make_run(*results: TargetResult) -> RunReport:
    return RunReport(command="backup", started=STARTED, ended=STARTED + timedelta(seconds=42), results=results)


def target(service: str, status: str, repository: str | None = "main") -> TargetResult:
    return TargetResult(service=service, host="web", repository=repository, status=status)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("statuses", "expected", "exit_code"),
    [
        ((), "ok", ExitCode.OK),
        (("ok", "ok"), "ok", ExitCode.OK),
        (("ok", "warning"), "warning", ExitCode.PARTIAL),  # README: a snapshot missing files is 3
        (("failed", "failed"), "failed", ExitCode.FAILED),
        (("ok", "failed"), "partial", ExitCode.PARTIAL),
        (("warning", "failed"), "partial", ExitCode.PARTIAL),
    ],
)
def test_run_status_summarises_its_targets(statuses: tuple[str, ...], expected: str, exit_code: ExitCode) -> None:
    run = make_run(*(target(f"s{index}", status) for index, status in enumerate(statuses)))

    assert run.status == expected
    assert run.exit_code == exit_code


def test_failed_lists_only_failed_targets_in_run_order() -> None:
    run = make_run(target("www", "failed"), target("mail", "ok"), target("cloud", "failed"))

    assert [result.service for result in run.failed()] == ["www", "cloud"]
    assert [result.service for result in run.warnings()] == []


def test_by_service_groups_the_repositories_of_one_service() -> None:
    run = make_run(target("www", "ok", "main"), target("mail", "ok"), target("www", "failed", "offsite"))

    grouped = run.by_service()

    assert list(grouped) == ["www", "mail"]
    assert [result.repository for result in grouped["www"]] == ["main", "offsite"]


def test_a_service_is_as_bad_as_its_worst_repository() -> None:
    run = make_run(target("www", "ok", "main"), target("www", "failed", "offsite"), target("mail", "warning"))

    assert run.service_statuses() == {"www": "failed", "mail": "warning"}


def test_worst_status_of_nothing_is_ok() -> None:
    assert worst_status(()) == "ok"


def test_a_warning_still_counts_as_a_success() -> None:
    assert target("www", "warning").succeeded
    assert not target("www", "failed").succeeded


def test_run_duration_is_wall_time() -> None:
    assert make_run().duration == 42.0
