"""`chaton status` against the lab: each fault made for real shows at its level, and goes away when put
right; notifications over several runs; the status page; a dead host reported once."""

from __future__ import annotations

import shlex
import time
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.certificates import make_ca_and_certificate
from tests.integration.status_lab import APPRISE_TOKEN, LabDns, Receiver, StatusLab, on_host

FILL = "mkdir -p /srv/full && mount -t tmpfs -o size=1m tmpfs /srv/full && dd if=/dev/zero of=/srv/full/fill bs=1k count={kb} 2>/dev/null"
UNFILL = "umount /srv/full; rmdir /srv/full"


@pytest.fixture(scope="module")
def dns(lab):
    """www with the zone's failover TTL for the module (a healthy lab), put back afterwards."""
    records = LabDns(lab)
    with records.changed("www", ttl=60):
        yield records


@pytest.fixture
def slab(lab, dns, tmp_path) -> StatusLab:
    status_lab = StatusLab(lab, tmp_path)
    status_lab.healthy_journal()
    return status_lab


def test_a_healthy_lab_is_ok_everywhere_and_exits_0(slab):
    run = slab.status()

    assert run.returncode == 0, run.output
    findings = run.findings()
    assert {f["level"] for f in findings.values()} == {"ok"}, [f for f in findings.values() if f["level"] != "ok"]
    for host in ("primary", "vps", "backup", "dns"):
        assert f"{host} resolver www.lab.test" in findings and f"{host} disk /" in findings
    assert findings["www dns www.lab.test A"]["summary"].startswith(f"{slab.lab.address('primary')} (primary)")
    assert findings["www dns-ttl www.lab.test A"]["value"] == 60
    assert findings["www backup main"]["level"] == "ok" and findings["www drill"]["level"] == "ok"
    assert findings["vps capacity"]["level"] == "ok"


def test_a_filesystem_filling_up_is_a_warning_then_critical(slab, lab):
    with on_host(lab, "primary", FILL.format(kb=940), UNFILL):
        warning = slab.status()
    with on_host(lab, "primary", FILL.format(kb=1024), UNFILL):
        critical = slab.status()
    after = slab.status()

    assert warning.findings()["primary disk /srv/full"]["summary"] == "91.8 % used, 84 KiB free"
    assert warning.level("primary disk /srv/full") == "warning" and warning.returncode == 1
    assert critical.level("primary disk /srv/full") == "critical" and critical.returncode == 1
    assert "vps disk /srv/full" not in critical.findings()  # the tmpfs is private to primary
    assert "primary disk /srv/full" not in after.findings() and after.returncode == 0


def test_memory_swap_uptime_and_a_pending_reboot_from_the_hosts_own_proc(slab, lab):
    fake = ("printf 'MemTotal: 4028000 kB\\nMemAvailable: 201400 kB\\nSwapTotal: 2097148 kB\\nSwapFree: 0 kB\\n'"
            " > /root/meminfo && echo '19958400.25 1.0' > /root/uptime && mount --bind /root/meminfo /proc/meminfo"
            " && mount --bind /root/uptime /proc/uptime && touch /run/reboot-required")
    undo = "umount /proc/meminfo; umount /proc/uptime; rm -f /run/reboot-required"
    with on_host(lab, "primary", fake, undo):
        worn = slab.status()
    after = slab.status()

    levels = {check: worn.level(f"primary {check}") for check in ("memory", "swap", "uptime", "reboot")}
    assert levels == {"memory": "warning", "swap": "warning", "uptime": "warning", "reboot": "warning"}
    assert "231 days" in worn.findings()["primary uptime"]["summary"]
    assert "91 % used" not in str(worn.findings().get("vps memory"))  # vps keeps the machine's /proc
    assert after.returncode == 0 and "primary reboot" not in after.findings()


