"""Backups and failover readiness from journal steps (read tolerantly) and measured space."""

from __future__ import annotations

import datetime as dt
from typing import Any

from chaton_ops.core.health import BUILT_IN_THRESHOLDS, Limits
from chaton_ops.core.inventory import Inventory
from chaton_ops.core.readiness import (
    BackupState,
    FallbackSpace,
    RecordedStep,
    backup_states_from_journal,
    evaluate_backup,
    evaluate_capacity,
    evaluate_drill,
    latest_drills,
    service_sizes,
)

NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)
LIMITS = Limits(**BUILT_IN_THRESHOLDS.model_dump())  # type: ignore[arg-type]


def step(action: str, target: str, status: str, hours_ago: float, **detail: Any) -> RecordedStep:
    return RecordedStep(action, target, status, detail, NOW - dt.timedelta(hours=hours_ago))


def test_the_newest_good_backup_per_service_and_repository_and_a_failure_after_it() -> None:
    steps = [  # newest first, as the journal gives them
        step("backup", "www@main", "failed", 1, service="www", message="Fatal: unable to open repository\nmore"),
        step("backup", "www@offsite", "ok", 2, service="www", total_bytes=5_000_000),
        step("backup", "www@main", "warning", 25, service="www", total_bytes=4_000_000),
        step("backup", "www@main", "ok", 49, service="www"),
        step("backup", "mail@main", "failed", 3, service="mail"),
    ]

    states = backup_states_from_journal(steps)

    assert states[("www", "main")].newest == NOW - dt.timedelta(hours=25)
    assert states[("www", "main")].last_failure is steps[0]
    assert states[("www", "offsite")].last_failure is None
    assert states[("mail", "main")].newest is None
    www_main = evaluate_backup("www", "web", "main", states[("www", "main")], 26, NOW)
    assert www_main.level == "warning"  # fresh enough, but the last try failed
    assert "the last backup failed" in www_main.summary and "unable to open repository" in www_main.summary
    assert "more" not in www_main.summary
    assert evaluate_backup("mail", "web", "main", states[("mail", "main")], 26, NOW).level == "critical"
    assert service_sizes(states, {}) == {"www": 5_000_000}


def test_backup_age_levels() -> None:
    def level(hours: float) -> str:
        return evaluate_backup("www", "web", "main", BackupState(NOW - dt.timedelta(hours=hours)), 26, NOW).level

    assert (level(2), level(27), level(53)) == ("ok", "warning", "critical")
    never = evaluate_backup("www", "web", "main", BackupState(), 26, NOW)
    assert never.level == "critical" and never.summary == "no snapshot yet"


def test_a_repository_that_cannot_be_asked_is_unknown() -> None:
    finding = evaluate_backup("www", "web", "main", BackupState(error="web unreachable"), 26, NOW)

    assert finding.level == "unknown" and finding.check == "backup-repository"


def test_drills_read_tolerantly_and_judged() -> None:
    steps = [
        step("drill", "www", "running", 0.1, service="www"),
        step("drill", "drill:www@main", "ok", 24, outputs={"service": "www", "mb_per_s": 96.4, "verified": True}),
        step("drill", "mail@main", "failed", 10, service="mail", error="restic: wrong password"),
        step("drill", "cloud", "ok", 24 * 40, service="cloud"),
        step("drill", "lists", "ok", 2, service="lists", verified=False),
    ]

    drills = latest_drills(steps)

    www = evaluate_drill("www", "web", drills["www"], LIMITS, NOW)
    assert www.level == "ok" and "96 MB/s" in www.summary
    mail = evaluate_drill("mail", "mail", drills["mail"], LIMITS, NOW)
    assert mail.level == "warning" and "failed" in mail.summary and "wrong password" in mail.summary
    assert evaluate_drill("cloud", "cloud", drills["cloud"], LIMITS, NOW).level == "warning"  # 40 days
    assert "differ" in evaluate_drill("lists", "mail", drills["lists"], LIMITS, NOW).summary
    never = evaluate_drill("wiki", "web", None, LIMITS, NOW)
    assert never.level == "warning" and "never drilled" in never.summary


INVENTORY = Inventory.model_validate({
    "version": 1,
    "collective": {"name": "Ti Nuage", "domain": "ti-nuage.example", "contact": "admins@ti-nuage.example"},
    "hosts": {"web": {"address": "192.0.2.23"},
              "vps": {"address": "198.51.100.7", "kind": "fallback", "capacity": {"disk_gb": 20, "memory_gb": 2}}},
    "services": {"www": {"host": "web", "data": ["/srv/www"], "fallback": "vps"},
                 "cloud": {"host": "web", "data": ["/srv/cloud"], "fallback": "vps"}},
})


def test_a_fallback_too_small_for_what_it_would_take_is_a_warning() -> None:
    space = FallbackSpace({"/": 50_000_000, "/srv": 10_000_000})  # kB: 10 GB free on /srv

    fits = evaluate_capacity(INVENTORY, "vps", ["www", "cloud"], {"www": 2 * 10**9, "cloud": 6 * 10**9}, space)
    too_big = evaluate_capacity(INVENTORY, "vps", ["www", "cloud"], {"www": 2 * 10**9, "cloud": 9 * 10**9}, space)
    declared = evaluate_capacity(INVENTORY, "vps", ["www", "cloud"], {"www": 2 * 10**9, "cloud": 19 * 10**9}, None)

    assert fits.level == "ok" and "8.0 GB needed" in fits.summary
    assert too_big.level == "warning" and "free on /srv" in too_big.summary
    assert declared.level == "warning" and "declared capacity" in declared.summary


def test_unknown_sizes_are_said() -> None:
    partly = evaluate_capacity(INVENTORY, "vps", ["www", "cloud"], {"www": 10**9}, None)
    nothing = evaluate_capacity(INVENTORY, "vps", ["www", "cloud"], {}, None)

    assert partly.level == "ok" and "size unknown for cloud" in partly.summary
    assert nothing.level == "unknown"


def test_a_drills_verdict_comes_after_its_restores_and_wins() -> None:
    steps = [  # newest first: the verdict of the drill (databases failed), then the restore it made
        RecordedStep("drill result", "www", "failed", {"service": "www", "error": "database site: load failed",
                                                       "verified": False}, NOW, id=12),
        RecordedStep("drill", "www", "ok", {"service": "www", "verified": True, "mb_per_s": 90}, NOW, id=11),
    ]

    finding = evaluate_drill("www", "web", latest_drills(steps)["www"], LIMITS, NOW)

    assert finding.level == "warning" and "database site: load failed" in finding.summary


def test_sizes_from_drills_when_no_backup_recorded_one() -> None:
    drills = latest_drills([step("drill", "cloud", "ok", 2, service="cloud", bytes=3_000)])

    assert service_sizes({("www", "main"): BackupState(NOW, size_bytes=1_000)}, drills) == {"www": 1_000, "cloud": 3_000}
