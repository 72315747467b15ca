"""`chaton tenant list` and `chaton tenant export`: who the collective hosts, how much data, since when
silent; and a member's data as one archive they take with them.

An export reads the newest snapshots from the repository (restic on the service's host: `dump --archive
tar` of the data snapshot, `dump` of each database dump) and streams them here, into one archive laid
out as core/tenants.py says, with a manifest. Nothing is restored on any host, nothing is changed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import tarfile
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaton_ops import __version__
from chaton_ops.core.database import dump_filename
from chaton_ops.core.loader import LoadedInventory
from chaton_ops.core.ports import Secrets, Transport
from chaton_ops.core.restic import build_dump_argv
from chaton_ops.core.restic_output import RestoreSize, Snapshot, parse_stats
from chaton_ops.core.tenants import (
    Inactivity,
    ServiceSnapshots,
    SnapshotRef,
    archive_compression,
    check_tenant,
    inactivity,
    member_name,
    newest_snapshots,
)
from chaton_ops.core.units import format_bytes
from chaton_ops.errors import ChatonError, UsageError
from chaton_ops.ops.restic_calls import run_restic
from chaton_ops.ops.restore_facts import current_host
from chaton_ops.ops.snapshots import list_repository_snapshots

DUMP_TIMEOUT = 24 * 3600.0
STATS_TIMEOUT = 600.0


def snapshot_ref(snapshot: Snapshot) -> SnapshotRef:
    return SnapshotRef(snapshot.id, snapshot.time, snapshot.hostname, snapshot.paths, snapshot.tags, snapshot.size)


# ---------------------------------------------------------------------------------------------
# list
# ---------------------------------------------------------------------------------------------


@dataclass
class TenantRow:
    name: str
    contact: str
    services: list[str]
    inactivity: Inactivity
    data_bytes: int | None = None
    problem: str | None = None  # why the size is unknown


def service_snapshots(loaded: LoadedInventory, service: str, transport: Transport, secrets: Secrets,
                      repository: str | None = None) -> tuple[str, ServiceSnapshots]:
    """The service's newest data snapshot and dumps in its first repository (or `repository`), asked with
    restic on `transport`'s host."""
    inventory = loaded.inventory
    repositories = inventory.repositories_for(service)
    if not repositories:
        raise UsageError(f"service {service} has no repository")
    chosen = repository or repositories[0]
    listed = list_repository_snapshots(loaded, chosen, transport, secrets=secrets, service=service)
    found = [snapshot_ref(s) for s in listed]
    spec = inventory.services[service]
    return chosen, newest_snapshots(service, spec.data, spec.databases, found)


def restore_size(loaded: LoadedInventory, transport: Transport, secrets: Secrets, repository: str,
                 ids: list[str]) -> int:
    """Bytes the snapshots hold (`restic stats --mode restore-size`), in one restic run."""
    inventory = loaded.inventory
    binary = inventory.hosts[transport.host].restic
    url = inventory.repositories[repository].url
    password = secrets.resolve(inventory.repositories[repository].password).reveal()
    argv = [binary, "--repo", url, "stats", "--json", "--no-lock", "--mode", "restore-size", "--", *ids]
    run = run_restic(transport, argv, password, timeout=STATS_TIMEOUT)
    if not run.succeeded:
        raise run.error(f"size of snapshots in {repository}")
    size: RestoreSize = parse_stats(run.result.stdout)
    return size.total_bytes


def list_tenants(loaded: LoadedInventory, transports: Callable[[str], Transport] | None, *,
                 secrets: Secrets | None = None, today: dt.date | None = None, jobs: int = 4) -> list[TenantRow]:
    """Every tenant with its services, silence and (with `transports` and `secrets`) data size from the
    newest snapshots."""
    inventory = loaded.inventory
    today = today or dt.date.today()
    rows = [TenantRow(name, tenant.contact, inventory.services_of(name), inactivity(inventory, name, today))
            for name, tenant in sorted(inventory.tenants.items())]
    if transports is None or secrets is None:
        return rows

    def measure(row: TenantRow) -> None:
        total = 0
        try:
            for service in row.services:
                spec = inventory.services[service]
                if not (spec.data or spec.databases) or not inventory.repositories_for(service):
                    continue
                transport = transports(current_host(loaded, service))
                repository, newest = service_snapshots(loaded, service, transport, secrets)
                chosen = newest.all()
                if not chosen:
                    continue
                recorded = [s.size for s in chosen]
                if all(size is not None for size in recorded):
                    total += sum(size for size in recorded if size is not None)
                else:
                    total += restore_size(loaded, transport, secrets, repository, [s.id for s in chosen])
            row.data_bytes = total
        except ChatonError as failure:
            row.problem = failure.message

    with ThreadPoolExecutor(max_workers=max(1, min(jobs, len(rows) or 1)), thread_name_prefix="tenant") as pool:
        list(pool.map(measure, rows))
    return rows


