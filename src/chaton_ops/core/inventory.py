"""The inventory, format version 1 (DESIGN.md): frozen pydantic models, unknown keys forbidden.

Every field carries a description: the JSON Schema (`chaton inventory schema`) and the reference
documentation are generated from these models, never written twice.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from chaton_ops.core.schedule import Schedule
from chaton_ops.core.values import (
    AbsolutePath,
    Address,
    CommandLine,
    DnsName,
    ExcludePattern,
    Executable,
    HttpUrl,
    IsoDatetime,
    LocalPath,
    MailAddress,
    PastDate,
    RepositoryUrl,
    SingleLine,
    SshPath,
    Text,
    check_http_url,
)

NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
NAME_RE = re.compile(NAME_PATTERN)

Name = Annotated[
    str,
    StringConstraints(pattern=NAME_PATTERN),
    Field(description="A name: lowercase letters, digits and '-', starting with a letter or digit, ≤ 63 characters."),
]

VariableName = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"),
    Field(description="A playbook variable's name: letters, digits and '_', as templates write `vars.NAME`."),
]

Priority = Literal["critical", "high", "normal", "low"]
PRIORITY_ORDER: dict[str, int] = {"critical": 0, "high": 1, "normal": 2, "low": 3}


class Model(BaseModel):
    # strict: a value has the type the field says, never a conversion (`port: yes` is not port 1,
    # `port: "22"` is text, `verify_tls: "no"` is not false); YAML already types numbers and booleans.
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=False, strict=True)


class Collective(Model):
    """Who the inventory describes."""

    name: SingleLine = Field(min_length=1, max_length=200, description="Display name of the collective.")
    domain: DnsName = Field(description="The collective's main DNS domain.")
    contact: MailAddress = Field(description="Mail address of the admins, used in notifications.")


class SshSettings(Model):
    """How chaton reaches hosts over SSH. Host keys are always verified against `known_hosts`."""

    user: str = Field(default="root", pattern=r"^[a-z_][a-z0-9_-]{0,31}$", description="Remote user.")
    port: int = Field(default=22, ge=1, le=65535, description="SSH port.")
    identity: SshPath | None = Field(default=None, description="Private key file (`~` expanded); default: the agent or ~/.ssh keys.")
    known_hosts: SshPath | None = Field(
        default=None, description="known_hosts file used to verify host keys (`~` expanded); default ~/.ssh/known_hosts."
    )
    connect_timeout: float = Field(default=10.0, gt=0, le=300, description="Seconds to wait for a connection and its handshake.")


class SshOverride(Model):
    """Per-host SSH settings; unset fields fall back to `defaults.ssh`."""

    user: str | None = Field(default=None, pattern=r"^[a-z_][a-z0-9_-]{0,31}$", description="Remote user.")
    port: int | None = Field(default=None, ge=1, le=65535, description="SSH port.")
    identity: SshPath | None = Field(default=None, description="Private key file.")
    known_hosts: SshPath | None = Field(default=None, description="known_hosts file.")
    connect_timeout: float | None = Field(default=None, gt=0, le=300, description="Connection timeout in seconds.")


_RETENTION_COUNTS = ("last", "hourly", "daily", "weekly", "monthly", "yearly")
_MAX_KEEP = 1_000_000


class Retention(Model):
    """How many snapshots `restic forget` keeps (per service). Unset means no rule of that kind; at least
    one rule must keep something (restic given no rule, or only zeros, keeps every snapshot forever)."""

    last: int | None = Field(default=None, ge=0, le=_MAX_KEEP, description="Keep the N most recent snapshots.")
    hourly: int | None = Field(default=None, ge=0, le=_MAX_KEEP, description="Keep one snapshot per hour for N hours.")
    daily: int | None = Field(default=None, ge=0, le=_MAX_KEEP, description="Keep one snapshot per day for N days.")
    weekly: int | None = Field(default=None, ge=0, le=_MAX_KEEP, description="Keep one snapshot per week for N weeks.")
    monthly: int | None = Field(default=None, ge=0, le=_MAX_KEEP,
                                description="Keep one snapshot per month for N months.")
    yearly: int | None = Field(default=None, ge=0, le=_MAX_KEEP, description="Keep one snapshot per year for N years.")
    within: str | None = Field(
        default=None, pattern=r"^(\d{1,6}[yYmMdDhH])+$", description="Keep every snapshot within this duration (e.g. 2d12h)."
    )

    @model_validator(mode="after")
    def _keeps_something(self) -> Retention:
        counts = [getattr(self, name) for name in _RETENTION_COUNTS]
        within_keeps = self.within is not None and any(int(n) for n in re.findall(r"\d+", self.within))
        if not within_keeps and not any(counts):
            given = "every rule is 0" if any(c is not None for c in counts) or self.within else "no rule is given"
            raise ValueError(f"this retention keeps nothing ({given}): restic would then forget nothing and keep "
                             "every snapshot until the disk is full; give at least one of last, hourly, daily, "
                             "weekly, monthly, yearly above 0, or within")
        return self


# --- health checks (`chaton status`): thresholds and maintenance windows -------------------------

DURATION_PATTERN = r"^(\d+[dhm])+$"


class Thresholds(Model):
    """Levels at which `chaton status` reports a finding as a warning or critical. Given in
    `defaults.thresholds`, and per host or service to override them there: an unset field takes the
    value of the next level (service → its host → defaults → the built-in value named below). A value
    at or past a warning level is a warning; at or past a critical level, critical."""

    disk_percent: float | None = Field(
        default=None, gt=0, le=100, description="Space or inodes used on a filesystem that is a warning (%, built-in 90).")
    disk_critical_percent: float | None = Field(
        default=None, gt=0, le=100, description="Space or inodes used on a filesystem that is critical (%, built-in 95).")
    memory_percent: float | None = Field(
        default=None, gt=0, le=100, description="Memory used, not counting caches, that is a warning (%, built-in 90).")
    swap_percent: float | None = Field(
        default=None, gt=0, le=100, description="Swap used that is a warning (%, built-in 80).")
    load_per_cpu: float | None = Field(
        default=None, gt=0, description="15-minute load average per CPU that is a warning (built-in 2.0).")
    uptime_days: float | None = Field(
        default=None, gt=0, description="Days since the last reboot that are a warning: kernel and library updates "
        "wait for a reboot (built-in 90).")
    clock_offset_seconds: float | None = Field(
        default=None, gt=0, description="Clock offset of a host against the machine running chaton that is a warning "
        "(s, built-in 5).")
    certificate_days: float | None = Field(
        default=None, ge=0, description="Days a TLS certificate has left that are a warning (built-in 14).")
    certificate_critical_days: float | None = Field(
        default=None, ge=0, description="Days a TLS certificate has left that are critical; expired is always "
        "critical (built-in 3).")
    response_seconds: float | None = Field(
        default=None, gt=0, description="Response time of an HTTP, SMTP or TCP probe that is a warning (s, built-in 2).")
    drill_age_days: float | None = Field(
        default=None, gt=0, description="Days since a service's last restore drill that are a warning (built-in 31).")
    confirm: int | None = Field(
        default=None, ge=1, le=100, description="Consecutive runs a finding must hold at a new level before "
        "`chaton status --notify` tells anyone, so that one slow answer does not page the admins (built-in 2).")


class MaintenanceWindow(Model):
    """A time when a host or service is being worked on: `chaton status` still checks it and shows the
    findings, but sends no notification about them."""

    start: IsoDatetime = Field(description="When it starts (YYYY-MM-DD HH:MM, local time of the machine running "
                                           "chaton unless an offset such as +01:00 is given).")
    duration: str = Field(json_schema_extra={"format": "duration"}, description="How long it lasts: days, hours and minutes, e.g. 2h, 90m, 1d, 1h30m.")
    reason: SingleLine | None = Field(default=None, description="What is being done (shown in `chaton status`).")

    @field_validator("duration")
    @classmethod
    def _duration_form(cls, value: str) -> str:
        if not re.fullmatch(DURATION_PATTERN, value):
            raise ValueError(f"{value!r} is not a duration such as 2h, 90m, 1d or 1h30m")
        return value


class Defaults(Model):
    """Settings that apply wherever a host, repository or service does not say otherwise."""

    ssh: SshSettings = Field(default_factory=SshSettings, description="SSH settings for every host.")
    retention: Retention = Field(
        default_factory=lambda: Retention(last=3, daily=7, weekly=5, monthly=12),
        description="Retention policy for every service without its own.",
    )
    min_free_percent: float = Field(
        default=10.0, ge=0, le=100, description="Refuse a backup when the repository's filesystem has less free space (%)."
    )
    max_age_hours: float = Field(
        default=26.0, gt=0, description="`chaton check` reports a service whose newest snapshot is older (hours)."
    )
    jobs: int = Field(default=4, ge=1, le=64, description="How many hosts are worked on in parallel.")
    thresholds: Thresholds = Field(default_factory=Thresholds,
                                   description="Health-check thresholds of every host and service (`chaton status`).")
    inactive_after: int | None = Field(
        default=None, ge=1, le=36500, description="Days without contact (a tenant's `last_contact`) after which "
        "the collective may delete a member's data: `chaton tenant list` flags those past it, and `chaton tenant "
        "remove` refuses a tenant inside it (unless --force). Unset: no limit, every removal needs --force.")
    resolver_lookup: Address | None = Field(
        default=None, description="Name every host looks up with its own resolvers in `chaton status`; default: the "
        "first DNS record of a service (e.g. www.example.org), else the collective's domain.")


class SecretRef(Model):
    """Where a secret is found: exactly one of `env`, `file` or `command`. Never the value itself."""

    env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$", description="Environment variable.")
    file: LocalPath | None = Field(default=None, description="File whose first line is the secret (should be mode 0600).")
    command: CommandLine | None = Field(
        default=None, description="Command (split like a shell would, run without one) whose output's first line is the secret."
    )

    @model_validator(mode="before")
    @classmethod
    def _reject_literal(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            # Never quote `data`: it is likely the secret itself.
            raise ValueError(
                "this is a value, not a reference: give {env: VAR}, {file: PATH} or {command: CMD}, "
                "never the secret itself"
            )
        return data

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        given = [k for k in ("env", "file", "command") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of env, file or command")
        return self

    def describe(self) -> str:
        if self.env is not None:
            return f"env:{self.env}"
        if self.file is not None:
            return f"file:{self.file}"
        return "command"


class Repository(Model):
    """A restic repository. The URL is as restic takes it (path, sftp:, rest:, s3:, b2:, …)."""

    url: RepositoryUrl = Field(description="restic repository URL, e.g. sftp:backup@host:/srv/restic/main.")
    password: Name = Field(description="Name of the secret holding the repository password.")
    min_free_percent: float | None = Field(
        default=None, ge=0, le=100, description="Override of defaults.min_free_percent for this repository."
    )


PVE_STORAGE_PATTERN = r"^[A-Za-z][A-Za-z0-9._-]*[A-Za-z0-9]$"


class PruneBackups(Model):
    """Which vzdump archives of a guest PVE keeps after each backup (its `prune-backups`, e.g. keep-weekly=6).
    Each rule keeps the newest archive of its period for that many periods; at least one rule is needed."""

    keep_last: int | None = Field(default=None, ge=1, description="Keep the N newest archives (keep-last).")
    keep_hourly: int | None = Field(default=None, ge=1, description="Keep one archive per hour for N hours (keep-hourly).")
    keep_daily: int | None = Field(default=None, ge=1, description="Keep one archive per day for N days (keep-daily).")
    keep_weekly: int | None = Field(default=None, ge=1, description="Keep one archive per week for N weeks (keep-weekly).")
    keep_monthly: int | None = Field(default=None, ge=1, description="Keep one archive per month for N months (keep-monthly).")
    keep_yearly: int | None = Field(default=None, ge=1, description="Keep one archive per year for N years (keep-yearly).")

    @model_validator(mode="after")
    def _some_rule(self) -> PruneBackups:
        if all(value is None for value in self.model_dump().values()):
            raise ValueError("give at least one keep_* rule (without any, PVE would keep every archive)")
        return self


class Vzdump(Model):
    """How `chaton vm vzdump` backs up a cluster's guests, and how fresh `chaton vm backups` wants them."""

    storage: str = Field(pattern=PVE_STORAGE_PATTERN, description="PVE storage the archives go to (content `backup`).")
    mode: Literal["snapshot", "suspend", "stop"] = Field(
        default="snapshot", description="vzdump mode: snapshot (live), suspend or stop (consistent, with downtime).")
    compress: Literal["zstd", "gzip", "lzo", "none"] = Field(default="zstd", description="Archive compression.")
    prune_backups: PruneBackups | None = Field(
        default=None, description="Archives kept per guest after each backup; unset: the storage's own setting.")
    max_age_hours: float = Field(
        default=26.0, gt=0,
        description="`chaton vm backups` flags a guest whose newest archive is older (hours); 96 for twice a week.")
    timeout: float = Field(default=14400.0, gt=0, description="Seconds to wait for one guest's vzdump task.")


