"""Host facts in one round trip: one POSIX shell script prints /proc files and standard commands in
sections, one parser reads them, one function turns them into findings.

The script runs as `sh -c SCRIPT sh LOOKUP` (argv, no shell string built from inventory values):
every command that may hang (df on a dead mount, a lookup through a dead resolver) runs under
`timeout`, so a sick host answers within seconds instead of holding its SSH session.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from chaton_ops.core.health import Finding, Limits, level_at_least

SECTION_MARK = "@@chaton "
LOOKUP_TIMEOUT_SECONDS = 4
DF_TIMEOUT_SECONDS = 10
# Filesystems that are always full or not storage: a squashfs (snap) is 100 % used by design.
SKIPPED_FILESYSTEMS = ("squashfs", "iso9660", "udf", "devtmpfs", "overlay", "nsfs", "ramfs")

FACTS_SCRIPT = r"""
m() { printf '%s%s\n' '@@chaton ' "$1"; }
show() { while IFS= read -r line || [ -n "$line" ]; do printf '%s\n' "$line"; done < "$1"; }
t() { if command -v timeout >/dev/null 2>&1; then timeout "$@"; else shift; "$@"; fi; }
LC_ALL=C; export LC_ALL
m clock-start; date +%s.%N
m uptime; show /proc/uptime
m loadavg; show /proc/loadavg
m cpus; getconf _NPROCESSORS_ONLN 2>/dev/null
m meminfo; show /proc/meminfo
m df-all
if ! t 10 df -l -k --output=source,fstype,size,used,avail,itotal,iused,target 2>/dev/null; then
  m df; t 10 df -P -k -l -T 2>/dev/null
  m df-inodes; t 10 df -P -i -l 2>/dev/null