# ---------------------------------------------------------------------------------------------
# export
# ---------------------------------------------------------------------------------------------


@dataclass
class ExportedService:
    service: str
    host: str
    repository: str
    data: dict[str, Any] | None = None
    databases: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ExportReport:
    tenant: str
    archive: Path
    services: list[ExportedService]
    bytes: int = 0
    files: int = 0

    def manifest(self, loaded: LoadedInventory, exported_at: dt.datetime) -> dict[str, Any]:
        tenant = loaded.inventory.tenants[self.tenant]
        return {"format": "chaton tenant export 1", "tenant": self.tenant, "contact": tenant.contact,
                "collective": loaded.inventory.collective.name, "exported_at": exported_at.isoformat(),
                "chaton": __version__, "files": self.files, "bytes": self.bytes,
                "services": {s.service: {"host": s.host, "repository": s.repository, "data": s.data,
                                         "databases": s.databases} for s in self.services}}


def export_tenant(loaded: LoadedInventory, tenant: str, transports: Callable[[str], Transport], to: Path, *,
                  secrets: Secrets, progress: Callable[[str], None] | None = None,
                  now: dt.datetime | None = None) -> ExportReport:
    """Write `to` (.tar.gz, .tgz or .tar): every service's newest data snapshot and database dumps, with a
    manifest. Written beside `to` as a partial file first and renamed into place once complete: an
    interrupted export leaves no archive that looks whole. An existing `to` is never replaced."""
    inventory = loaded.inventory
    check_tenant(inventory, tenant)
    compression = archive_compression(to.name)
    if to.exists() or to.is_symlink():
        raise UsageError(f"{to} exists: chaton does not replace an archive; give another name")
    if not to.parent.is_dir():
        raise UsageError(f"{to.parent} is not a folder")
    exported_at = now or dt.datetime.now(dt.UTC)
    services = [s for s in inventory.services_of(tenant)
                if (inventory.services[s].data or inventory.services[s].databases) and inventory.repositories_for(s)]
    report = ExportReport(tenant, to, [])
    partial = to.with_name(f".{to.name}.partial")
    say = progress or (lambda text: None)
    try:
        opened = (tarfile.open(partial, "w:gz", format=tarfile.PAX_FORMAT) if compression == "gz"
                  else tarfile.open(partial, "w", format=tarfile.PAX_FORMAT))
        with opened as archive:
            for service in services:
                host = current_host(loaded, service)
                transport = transports(host)
                say(f"{service}: snapshots on {host}")
                repository, newest = service_snapshots(loaded, service, transport, secrets)
                exported = ExportedService(service, host, repository)
                if newest.data is not None:
                    say(f"{service}: data snapshot {newest.data.id[:8]}")
                    exported.data = _export_data(loaded, transport, secrets, repository, tenant, newest, archive,
                                                 report)
                for database, snapshot in newest.databases:
                    if snapshot is None:
                        exported.databases.append({"database": f"{database.engine}:{database.name}",
                                                   "snapshot": None})
                        continue
                    say(f"{service}: dump of {database.engine}:{database.name}")
                    exported.databases.append(_export_dump(loaded, transport, secrets, repository, tenant, service,
                                                           dump_filename(database), snapshot, archive, report))
                report.services.append(exported)
            manifest = json.dumps(report.manifest(loaded, exported_at), indent=2, ensure_ascii=False).encode()
            _add_bytes(archive, f"{tenant}/manifest.json", manifest, exported_at)
            _add_bytes(archive, f"{tenant}/README.txt", _readme(loaded, report, exported_at).encode(), exported_at)
        os.chmod(partial, 0o600)
        os.rename(partial, to)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return report


def _restic(loaded: LoadedInventory, transport: Transport, secrets: Secrets, repository: str) -> tuple[str, str, str]:
    inventory = loaded.inventory
    return (inventory.hosts[transport.host].restic, inventory.repositories[repository].url,
            secrets.resolve(inventory.repositories[repository].password).reveal())