def test_nginx_stopped_makes_the_site_critical_until_it_runs_again(slab, lab):
    with on_host(lab, "primary", "nginx -s stop && sleep 0.3", "nginx"):
        down = slab.status()
    time.sleep(0.3)
    up = slab.status()

    finding = down.findings()[f"www http {slab.www_url}"]
    assert finding["level"] == "critical" and "connection refused" in finding["summary"]
    assert down.returncode == 1
    assert up.level(f"www http {slab.www_url}") == "ok"


def test_a_host_whose_resolver_is_dead_is_critical(slab, lab):
    dead = f"{lab.raw.bridge_address.rsplit('.', 1)[0]}.99"
    with on_host(lab, "primary", f"cp /etc/resolv.conf /root/resolv.keep && echo 'nameserver {dead}' > /etc/resolv.conf",
                 "cp /root/resolv.keep /etc/resolv.conf"):
        broken = slab.status()
    after = slab.status()

    finding = broken.findings()["primary resolver www.lab.test"]
    assert finding["level"] == "critical" and "do not answer" in finding["summary"] and dead in finding["summary"]
    assert broken.level("vps resolver www.lab.test") == "ok"
    assert after.level("primary resolver www.lab.test") == "ok"


def test_a_record_pointing_elsewhere_is_critical_and_a_long_ttl_a_readiness_warning(slab, dns, lab):
    with dns.changed("www", address=lab.address("vps")):
        wrong = slab.status()
    with dns.changed("www", ttl=86400):
        long_ttl = slab.status()
    after = slab.status()

    record = wrong.findings()["www dns www.lab.test A"]
    assert record["level"] == "critical"
    assert f"answers {lab.address('vps')} instead of {lab.address('primary')} (primary)" in record["summary"]
    ttl = long_ttl.findings()["www dns-ttl www.lab.test A"]
    assert ttl["level"] == "warning" and "up to 1 day" in ttl["summary"] and long_ttl.returncode == 1
    assert long_ttl.level("www dns www.lab.test A") == "ok"
    assert after.returncode == 0


def test_after_a_failover_the_record_must_point_at_the_fallback(slab, lab):
    from chaton_ops.adapters.journal import Journal

    with Journal(slab.journal) as journal:
        journal.set_placement("www", "vps", home="primary", run_id=None, reason="failover test")

    run = slab.status()

    record = run.findings()["www dns www.lab.test A"]
    assert record["level"] == "critical" and record["host"] == "vps"
    assert f"instead of {lab.address('vps')} (vps)" in record["summary"]
    assert "vps capacity" not in run.findings()  # www runs there already: nothing left to take


def test_a_backup_ages_past_the_limit_in_journal_time(slab, lab, tmp_path):
    slab.record("backup", "www@main", "ok", 0, service="www", repository="main", snapshot="1a2b3c4d")
    fresh = slab.status()
    slab.age_steps("backup", 30)
    stale = slab.status()
    slab.age_steps("backup", 30)
    very_stale = slab.status()

    assert fresh.level("www backup main") == "ok"
    assert stale.level("www backup main") == "warning" and "older than 26 h" in stale.findings()["www backup main"]["summary"]
    assert very_stale.level("www backup main") == "critical"


def test_without_a_journal_the_repository_tells_the_newest_snapshot(lab, dns, tmp_path):
    from tests.integration.backup_lab import BackupLab, service

    (tmp_path / "b").mkdir()
    blab = BackupLab(lab, tmp_path / "b")
    blab.make_files("primary", "/srv/status-data", {"a.txt": "a"})
    blab.write_inventory({"www": service("primary", ["/srv/status-data"])})
    assert blab.chaton("backup", "www", "--init").returncode == 0
    blab.journal.unlink()

    run = blab.chaton("status", "--json", "--service", "www")

    [backup] = [f for f in run.json()["findings"] if f["section"] == "backups"]
    assert backup["level"] == "ok" and "(from the repository)" in backup["summary"]