fi
m reboot-required; if [ -e /run/reboot-required ]; then echo yes; [ -r /run/reboot-required.pkgs ] && show /run/reboot-required.pkgs; else echo no; fi
m resolvers; [ -r /etc/resolv.conf ] && show /etc/resolv.conf
m lookup; if [ -n "$1" ]; then t 4 getent ahosts "$1" >/dev/null 2>&1; echo $?; fi
m clock-end; date +%s.%N
"""


def facts_argv(lookup: str) -> list[str]:
    """The command that prints a host's facts; `lookup` is the name its resolvers must answer for
    ("" for none)."""
    return ["sh", "-c", FACTS_SCRIPT, "sh", lookup]


@dataclass(frozen=True)
class Filesystem:
    mount: str
    device: str
    kind: str
    size_kb: int
    used_kb: int
    available_kb: int
    inodes: int | None = None
    inodes_used: int | None = None

    @property
    def used_percent(self) -> float:
        """As df computes it: used / (used + available), so the blocks reserved for root count as full."""
        total = self.used_kb + self.available_kb
        return 0.0 if total <= 0 else math.ceil(self.used_kb * 1000 / total) / 10

    @property
    def inodes_percent(self) -> float | None:
        if not self.inodes or self.inodes_used is None:
            return None  # btrfs and others report no inode limit
        return math.ceil(self.inodes_used * 1000 / self.inodes) / 10


@dataclass(frozen=True)
class HostFacts:
    uptime_seconds: float | None = None
    load: tuple[float, float, float] | None = None
    cpus: int | None = None
    memory_total_kb: int | None = None
    memory_available_kb: int | None = None
    swap_total_kb: int | None = None
    swap_free_kb: int | None = None
    filesystems: tuple[Filesystem, ...] = ()
    reboot_required: bool | None = None
    reboot_packages: tuple[str, ...] = ()
    resolvers: tuple[str, ...] = ()
    lookup_status: int | None = None  # getent's exit status: 0 answered, 2 not found, 124 timed out
    clock_start: float | None = None
    clock_end: float | None = None
    problems: tuple[str, ...] = field(default_factory=tuple)  # sections that could not be read

    @property
    def memory_percent(self) -> float | None:
        if not self.memory_total_kb or self.memory_available_kb is None:
            return None
        return round(100 * (1 - self.memory_available_kb / self.memory_total_kb), 1)

    @property
    def swap_percent(self) -> float | None:
        if not self.swap_total_kb or self.swap_free_kb is None:
            return None
        return round(100 * (1 - self.swap_free_kb / self.swap_total_kb), 1)


def split_sections(text: str) -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith(SECTION_MARK):
            current = sections.setdefault(line[len(SECTION_MARK):].strip(), [])
        elif current is not None:
            current.append(line)
    return sections


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def parse_meminfo(lines: list[str]) -> dict[str, int]:
    values: dict[str, int] = {}
    for line in lines:
        name, _, rest = line.partition(":")
        number = rest.split()
        if number and number[0].isdigit():
            values[name.strip()] = int(number[0])
    return values


def parse_df(lines: list[str], inode_lines: list[str]) -> tuple[Filesystem, ...]:
    """`df -P -k -T` (with `df -P -i` joined by mount point). A device mounted at several places (bind
    mounts) is listed once, at its shortest mount point."""
    inodes: dict[str, tuple[int, int]] = {}
    for line in inode_lines[1:]:
        parts = line.split()
        if len(parts) >= 6 and parts[1].isdigit() and parts[2].isdigit():
            inodes[" ".join(parts[5:])] = (int(parts[1]), int(parts[2]))
    found: dict[tuple[str, int, int, int], Filesystem] = {}
    for line in lines[1:]:
        parts = line.split()
        if len(parts) < 7 or not all(part.isdigit() for part in parts[2:5]):
            continue
        device, kind, size, used, available = parts[0], parts[1], int(parts[2]), int(parts[3]), int(parts[4])
        mount = " ".join(parts[6:])
        if kind in SKIPPED_FILESYSTEMS or size == 0:
            continue
        total_inodes, used_inodes = inodes.get(mount, (None, None))
        filesystem = Filesystem(mount, device, kind, size, used, available, total_inodes, used_inodes)
        identity = (device, size, used, available)
        known = found.get(identity)
        if known is None or len(mount) < len(known.mount):
            found[identity] = filesystem
    return tuple(sorted(found.values(), key=lambda fs: fs.mount))


def parse_df_output(lines: list[str]) -> tuple[Filesystem, ...] | None:
    """`df -k --output=source,fstype,size,used,avail,itotal,iused,target` (GNU df: one call for space and
    inodes); None when it is not that (busybox df: the two-call form follows)."""
    if not lines or not lines[0].split()[:2] == ["Filesystem", "Type"]:
        return None
    df = ["Filesystem Type 1024-blocks Used Available Capacity Mounted on"]
    inodes = ["Filesystem Inodes IUsed IFree IUse% Mounted on"]
    for line in lines[1:]:
        parts = line.split()
        if len(parts) < 8:
            continue
        source, kind, size, used, available, total_inodes, used_inodes = parts[:7]
        mount = " ".join(parts[7:])
        df.append(f"{source} {kind} {size} {used} {available} - {mount}")
        inodes.append(f"{source} {total_inodes} {used_inodes} - - {mount}")
    return parse_df(df, inodes)


def parse_host_facts(text: str) -> HostFacts:
    """The facts printed by FACTS_SCRIPT; a section that is missing or garbled is left unknown."""
    sections = split_sections(text)
    problems: list[str] = []

    def first(name: str) -> str:
        lines = sections.get(name) or [""]
        return lines[0].strip()

    uptime = _number(first("uptime").split(" ")[0]) if first("uptime") else None
    load_parts = first("loadavg").split()
    load = None
    if len(load_parts) >= 3 and all(_number(part) is not None for part in load_parts[:3]):
        load = (float(load_parts[0]), float(load_parts[1]), float(load_parts[2]))
    cpus = int(first("cpus")) if first("cpus").isdigit() and int(first("cpus")) > 0 else None
    memory = parse_meminfo(sections.get("meminfo", []))
    available = memory.get("MemAvailable")
    if available is None and "MemFree" in memory:  # kernels before 3.14
        available = memory["MemFree"] + memory.get("Buffers", 0) + memory.get("Cached", 0)
    reboot_lines = [line.strip() for line in sections.get("reboot-required", []) if line.strip()]
    reboot = None if not reboot_lines else reboot_lines[0] == "yes"
    resolvers = tuple(line.split()[1] for line in sections.get("resolvers", [])
                      if len(line.split()) >= 2 and line.split()[0] == "nameserver")
    lookup = first("lookup")
    for name in ("uptime", "loadavg", "meminfo"):
        if not sections.get(name):
            problems.append(name)
    if not sections.get("df-all") and not sections.get("df"):
        problems.append("df")
    return HostFacts(
        uptime_seconds=uptime,
        load=load,
        cpus=cpus,
        memory_total_kb=memory.get("MemTotal"),
        memory_available_kb=available,
        swap_total_kb=memory.get("SwapTotal"),
        swap_free_kb=memory.get("SwapFree"),
        filesystems=parse_df_output(sections.get("df-all", []))
        or parse_df(sections.get("df", []), sections.get("df-inodes", [])),
        reboot_required=reboot,
        reboot_packages=tuple(reboot_lines[1:]),
        resolvers=resolvers,
        lookup_status=int(lookup) if lookup.isdigit() else None,
        clock_start=_number(first("clock-start")),
        clock_end=_number(first("clock-end")),
        problems=tuple(problems),
    )


def clock_offset(facts: HostFacts, sent: float, received: float) -> tuple[float, float] | None:
    """(offset, uncertainty) of the host's clock against ours, from our times before sending the script
    and after its output came back (Unix seconds) and the host's times at its start and end: the
    script's own run time is taken out, only the network's delay remains uncertain."""
    if facts.clock_start is None or facts.clock_end is None:
        return None
    early = facts.clock_start - sent  # ≥ offset: the script started after we sent it
    late = facts.clock_end - received  # ≤ offset: it ended before we received its output
    return (early + late) / 2, max(0.0, (early - late) / 2)


def _gib(kb: float) -> str:
    if kb >= 1024 * 1024:
        return f"{kb / 1024 / 1024:.1f} GiB"
    return f"{kb / 1024:.0f} MiB" if kb >= 1024 else f"{kb:.0f} KiB"


def evaluate_host(host: str, facts: HostFacts, limits: Limits, *, lookup: str | None,
                  offset: tuple[float, float] | None) -> list[Finding]:
    """The findings of one reachable host: disks (space and inodes), memory, swap, load, uptime,
    pending reboot, its resolvers, its clock."""
    findings: list[Finding] = []

    def add(check: str, level: str, summary: str, item: str = "", **numbers: object) -> None:
        findings.append(Finding("hosts", host, check, level, summary, item=item, host=host,  # type: ignore[arg-type]
                                **numbers))  # type: ignore[arg-type]

    for fs in facts.filesystems:
        used = fs.used_percent
        add("disk", level_at_least(used, limits.disk_percent, limits.disk_critical_percent),
            f"{used:g} % used, {_gib(fs.available_kb)} free", fs.mount, value=used, unit="%",
            warning=limits.disk_percent, critical=limits.disk_critical_percent)
        inodes = fs.inodes_percent
        if inodes is not None and inodes >= limits.disk_percent:
            add("inodes", level_at_least(inodes, limits.disk_percent, limits.disk_critical_percent),
                f"{inodes:g} % of inodes used", fs.mount, value=inodes, unit="%",
                warning=limits.disk_percent, critical=limits.disk_critical_percent)
    if not facts.filesystems:
        add("disk", "unknown", "no filesystem listed by df")
    memory = facts.memory_percent
    if memory is not None:
        add("memory", level_at_least(memory, limits.memory_percent),
            f"{memory:g} % used of {_gib(facts.memory_total_kb or 0)}", value=memory, unit="%",
            warning=limits.memory_percent)
    else:
        add("memory", "unknown", "/proc/meminfo not readable")
    swap = facts.swap_percent
    if swap is not None:
        add("swap", level_at_least(swap, limits.swap_percent), f"{swap:g} % used of {_gib(facts.swap_total_kb or 0)}",
            value=swap, unit="%", warning=limits.swap_percent)
    if facts.load is not None and facts.cpus:
        per_cpu = round(facts.load[2] / facts.cpus, 2)
        add("load", level_at_least(per_cpu, limits.load_per_cpu),
            f"{facts.load[2]:g} over 15 min on {facts.cpus} CPU{'s' if facts.cpus > 1 else ''} ({per_cpu:g} per CPU)",
            value=per_cpu, warning=limits.load_per_cpu)
    if facts.uptime_seconds is not None:
        days = round(facts.uptime_seconds / 86400, 1)
        level = level_at_least(days, limits.uptime_days)
        add("uptime", level, f"up {days:g} days" + (" without a reboot: updates of the kernel and libraries wait"
                                                     if level != "ok" else ""),
            value=round(facts.uptime_seconds / 86400, 3), unit="d", warning=limits.uptime_days)
    if facts.reboot_required:
        packages = f" ({', '.join(facts.reboot_packages[:5])})" if facts.reboot_packages else ""
        add("reboot", "warning", f"reboot required by updates{packages}")
    if lookup:
        add("resolver", *_resolver_verdict(facts, lookup), item=lookup)
    if offset is not None:
        seconds, uncertainty = offset
        add("clock", level_at_least(abs(seconds), limits.clock_offset_seconds),
            f"{seconds:+.1f} s against this machine (± {uncertainty:.1f} s)", value=round(seconds, 3), unit="s",
            warning=limits.clock_offset_seconds)
    return findings


def _resolver_verdict(facts: HostFacts, lookup: str) -> tuple[str, str]:
    servers = ", ".join(facts.resolvers) or "none in /etc/resolv.conf"
    status = facts.lookup_status
    if status == 0:
        return "ok", f"resolves {lookup} (resolvers {servers})"
    if status == 124:
        return "critical", (f"its resolvers do not answer: looking up {lookup} timed out after "
                            f"{LOOKUP_TIMEOUT_SECONDS} s (resolvers {servers})")
    if status is None:
        return "unknown", "the lookup did not run"
    return "critical", f"cannot resolve {lookup} (getent exit {status}; resolvers {servers})"