def _stream_to(transport: Transport, argv: list[str], password: str, write: Callable[[bytes], object],
               what: str) -> None:
    """restic's stdout handed to `write`, chunk by chunk (never all in memory)."""
    streaming = getattr(transport, "run_streaming", None)
    if streaming is None:
        run = run_restic(transport, argv, password, timeout=DUMP_TIMEOUT)
        if not run.succeeded:
            raise run.error(what)
        raise ChatonError(f"{transport.host}: this transport cannot stream {what}")
    result = streaming(argv, write, secret_env={"RESTIC_PASSWORD": password}, timeout=DUMP_TIMEOUT, check=False,
                       keep_output=False)
    from chaton_ops.core.restic import ResticRun, classify

    run = ResticRun(result, classify(result.returncode, result.stderr))
    if not run.succeeded:
        raise run.error(what)


def _export_data(loaded: LoadedInventory, transport: Transport, secrets: Secrets, repository: str, tenant: str,
                 newest: ServiceSnapshots, archive: tarfile.TarFile, report: ExportReport) -> dict[str, Any]:
    assert newest.data is not None
    snapshot = newest.data
    binary, url, password = _restic(loaded, transport, secrets, repository)
    argv = [*build_dump_argv(binary, url, snapshot.id, "/"), "--archive", "tar"]
    files = size = 0
    with tempfile.TemporaryFile(dir=report.archive.parent) as spool:
        _stream_to(transport, argv, password, spool.write, f"dump of the data snapshot {snapshot.id[:8]} of {newest.service}")
        spool.seek(0)
        with tarfile.open(fileobj=spool, mode="r|") as inner:
            for member in inner:
                name = member_name(tenant, newest.service, member.name)
                if name is None or not (member.isfile() or member.isdir() or member.issym()):
                    continue
                member.name = name
                if member.isfile():
                    archive.addfile(member, inner.extractfile(member))
                    files += 1
                    size += member.size
                else:
                    archive.addfile(member)
    report.files += files
    report.bytes += size
    return {"snapshot": snapshot.id, "time": snapshot.time.isoformat(), "hostname": snapshot.hostname,
            "paths": list(snapshot.paths), "files": files, "bytes": size,
            "folder": f"{tenant}/{newest.service}/data"}


def _export_dump(loaded: LoadedInventory, transport: Transport, secrets: Secrets, repository: str, tenant: str,
                 service: str, filename: str, snapshot: SnapshotRef, archive: tarfile.TarFile,
                 report: ExportReport) -> dict[str, Any]:
    binary, url, password = _restic(loaded, transport, secrets, repository)
    argv = build_dump_argv(binary, url, snapshot.id, f"/{filename}")
    digest = hashlib.sha256()
    with tempfile.TemporaryFile(dir=report.archive.parent) as spool:

        def write(chunk: bytes) -> None:
            digest.update(chunk)
            spool.write(chunk)

        _stream_to(transport, argv, password, write, f"dump {filename} of {service}")
        size = spool.tell()
        spool.seek(0)
        info = tarfile.TarInfo(f"{tenant}/{service}/databases/{filename}")
        info.size, info.mode, info.mtime = size, 0o600, int(snapshot.time.timestamp())
        archive.addfile(info, spool)
    report.files += 1
    report.bytes += size
    return {"database": filename.removesuffix(".sql").replace("-", ":", 1), "snapshot": snapshot.id,
            "time": snapshot.time.isoformat(), "file": f"{tenant}/{service}/databases/{filename}", "bytes": size,
            "sha256": digest.hexdigest()}


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes, when: dt.datetime) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, int(when.timestamp())
    archive.addfile(info, io.BytesIO(data))


def _readme(loaded: LoadedInventory, report: ExportReport, when: dt.datetime) -> str:
    lines = [f"Your data at {loaded.inventory.collective.name}, as of {when.strftime('%Y-%m-%d %H:%M UTC')}",
             "", f"This archive holds the newest backup of each service of {report.tenant}:", ""]
    for service in report.services:
        lines.append(f"- {service.service}:")
        if service.data:
            lines.append(f"    files: {service.service}/data/ ({service.data['files']} files, "
                         f"{format_bytes(service.data['bytes'])}, backed up {service.data['time'][:16]})")
        for dump in service.databases:
            if dump.get("file"):
                lines.append(f"    database {dump['database']}: {dump['file'].split('/', 1)[1]} "
                             f"(SQL, sha256 {dump['sha256'][:16]}…)")
    lines += ["", "manifest.json says the same for programs. Questions: "
              f"{loaded.inventory.collective.contact}", ""]
    return "\n".join(lines)