def test_a_stopped_host_gives_one_finding_not_one_per_service(slab, lab):
    slab.write_inventory(services={
        "www": {"host": "primary", "dns": [{"zone": lab.zone, "name": "www"}],
                "check": {"http": {"url": slab.www_url, "timeout": 3}}},
        "pages": {"host": "primary", "check": {"tcp": {"host": lab.address("primary"), "port": 80, "timeout": 3}}},
    })
    lab.raw.stop_host("primary")
    try:
        started = time.monotonic()
        run = slab.status()
        took = time.monotonic() - started
    finally:
        lab.raw.start_host("primary")

    assert run.returncode == 4
    problems = [title for title, f in run.findings().items() if f["level"] != "ok"]
    assert problems == ["primary reachable"]
    down = run.findings()["primary reachable"]
    assert down["affects"] == ["www", "pages"] and "timed out" in down["summary"]
    assert run.json()["unreachable_hosts"] == ["primary"]
    assert took < 12  # the 3 s connect timeout and the probes' 3 s, side by side, not one after another


def test_notify_sends_one_problem_and_one_recovery_over_several_runs(slab, lab):
    receiver = Receiver()
    try:
        slab.write_inventory(notify_url=receiver.url)
        results = [slab.chaton("status", "--notify", "-q").returncode for _ in range(2)]
        with on_host(lab, "primary", "nginx -s stop && sleep 0.3", "nginx"):
            results += [slab.chaton("status", "--notify", "-q").returncode for _ in range(3)]
        time.sleep(0.3)
        results += [slab.chaton("status", "--notify", "-q").returncode for _ in range(3)]
    finally:
        receiver.close()

    assert results == [0, 0, 1, 1, 1, 0, 0, 0]
    assert [message["type"] for message in receiver.messages] == ["failure", "success"]
    problem, recovery = receiver.messages
    assert problem["title"] == f"[Chaton Lab] status problems: www http {slab.www_url}"
    assert "connection refused" in problem["message"]
    assert recovery["title"] == f"[Chaton Lab] status recovered: www http {slab.www_url}"
    assert APPRISE_TOKEN not in (slab.state / "status.json").read_text()


def test_a_maintenance_window_holds_the_message_back_but_not_the_checks(slab, lab):
    receiver = Receiver()
    try:
        slab.write_inventory(notify_url=receiver.url)
        assert slab.chaton("status", "--silence", "primary", "1h", "-q").returncode == 0
        with on_host(lab, "primary", "nginx -s stop && sleep 0.3", "nginx"):
            runs = [slab.chaton("status", "--notify", "--json") for _ in range(3)]
    finally:
        receiver.close()

    assert receiver.messages == []
    assert all(run.level(f"www http {slab.www_url}") == "critical" for run in runs)
    assert runs[-1].json()["notifications"]["held"][0]["why"].startswith("primary silenced until")


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.services: dict[str, str] = {}
        self.depth = 0
        self._current: list[str] | None = None
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.scripts += tag == "script"
        if tag == "li" and "service" in (dict(attrs).get("class") or ""):
            self._current = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "li" and self._current is not None:
            self.services[self._current[0]] = self._current[1]
            self._current = None

    def handle_data(self, data: str) -> None:
        if self._current is not None and data.strip():
            self._current.append(data.strip())


def test_the_status_page_lists_every_public_service_and_shows_a_failed_one_as_down(slab, lab, tmp_path):
    slab.write_inventory(services={
        "www": {"host": "primary", "dns": [{"zone": lab.zone, "name": "www"}],
                "check": {"http": {"url": slab.www_url, "timeout": 3}}},
        "notes": {"host": "vps", "check": {"http": {"url": f"http://{lab.address('vps')}/", "timeout": 3}}},
        "internal": {"host": "backup", "data": ["/srv"]},
    })
    page_path = tmp_path / "public" / "index.html"
    page_path.parent.mkdir()  # chaton writes into a folder that exists; it does not make it
    with on_host(lab, "primary", "nginx -s stop && sleep 0.3", "nginx"):
        for _ in range(2):  # the incident opens once confirmed
            run = slab.chaton("status", "-q", "--html", str(page_path))

    assert run.returncode == 1
    html = page_path.read_text()
    page = Page()
    page.feed(html)
    page.close()
    assert set(page.services) == {"www", "notes"}
    assert page.services["www"] == "Down" and page.services["notes"] == "Working normally"
    assert "www down since" in html and page.scripts == 0
    assert lab.address("primary") not in html and "http://" not in html