class Proxmox(Model):
    """A Proxmox VE cluster reached through its API with a token."""

    api: str = Field(pattern=r"^https://[^\s/]+(:\d+)?/?$", description="API base URL, e.g. https://pve1.example:8006.")
    token_id: str = Field(pattern=r"^[^\s@]+@[^\s!]+![A-Za-z0-9_-]+$", description="API token id, user@realm!tokenname.")
    token: Name = Field(description="Name of the secret holding the token's value.")
    verify_tls: bool = Field(default=True, description="Verify the API's TLS certificate.")
    ca_file: LocalPath | None = Field(default=None, description="CA bundle for a self-signed cluster certificate.")
    timeout: float = Field(default=10.0, gt=0, le=300, description="Seconds to wait for each API answer.")
    task_timeout: float = Field(
        default=1800.0, gt=0,
        description="Seconds to wait for a snapshot, rollback, start or snapshot removal task to end.")
    vzdump: Vzdump | None = Field(default=None, description="vzdump settings for this cluster's guests.")

    @field_validator("api")
    @classmethod
    def _api_host(cls, value: str) -> str:
        return check_http_url(value, secure_only=True)

    @model_validator(mode="after")
    def _ca_file_needs_verification(self) -> Proxmox:
        if self.ca_file is not None and not self.verify_tls:
            raise ValueError("ca_file is only used when verify_tls is true")
        return self


