"""`chaton failover --to vps` against the bare commands it contains, in the lab, measured in one run.

The demo's collective with more data: www (static-site, ≈ 210 MB in 3,000 files) and the mail relay
(postfix-relay, ≈ 90 MB of queued mail: 90 messages held in its deferred queue) on primary, backed up to the repository on
backup; primary then vanishes (its link goes down).

- chaton: `chaton failover --to vps --yes`, the whole thing: preflight (hosts, restic, space, the
  repository from vps, DNS key), per service the exact restore (staged, verified, swapped), the
  playbook, after_restore, the local check, the placement, the DNS switch checked on every
  authoritative server, the check from outside.
- bare: what an admin would type for the same result, one command after another over ssh: per
  service the very `restic restore … --verify` argv chaton runs, into a new folder; then the
  services' start with their configuration already in place (`nginx -s reload`, `postfix start`).
  No DNS, no checks: the bare side is the floor.

Before each side vps is emptied the same way (data, configuration, postfix stopped), the records are
put back and the disk synced. Pairs alternate which side goes first. Target: the median of the paired
ratios chaton / bare ≤ 1.25. The RTO (primary gone → verified on vps) is chaton's wall time here.

Needs root; brings up lab N (`CHATON_LAB_ID`) and holds its lock throughout.
Standalone: `CHATON_LAB_ID=N .venv/bin/python bench/bench_failover.py` (BENCH_RUNS=N pairs).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from lab_session import LabUnavailable, lab_session  # noqa: E402 - bench/ is not a package
from stats import ratio_spread, spread  # noqa: E402 - bench/ is not a package

CHATON = Path(sys.executable).with_name("chaton")
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
TARGET = 1.25
WWW_FILES, WWW_FILE_BYTES = 3000, 70_000  # ≈ 210 MB
MAIL_MESSAGES, MAIL_MESSAGE_BYTES = 90, 1_000_000  # ≈ 90 MB of real queued mail


def run() -> dict[str, Any]:
    try:
        with lab_session("bench_failover") as lab:
            return _measure(_Bench(lab, Path(tempfile.mkdtemp(prefix="chaton-bench-failover-"))))
    except LabUnavailable as why:
        return {"skipped": str(why)}


class _Bench:
    def __init__(self, lab: Any, work: Path) -> None:
        self.lab = lab
        self.work = work
        self.repository = f"sftp:root@{lab.address('backup')}:/srv/restic/bench-{uuid.uuid4().hex[:8]}"
        self.inventory = work / "inventory.yml"
        data = json.loads(json.dumps(lab.inventory_data(), default=str))
        data["repositories"] = {"main": {"url": self.repository, "password": "restic-lab"}}
        self.inventory.write_text(json.dumps(data))
        self.vps_restic = data["hosts"]["vps"].get("restic", "restic")
        self.records = {name: self._record(name) for name in ("www", "mail")}

    def env(self, iteration: int) -> dict[str, str]:
        state = self.work / f"run{iteration}"
        return {**os.environ, "CHATON_JOURNAL": str(state / "journal.sqlite3"), "CHATON_STATE_DIR": str(state)}

    def chaton(self, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([str(CHATON), "-i", str(self.inventory), *args], capture_output=True, text=True,
                              env=env, stdin=subprocess.DEVNULL, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"chaton {' '.join(args)} exited {done.returncode}: {(done.stdout + done.stderr)[-800:]}")
        return done

    def ssh(self, host: str, command: str) -> None:
        done = self.lab.ssh(host, command, timeout=900)
        if done.returncode != 0:
            raise RuntimeError(f"{host}: {command[:80]}… exited {done.returncode}: {done.stderr[-500:]}")

    def _record(self, name: str) -> list[str]:
        done = subprocess.run(["kdig", "+short", "+norecurse", f"@{self.lab.address('dns')}", f"{name}.{self.lab.zone}",
                               "A"], capture_output=True, text=True, check=True)
        return done.stdout.split()

    def reset(self) -> None:
        """vps as before any failover (no data, no chaton configuration, postfix stopped), the records
        back on primary, primary up, the disk synced."""
        if self.lab.host_is_stopped("primary"):
            self.lab.start_host("primary")
        self.ssh("vps", "postfix status >/dev/null 2>&1 && postfix stop >/dev/null 2>&1; "
                        "rm -rf /srv/www /srv/.www.chaton-* /srv/.chaton-restore-* /srv/bare-* "
                        "/var/spool/postfix/incoming /var/spool/postfix/active /var/spool/postfix/deferred "
                        "/var/spool/postfix/defer /var/spool/postfix/hold /var/spool/postfix/.*.chaton-* "
                        "/var/spool/postfix/.chaton-restore-*; "
                        "rm -f /etc/nginx/conf.d/chaton-*; nginx -s reload; sync; true")
        key = self.lab.tsig_secret
        for name, values in self.records.items():
            lines = [f"server {self.lab.address('dns')}", f"zone {self.lab.zone}", f"key hmac-sha256:chaton {key}",
                     f"update delete {name}.{self.lab.zone} A",
                     *(f"update add {name}.{self.lab.zone} 300 A {value}" for value in values), "send", ""]
            self.lab.ssh("primary", "knsupdate", input="\n".join(lines), check=True)
        subprocess.run(["sync"], check=True)
        time.sleep(2)

    def bare_commands(self, snapshots: dict[str, str]) -> list[tuple[str, str]]:
        from chaton_ops.core.restic import build_restore_argv, parse_version

        version = parse_version(self.lab.ssh("vps", f"{self.vps_restic} version", check=True).stdout)
        commands = []
        for service, snapshot in snapshots.items():
            argv = build_restore_argv(self.vps_restic, self.repository, snapshot, target=f"/srv/bare-{service}",
                                      version=version, verify=True)
            commands.append(("vps", f"RESTIC_PASSWORD_FILE={self.lab.host_restic_password_file} {shlex.join(argv)} "
                                    ">/dev/null"))
        # the services' start, their configuration in place (deployed before, as chaton's playbooks do)
        commands.append(("vps", "nginx -s reload && postfix start"))
        return commands


def _measure(bench: _Bench) -> dict[str, Any]:
    lab = bench.lab
    setup_env = bench.env(-1)
    from bench_backup import make_data

    lab.ssh("primary", "mkdir -p /srv/www", check=True)
    make_data(lab.host_path("primary", "/srv/www"), WWW_FILES, WWW_FILE_BYTES)
    bench.chaton("-q", "deploy", "www", env=setup_env)
    bench.chaton("-q", "deploy", "mail", env=setup_env)
    # the relay holds mail for the collective's domain (no relay_to): a real queue, deferred
    lab.ssh("primary", f"for i in $(seq {MAIL_MESSAGES}); do {{ printf 'Subject: queued %s\\n\\n' $i; "
                       f"head -c {MAIL_MESSAGE_BYTES * 3 // 4} /dev/urandom | base64; }} | "
                       f"sendmail -f bench@{lab.zone} member$i@{lab.zone}; done", check=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        queued = lab.ssh("primary", "find /var/spool/postfix/deferred -type f | wc -l", check=True).stdout
        if int(queued.strip() or 0) >= MAIL_MESSAGES:
            break
        time.sleep(2)
    else:
        raise RuntimeError("the relay on primary did not defer the bench's mail within 300 s")
    backup = json.loads(bench.chaton("--json", "backup", "--all", "--init", env=setup_env).stdout)
    snapshots = {r["service"]: r["snapshot_id"] for r in backup["results"]}
    times: dict[str, list[float]] = {"chaton": [], "bare": []}
    for iteration in range(RUNS):
        order = ("chaton", "bare") if iteration % 2 == 0 else ("bare", "chaton")
        for side in order:
            bench.reset()
            if side == "bare":
                # the configuration is in place, as a deploy leaves it: only the restores and the start count
                lab.ssh("vps", "mkdir -p /etc/nginx/conf.d", check=True)
                bench.chaton("-q", "deploy", "www", "--to", "vps", env=bench.env(100 + iteration))
                bench.chaton("-q", "deploy", "mail", "--to", "vps", env=bench.env(100 + iteration))
                lab.ssh("vps", "postfix stop >/dev/null 2>&1; sync; true", check=True)
                time.sleep(2)
                started = time.perf_counter()
                for host, command in bench.bare_commands(snapshots):
                    bench.ssh(host, command)
                times["bare"].append(time.perf_counter() - started)
            else:
                lab.stop_host("primary")
                started = time.perf_counter()
                bench.chaton("--yes", "failover", "--to", "vps", env=bench.env(iteration))
                times["chaton"].append(time.perf_counter() - started)
    bench.reset()
    ratio = ratio_spread(times["chaton"], times["bare"])
    return {
        "failover_ms": spread([t * 1000 for t in times["chaton"]]),
        "bare_restores_and_start_ms": spread([t * 1000 for t in times["bare"]]),
        "ratio_failover": ratio,
        "target": TARGET,
        "ok": ratio["median"] <= TARGET,
        "data_mb": round((WWW_FILES * WWW_FILE_BYTES + MAIL_MESSAGES * MAIL_MESSAGE_BYTES) / 1e6),
        "runs": RUNS,
        "cpus": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


if __name__ == "__main__":
    figures = run()
    from stats import format_figure

    for key, value in figures.items():
        print(f"{key}: {format_figure(value)}")
