"""Host facts: the parser on captured output of the facts script, and the levels they give."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaton_ops.core.health import BUILT_IN_THRESHOLDS, Limits
from chaton_ops.core.host_facts import (
    FACTS_SCRIPT,
    HostFacts,
    clock_offset,
    evaluate_host,
    facts_argv,
    parse_df,
    parse_host_facts,
)

SAMPLES = Path(__file__).parent / "host_facts_samples"
LIMITS = Limits(**BUILT_IN_THRESHOLDS.model_dump())  # type: ignore[arg-type]


def levels(findings) -> dict[str, str]:
    return {f"{finding.check} {finding.item}".strip(): finding.level for finding in findings}


def test_the_script_is_passed_as_argv_with_the_lookup_name_as_its_argument() -> None:
    argv = facts_argv("www.example.org")

    assert argv == ["sh", "-c", FACTS_SCRIPT, "sh", "www.example.org"]
    assert "www.example.org" not in FACTS_SCRIPT


def test_a_healthy_lab_host_is_ok_everywhere() -> None:
    facts = parse_host_facts((SAMPLES / "lab-primary.txt").read_text())

    assert facts.cpus == 2 and facts.load == (0.52, 0.61, 0.70)
    assert facts.memory_percent == pytest.approx(4.9, abs=0.1)
    assert facts.swap_percent is None  # no swap at all: nothing to judge
    assert [fs.mount for fs in facts.filesystems] == ["/", "/dev/shm"]  # devtmpfs left out
    assert facts.filesystems[0].inodes == 16777216  # GNU df: space and inodes in one call
    assert facts.lookup_status == 0 and facts.resolvers == ("10.77.5.5",)
    found = evaluate_host("primary", facts, LIMITS, lookup="www.lab.test", offset=(0.01, 0.005))
    assert {finding.level for finding in found} == {"ok"}
    assert {"disk /", "memory", "load", "uptime", "resolver www.lab.test", "clock"} <= set(levels(found))


def test_a_server_up_for_33_weeks_with_full_swap_shows_every_problem_at_its_level() -> None:
    # captured in the two-call form (`df -P -T`, `df -P -i`) of a df without --output (busybox)
    facts = parse_host_facts((SAMPLES / "worn-out-server.txt").read_text())

    found = levels(evaluate_host("old", facts, LIMITS, lookup="www.example.org", offset=(42.0, 0.1)))

    assert found["disk /"] == "critical"  # 97 % ≥ 95
    assert found["disk /srv"] == "ok" and found["inodes /srv"] == "critical"  # 96.2 % of inodes
    assert "disk /var/lib/docker-bind" not in found  # the same filesystem bound elsewhere: listed once
    assert "disk /snap/core18/2128" not in found  # a squashfs is full by design
    assert found["swap"] == "warning" and found["memory"] == "warning"
    assert found["load"] == "warning"  # 8.4 over 15 min on 4 CPUs = 2.1 per CPU
    assert found["uptime"] == "warning"  # 231 days
    assert found["reboot"] == "warning"
    assert found["resolver www.example.org"] == "critical"  # timed out: the outage of the notes
    assert found["clock"] == "warning"


def test_the_resolver_finding_names_the_resolvers_that_did_not_answer() -> None:
    facts = parse_host_facts((SAMPLES / "worn-out-server.txt").read_text())

    [resolver] = [f for f in evaluate_host("old", facts, LIMITS, lookup="www.example.org", offset=None)
                  if f.check == "resolver"]

    assert "timed out" in resolver.summary and "192.0.2.53, 192.0.2.54" in resolver.summary


def test_disk_use_is_computed_as_df_does_so_reserved_blocks_count_as_used() -> None:
    [fs] = parse_df(["Filesystem Type 1024-blocks Used Available Capacity Mounted on",
                     "/dev/sdb1 ext4 1000 900 50 95% /srv"], [])

    assert fs.used_percent == 94.8  # 900 / (900 + 50), not 900 / 1000


def test_mount_points_with_spaces_and_filesystems_without_inode_limits() -> None:
    [fs] = parse_df(["Filesystem Type 1024-blocks Used Available Capacity Mounted on",
                     "/dev/sdc1 btrfs 1000 10 990 1% /srv/my data"],
                    ["Filesystem Inodes IUsed IFree IUse% Mounted on", "/dev/sdc1 0 0 0 - /srv/my data"])

    assert fs.mount == "/srv/my data" and fs.inodes_percent is None


@pytest.mark.parametrize("text", ["", "garbage\n", "@@chaton uptime\nnot-a-number\n@@chaton cpus\nzero\n",
                                  "@@chaton df\n/dev/sda1 ext4 x y z 1% /\n"])
def test_missing_or_garbled_sections_are_unknown_never_an_exception(text: str) -> None:
    facts = parse_host_facts(text)

    found = evaluate_host("h", facts, LIMITS, lookup="example.org", offset=clock_offset(facts, 0.0, 1.0))
    by_check = {finding.check: finding.level for finding in found}
    assert by_check["disk"] == "unknown" and by_check["memory"] == "unknown"
    assert by_check["resolver"] == "unknown"
    assert "clock" not in by_check


def test_the_clock_offset_leaves_out_the_script_run_time() -> None:
    facts = HostFacts(clock_start=1000.2, clock_end=1008.2)  # the script ran 8 s on the host

    offset, uncertainty = clock_offset(facts, sent=1000.0, received=1008.6)

    # sent → start took 0.2 s (+ offset), end → received 0.4 s: offset in [-0.4, 0.2]
    assert offset == pytest.approx(-0.1) and uncertainty == pytest.approx(0.3)


def test_thresholds_decide_the_levels() -> None:
    facts = parse_host_facts((SAMPLES / "worn-out-server.txt").read_text())
    lenient = Limits(**{**BUILT_IN_THRESHOLDS.model_dump(), "disk_percent": 99, "disk_critical_percent": 100,
                        "swap_percent": 100, "uptime_days": 365})  # type: ignore[arg-type]

    found = levels(evaluate_host("old", facts, lenient, lookup="x.example", offset=None))

    assert found["disk /"] == "ok" and found["swap"] == "warning" and found["uptime"] == "ok"