class VmRef(Model):
    """Where a host lives when it is a Proxmox guest."""

    proxmox: Name = Field(description="Name of the Proxmox cluster (key of `proxmox`).")
    node: Name = Field(description="Proxmox node name.")
    vmid: int = Field(ge=100, le=999_999_999, description="Guest id.")


class Capacity(Model):
    """What a host can take, for failover planning."""

    disk_gb: float = Field(gt=0, description="Free disk for restored data, in GB.")
    memory_gb: float = Field(gt=0, description="Memory, in GB.")


HostKind = Literal["server", "vm", "proxmox-node", "fallback"]


class Host(Model):
    """A machine chaton works on: a Proxmox node, a VM, a plain server or a fallback VPS."""

    address: Address = Field(description="IP address or DNS name chaton connects to.")
    kind: HostKind = Field(
        default="server",
        description="proxmox-node, vm (default when `vm` is given), server (default) or fallback (can take failed-over services).",
    )
    proxmox: Name | None = Field(default=None, description="For a proxmox-node: its cluster (key of `proxmox`).")
    vm: VmRef | None = Field(default=None, description="For a VM: its Proxmox cluster, node and vmid.")
    capacity: Capacity | None = Field(default=None, description="For a fallback: what it can take.")
    ssh: SshOverride | None = Field(default=None, description="SSH settings for this host.")
    restic: Executable = Field(default="restic", description="restic binary on this host (a command name or absolute path).")
    service_manager: Literal["systemd", "direct"] = Field(
        default="systemd",
        description="How playbooks start and reload services: systemd (systemctl) or direct (the service's own "
        "commands, for hosts without an init system such as containers and the test lab).",
    )
    description: Text | None = Field(default=None, description="Free text.")
    thresholds: Thresholds | None = Field(default=None, description="Health-check thresholds of this host and "
                                          "its services, over `defaults.thresholds`.")
    maintenance: list[MaintenanceWindow] = Field(
        default_factory=list, description="Maintenance windows: no notification about this host or its services then.")

    @model_validator(mode="before")
    @classmethod
    def _default_kind(cls, data: Any) -> Any:
        if isinstance(data, dict) and "kind" not in data and data.get("vm") is not None:
            return {**data, "kind": "vm"}
        return data

    @model_validator(mode="after")
    def _kind_matches(self) -> Host:
        if self.vm is not None and self.kind != "vm":
            raise ValueError(f"`vm` is only for kind vm, not {self.kind}")
        if self.kind == "proxmox-node" and self.proxmox is None:
            raise ValueError("a proxmox-node needs `proxmox`: the name of its cluster")
        if self.proxmox is not None and self.kind != "proxmox-node":
            raise ValueError(f"`proxmox` is only for kind proxmox-node, not {self.kind}")
        return self