SMTP_TLS = ("cp /etc/postfix/main.cf /root/main.cf.keep && mkdir -p /etc/postfix/tls && postconf -e "
            "inet_interfaces=all smtpd_tls_cert_file=/etc/postfix/tls/cert.pem "
            "smtpd_tls_key_file=/etc/postfix/tls/key.pem smtpd_tls_security_level=may "
            "smtpd_banner='$myhostname ESMTP chaton-lab' && (postfix stop; postfix start) >/dev/null 2>&1")
SMTP_UNDO = "postfix stop >/dev/null 2>&1; cp /root/main.cf.keep /etc/postfix/main.cf; rm -rf /etc/postfix/tls"


@contextmanager
def postfix_with_tls(lab, cert: Path, key: Path) -> Iterator[None]:
    tls = lab.host_path("backup", "/etc/postfix/tls")
    tls.mkdir(parents=True, exist_ok=True)
    (tls / "cert.pem").write_bytes(cert.read_bytes())
    (tls / "key.pem").write_bytes(key.read_bytes())
    with on_host(lab, "backup", SMTP_TLS, SMTP_UNDO):
        yield


@pytest.mark.parametrize(("days", "level"), [(90, "ok"), (10, "warning")])
def test_smtp_banner_ehlo_starttls_and_the_certificate_behind_it(slab, lab, tmp_path, days, level):
    address = lab.address("backup")
    ca, cert, key = make_ca_and_certificate(tmp_path, "backup", days=days, addresses=(address,))
    slab.write_inventory(services={"mx": {"host": "backup", "check": {"smtp": {
        "host": address, "banner_contains": "ESMTP", "timeout": 5}}}})
    title = f"mx smtp {address}:25"
    slab.env["SSL_CERT_FILE"] = str(ca)
    with postfix_with_tls(lab, cert, key):
        trusted = wait_for_smtp(slab, title).findings()[title]
    del slab.env["SSL_CERT_FILE"]
    with postfix_with_tls(lab, cert, key):
        untrusted = wait_for_smtp(slab, title).findings()[title]

    assert trusted["level"] == level, trusted
    assert "ESMTP chaton-lab" in trusted["summary"] and "STARTTLS" in trusted["summary"]
    assert f"certificate valid {days} more days" in trusted["summary"]
    # a certificate from an unknown CA still carries mail between servers: a warning, with its expiry
    assert untrusted["level"] == "warning", untrusted
    assert "not trusted: unable to get local issuer certificate" in untrusted["summary"]
    assert f"certificate valid {days} more days" in untrusted["summary"]


def wait_for_smtp(slab: StatusLab, title: str, tries: int = 20):
    """postfix takes a moment to listen after `postfix start`."""
    for _ in range(tries):
        run = slab.status("--service", "mx")
        if "connection refused" not in run.findings()[title]["summary"]:
            return run
        time.sleep(0.25)
    return run


def test_metrics_textfile_and_nagios_line_against_the_lab(slab, tmp_path: Path):
    metrics = tmp_path / "textfile" / "chaton_status.prom"
    metrics.parent.mkdir()

    run = slab.chaton("status", "-q", "--metrics-file", str(metrics))
    nagios = slab.chaton("status", "--format", "nagios")

    assert run.returncode == 0 and run.stdout == ""
    text = metrics.read_text()
    assert 'chaton_status_level{section="hosts",subject="primary",check="resolver",item="www.lab.test"} 0' in text
    assert nagios.returncode == 0 and nagios.stdout.startswith("CHATON OK - ") and " | " in nagios.stdout
    assert shlex.split(nagios.stdout.split(" | ", 1)[1])  # perfdata quoted as Nagios reads it
