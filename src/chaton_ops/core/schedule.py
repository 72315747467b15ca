"""Schedules from the inventory (`schedule:`): which chaton commands run when, and the files that make
them run — systemd timer and service units, or one cron.d file where systemd is absent. Pure: the
files are rendered here as text; ops/schedule.py writes, compares and removes them.

Every job runs `chaton -q -i INVENTORY COMMAND` under `flock` (a run still going when the next one is
due makes the next one end at once with exit 75, never overlap), with a randomized delay so that
collectives sharing a backup server do not all start at 02:30 sharp, and `Persistent=true` so that a
run missed while the machine was off happens when it boots. Different jobs on one repository (a weekly
prune due while a long nightly backup still runs) never overlap either: they share chaton's own
repository locks (the installer's state folder, so the admin's runs by hand take the same ones), and the
jobs that take them wait for them (`--lock-wait`) instead of failing.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from chaton_ops.core.calendar import CalendarError, parse_calendar
from chaton_ops.core.values import LocalPath

JobName = Literal["backup", "check", "drill", "status", "prune", "runbook"]
JOBS: tuple[JobName, ...] = ("backup", "check", "drill", "status", "prune", "runbook")
UNIT_PREFIX = "chaton-"
CRON_FILE = "chaton"
MARKER = "# Written by `chaton schedule install`"
LOCK_CONFLICT_EXIT = 75  # EX_TEMPFAIL: the previous run still holds the lock
DURATION = re.compile(r"^(\d{1,5}(s|m|h|d))+$")
_DURATION_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
LOCK_WAIT_SECONDS = 4 * 3600  # a job due while another holds its repository waits this long, then fails


def _check_duration(value: str) -> str:
    if not DURATION.fullmatch(value):
        raise ValueError(f"{value!r} is not a duration such as 30s, 15m, 1h or 1h30m")
    return value


Duration = Annotated[str, AfterValidator(_check_duration), Field(json_schema_extra={"format": "duration"})]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class Job(_Model):
    """When one chaton command runs: a systemd calendar expression, and how much later at most."""

    on: str = Field(json_schema_extra={"format": "systemd-calendar"}, description="systemd calendar expression (systemd.time(7)): `daily`, `*-*-* 02:30`, "
                                "`Sun *-*-* 04:00`, `*:0/5`; checked by `chaton inventory check`.")
    randomized_delay: Duration | None = Field(
        default=None, description="The run starts up to this much later, at random (systemd's RandomizedDelaySec): "
        "30s, 15m, 1h; default: the job's own (status 30s, backup 30m, others 1h).")
    to: LocalPath | None = Field(
        default=None, description="For `runbook`: the file the break-glass runbook is written to (default: "
        "runbook.html in chaton's state folder); for `status`: the status page written with --html.")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"on": data} if isinstance(data, str) else data

    @field_validator("on")
    @classmethod
    def _calendar_form(cls, value: str) -> str:
        if not value.strip() or "\n" in value or "\0" in value:
            raise ValueError("give one calendar expression on one line, such as `*-*-* 02:30` or `daily`")
        return value



DEFAULT_DELAYS: dict[str, str] = {"backup": "30m", "check": "1h", "drill": "1h", "status": "30s", "prune": "1h",
                                  "runbook": "10m"}


class Schedule(_Model):
    """When chaton's own jobs run on the machine that runs chaton (`chaton schedule install`). Each job is a
    calendar expression (or `{on: …, randomized_delay: …, to: …}`); null leaves it out."""

    backup: Job | None = Field(default_factory=lambda: Job(on="*-*-* 02:30"),
                               description="`chaton backup --all` (snapshots, then forget); default nightly 02:30.")
    check: Job | None = Field(default_factory=lambda: Job(on="Sun *-*-* 05:00"),
                              description="`chaton check` (integrity, freshness, free space); default weekly.")
    drill: Job | None = Field(default_factory=lambda: Job(on="*-*-01 06:00"),
                              description="`chaton drill --all` (restore rehearsals); default monthly.")
    status: Job | None = Field(default_factory=lambda: Job(on="*:0/5"),
                               description="`chaton status --notify` (health, alerts); default every 5 minutes.")
    prune: Job | None = Field(default_factory=lambda: Job(on="Sat *-*-* 04:00"),
                              description="`chaton prune --yes` (repository space of forgotten snapshots); default "
                                          "weekly.")
    runbook: Job | None = Field(default_factory=lambda: Job(on="*-*-* 07:00"),
                                description="`chaton runbook` (the break-glass document, kept current); default daily.")
    environment_file: LocalPath | None = Field(
        default=None, description="A file of VAR=value lines the jobs read (systemd EnvironmentFile, sourced by "
        "cron): where secrets given as `{env: VAR}` come from when nobody is logged in. Mode 0600.")

    def jobs(self) -> dict[str, Job]:
        return {name: job for name in JOBS if (job := getattr(self, name)) is not None}


def delay_seconds(text: str) -> int:
    return sum(int(number) * _DURATION_SECONDS[unit] for number, unit in re.findall(r"(\d+)([smhd])", text))


# ---------------------------------------------------------------------------------------------
# What the jobs run
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Installation:
    """Where and how the files of a schedule are written, fixed when `schedule install` runs."""

    inventory: str  # absolute path of the inventory (file or folder)
    chaton: str  # absolute path of the chaton command
    journal: str  # the journal the admin's own runs use: scheduled runs write to the same one
    state_dir: str  # chaton's state folder: repository locks, status memory, the runbook's default place
    lock_dir: str = "/run/lock"
    collective: str = ""


def job_argv(name: str, job: Job, where: Installation) -> list[str]:
    """The chaton command line of a job (quiet: only problems reach the admins' mail or the journal)."""
    base = [where.chaton, "-q", "-i", where.inventory]
    wait = ["--lock-wait", str(LOCK_WAIT_SECONDS)]
    if name == "backup":
        return [*base, "backup", "--all", *wait]
    if name == "check":
        return [*base, "check", *wait]
    if name == "drill":
        return [*base, "drill", "--all"]
    if name == "status":
        return [*base, "status", "--notify", *(["--html", job.to] if job.to else [])]
    if name == "prune":
        return [*base, "--yes", "prune", *wait]
    if name == "runbook":
        return [*base, "runbook", "--format", "html", "--to", job.to or f"{where.state_dir}/runbook.html"]
    raise ValueError(f"unknown job {name}")


def locked_argv(name: str, job: Job, where: Installation) -> list[str]:
    """The job's command under flock: a run still going when the next is due is never overlapped."""
    return ["/usr/bin/flock", "--nonblock", "--conflict-exit-code", str(LOCK_CONFLICT_EXIT),
            f"{where.lock_dir}/{UNIT_PREFIX}{name}.lock", *job_argv(name, job, where)]


# ---------------------------------------------------------------------------------------------
# systemd units
# ---------------------------------------------------------------------------------------------


def unit_files(schedule: Schedule, where: Installation, *, environment_file: str | None = None) -> dict[str, str]:
    """File name → content of every unit: chaton-JOB.service and chaton-JOB.timer per scheduled job."""
    files: dict[str, str] = {}
    for name, job in schedule.jobs().items():
        files[f"{UNIT_PREFIX}{name}.service"] = _service_unit(name, job, where, environment_file)
        files[f"{UNIT_PREFIX}{name}.timer"] = _timer_unit(name, job, where)
    return files


def _header(where: Installation) -> str:
    return (f"{MARKER} from {where.inventory}; `chaton schedule show` compares it with the inventory,\n"
            "# `chaton schedule install` rewrites it: change the inventory's `schedule:`, not this file.\n")


def _systemd_quote(words: list[str]) -> str:
    """Words as systemd splits ExecStart= back into them (like a shell, without running one; `%` starts a
    specifier and `$` a variable, both doubled)."""
    return " ".join(_systemd_word(word) for word in words)


def _systemd_word(word: str) -> str:
    word = word.replace("%", "%%").replace("$", "$$")
    if word and re.fullmatch(r"[A-Za-z0-9_@%+=:,./-]+", word):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _service_unit(name: str, job: Job, where: Installation, environment_file: str | None) -> str:
    lines = [_header(where).rstrip("\n"), "[Unit]",
             f"Description=chaton {name}{' of ' + where.collective if where.collective else ''}",
             "Wants=network-online.target", "After=network-online.target", "", "[Service]", "Type=oneshot",
             f"Environment={_systemd_word('CHATON_JOURNAL=' + where.journal)}",
             f"Environment={_systemd_word('CHATON_STATE_DIR=' + where.state_dir)}"]
    if environment_file:
        lines.append(f"EnvironmentFile=-{environment_file}")
    lines += [f"ExecStart={_systemd_quote(locked_argv(name, job, where))}", ""]
    return "\n".join(lines) + "\n"


def _timer_unit(name: str, job: Job, where: Installation) -> str:
    delay = job.randomized_delay or DEFAULT_DELAYS[name]
    lines = [_header(where).rstrip("\n"), "[Unit]", f"Description=chaton {name}: when it runs", "", "[Timer]",
             f"OnCalendar={job.on}", f"RandomizedDelaySec={delay}", "Persistent=true", "", "[Install]",
             "WantedBy=timers.target", ""]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# cron
# ---------------------------------------------------------------------------------------------


def cron_file(schedule: Schedule, where: Installation, *, environment_file: str | None = None) -> str:
    """The /etc/cron.d/chaton file: one line per job, run as root, delayed at random, under flock.

    CalendarError when a job's expression has no cron equivalent (seconds, years, a day and a weekday)."""
    lines = [_header(where).rstrip("\n"), "SHELL=/bin/sh", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
             f"CHATON_JOURNAL={where.journal}", f"CHATON_STATE_DIR={where.state_dir}", ""]
    for name, job in schedule.jobs().items():
        try:
            fields = parse_calendar(job.on).cron_fields()
        except CalendarError as error:
            raise CalendarError(f"schedule.{name}: {job.on!r}: {error}") from None
        delay = delay_seconds(job.randomized_delay or DEFAULT_DELAYS[name])
        command = shlex.join(locked_argv(name, job, where))
        if environment_file:
            command = f"set -a; . {shlex.quote(environment_file)}; set +a; {command}"
        if delay:
            command = f"sleep $(shuf -i 0-{delay} -n 1); {command}"
        # cron reads % as a newline: escape it (a path could hold one)
        lines.append(f"# chaton {name}: {job.on}")
        lines.append(f"{fields} root {command.replace('%', chr(92) + '%')}")
    return "\n".join(lines) + "\n"


def calendar_of_unit(text: str) -> str | None:
    """The OnCalendar= of an installed timer (what `show` reports next to the inventory's)."""
    found = re.search(r"^OnCalendar=(.*)$", text, re.MULTILINE)
    return found.group(1).strip() if found else None


def jobs_of_cron_file(text: str) -> Mapping[str, str]:
    """Job name → its calendar, from the comment lines of an installed cron file."""
    return {found.group(1): found.group(2) for found in re.finditer(r"^# chaton (\w+): (.*)$", text, re.MULTILINE)}