TsigAlgorithm = Literal["hmac-sha256", "hmac-sha384", "hmac-sha512", "hmac-sha224", "hmac-sha1", "hmac-md5"]


class DnsZone(Model):
    """A DNS zone chaton may update (RFC 2136 dynamic updates signed with TSIG)."""

    provider: Literal["rfc2136"] = Field(default="rfc2136", description="How records are changed.")
    server: Address = Field(description="Primary server accepting updates.")
    port: int = Field(default=53, ge=1, le=65535, description="Server port.")
    key_name: str = Field(pattern=r"^[A-Za-z0-9._-]+$", description="TSIG key name.")
    key: Name = Field(description="Name of the secret holding the TSIG key (base64).")
    algorithm: TsigAlgorithm = Field(default="hmac-sha256", description="TSIG algorithm.")
    failover_ttl: int = Field(default=60, ge=1, le=86400, description="TTL set on records during a failover (s).")
    ttl: int = Field(default=3600, ge=1, le=604800, description="TTL of records in normal operation (s).")



class Tenant(Model):
    """A member association or person hosted by the collective."""

    contact: MailAddress = Field(description="Mail address of the tenant's contact.")
    last_contact: PastDate | None = Field(default=None, description="Last time the tenant answered (YYYY-MM-DD), not in the future.")
    repository: Name | None = Field(default=None, description="Repository the tenant's services back up to by default.")
    description: Text | None = Field(default=None, description="Free text.")


class Database(Model):
    """A database dumped before each backup of its service."""

    engine: Literal["postgres", "mysql", "mariadb"] = Field(description="Database engine.")
    name: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$", description="Database name.")
    user: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$", description="System or database user that runs the dump."
    )


class DnsRecord(Model):
    """A record pointing at the service's host, moved during failover."""

    zone: DnsName = Field(description="Zone (key of `dns`).")
    name: str = Field(pattern=r"^(@|[A-Za-z0-9_*]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,62}))*)$",
                      description="Record name relative to the zone, or @.")
    type: Literal["A", "AAAA"] = Field(default="A", description="Record type.")


class HttpCheck(Model):
    """An HTTP(S) probe."""

    url: HttpUrl = Field(description="URL to fetch.")
    status: int = Field(default=200, ge=100, le=599, description="Expected status code.")
    contains: SingleLine | None = Field(default=None, description="Text the body must contain.")
    timeout: float = Field(default=10.0, gt=0, le=120, description="Seconds.")


class SmtpCheck(Model):
    """An SMTP banner probe."""

    host: Address = Field(description="Host name or address.")
    port: int = Field(default=25, ge=1, le=65535, description="Port.")
    banner_contains: SingleLine | None = Field(default=None, description="Text the 220 banner must contain.")
    starttls: bool = Field(default=True, description="Expect STARTTLS to be offered after EHLO (and check the "
                                                     "certificate it presents); false for a plain relay.")
    timeout: float = Field(default=10.0, gt=0, le=120, description="Seconds.")



class TcpCheck(Model):
    """A TCP connect probe."""

    host: Address = Field(description="Host name or address.")
    port: int = Field(ge=1, le=65535, description="Port.")
    timeout: float = Field(default=5.0, gt=0, le=120, description="Seconds.")



class ServiceCheck(Model):
    """How to tell that a service works."""

    http: HttpCheck | None = Field(default=None, description="HTTP probe.")
    smtp: SmtpCheck | None = Field(default=None, description="SMTP banner probe.")
    tcp: TcpCheck | None = Field(default=None, description="TCP connect probe.")


NotifyEvent = Literal["failure", "recovery", "warning", "success"]


def _default_notify_events() -> list[NotifyEvent]:
    return ["failure", "recovery"]


class Notify(Model):
    """Where chaton reports how a run ended. Every entry is the NAME of a secret holding the URL,
    because ping and webhook URLs carry tokens."""

    healthchecks: list[Name] = Field(
        default_factory=list,
        description="Secrets holding healthchecks-style ping URLs for the run as a whole: `<url>/start` when it "
        "starts, `<url>` when it succeeds, `<url>/fail` when a target fails.",
    )
    apprise: list[Name] = Field(
        default_factory=list,
        description="Secrets holding apprise URLs (mmosts://…, matrixs://…, ntfys://…, mailtos://…) told about "
        "the run's events.",
    )
    events: list[NotifyEvent] = Field(
        default_factory=_default_notify_events,
        description="Which events reach the apprise URLs: failure (a service failed), recovery (it failed last "
        "time and succeeds now), warning (it succeeded with a warning), success (it succeeded, on every run).",
    )


class ServiceNotify(Model):
    """Notifications of one service, on top of (healthchecks) or instead of (apprise) the top-level ones."""

    healthchecks: list[Name] = Field(
        default_factory=list,
        description="Secrets holding ping URLs for this service alone (start, success, fail), in addition to "
        "the run's.",
    )
    apprise: list[Name] | None = Field(
        default=None,
        description="Secrets holding apprise URLs that replace `notify.apprise` for this service's events "
        "(list the admins' too to keep them informed; [] silences the service).",
    )


class Service(Model):
    """Something the collective runs for its members: its data, where it runs, how to check it."""

    host: Name = Field(description="Host the service runs on (key of `hosts`).")
    tenant: Name | None = Field(default=None, description="Tenant it belongs to (key of `tenants`).")
    priority: Priority = Field(default="normal", description="Failover order: critical, high, normal, low.")
    playbook: Name | None = Field(default=None, description="Playbook that installs it (playbooks/NAME.yml).")
    vars: dict[VariableName, Any] = Field(
        default_factory=dict, description="Variables of the playbook (checked against the playbook's `variables:`).")
    data: list[AbsolutePath] = Field(default_factory=list, description="Absolute paths backed up on the host.")
    exclude: list[ExcludePattern] = Field(default_factory=list, description="restic exclude patterns.")
    databases: list[Database] = Field(default_factory=list, description="Databases dumped before each backup.")
    repositories: list[Name] | None = Field(
        default=None, description="Repositories it backs up to; default: the tenant's, else every repository."
    )
    retention: Retention | None = Field(default=None, description="Retention policy; default: defaults.retention.")
    max_age_hours: float | None = Field(default=None, gt=0, description="Freshness limit; default: defaults.max_age_hours.")
    dns: list[DnsRecord] = Field(default_factory=list, description="DNS records that point at the service.")
    check: ServiceCheck | None = Field(default=None, description="Health probes.")
    fallback: Name | None = Field(default=None, description="Host of kind fallback that takes it over (key of `hosts`).")
    notify: ServiceNotify | None = Field(
        default=None, description="This service's own notifications (see the top-level `notify`)."
    )
    description: Text | None = Field(default=None, description="Free text.")
    thresholds: Thresholds | None = Field(default=None, description="Health-check thresholds of this service, over "
                                          "its host's and `defaults.thresholds`.")
    maintenance: list[MaintenanceWindow] = Field(
        default_factory=list, description="Maintenance windows: no notification about this service then.")


class Inventory(Model):
    """The whole collective, format version 1."""

    version: Literal[1] = Field(description="Inventory format version; only 1 exists.")
    collective: Collective = Field(description="Who this inventory describes.")
    defaults: Defaults = Field(default_factory=Defaults, description="Defaults for hosts, repositories and services.")
    secrets: dict[Name, SecretRef] = Field(default_factory=dict, description="Secret references by name.")
    repositories: dict[Name, Repository] = Field(default_factory=dict, description="restic repositories by name.")
    proxmox: dict[Name, Proxmox] = Field(default_factory=dict, description="Proxmox VE clusters by name.")
    hosts: dict[Name, Host] = Field(default_factory=dict, description="Hosts by name.")
    dns: dict[DnsName, DnsZone] = Field(default_factory=dict, description="DNS zones by zone name.")
    tenants: dict[Name, Tenant] = Field(default_factory=dict, description="Tenants by name.")
    services: dict[Name, Service] = Field(default_factory=dict, description="Services by name.")
    notify: Notify = Field(default_factory=Notify, description="Notifications at the end of runs (healthchecks, apprise).")
    playbooks: LocalPath | None = Field(
        default=None, description="The collective's own playbooks folder (relative to the inventory's folder, or "
        "absolute), searched after $CHATON_PLAYBOOKS and before the inventory's `playbooks/` and the built-in ones.")
    schedule: Schedule = Field(default_factory=Schedule,
                               description="When chaton's jobs run (`chaton schedule install`): systemd calendar "
                                           "expressions for backup, check, drill, status, prune and the runbook.")

    @field_validator("version", mode="before")
    @classmethod
    def _version_is_a_number(cls, value: Any) -> Any:
        if isinstance(value, bool):  # True == 1 to Python, and to a Literal[1]: `version: yes` is not 1
            raise ValueError(f"must be 1; got {value}")
        return value

    def ssh_for(self, host_name: str) -> SshSettings:
        """The effective SSH settings of a host: its overrides on top of `defaults.ssh`."""
        base = self.defaults.ssh
        override = self.hosts[host_name].ssh
        if override is None:
            return base
        changes = {k: v for k, v in override.model_dump().items() if v is not None}
        return base.model_copy(update=changes)

    def retention_for(self, service_name: str) -> Retention:
        return self.services[service_name].retention or self.defaults.retention

    def repositories_for(self, service_name: str) -> list[str]:
        """Repositories a service backs up to: its own list, else its tenant's, else all."""
        service = self.services[service_name]
        if service.repositories is not None:
            return list(service.repositories)
        tenant = self.tenants.get(service.tenant) if service.tenant is not None else None
        if tenant is not None and tenant.repository is not None:
            return [tenant.repository]
        return list(self.repositories)

    def services_on(self, host_name: str) -> list[str]:
        return [name for name, service in self.services.items() if service.host == host_name]

    def services_of(self, tenant_name: str) -> list[str]:
        return [name for name, service in self.services.items() if service.tenant == tenant_name]

    def services_using(self, repository_name: str) -> list[str]:
        """Services that back up to a repository (see `repositories_for`)."""
        return [name for name in self.services if repository_name in self.repositories_for(name)]

    def services_by_priority(self, names: list[str]) -> list[str]:
        return sorted(names, key=lambda n: (PRIORITY_ORDER[self.services[n].priority], n))
