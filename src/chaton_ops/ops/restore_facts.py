"""The facts a restore depends on, read on the host that restores (read-only).

restic's version, the snapshot (chosen by the service's `service:NAME` tag, never by restic's host
name, so a snapshot taken on the primary restores anywhere) with its listing and size in one
`restic ls`, the database dumps that go with it, the destinations' state and free space, the
databases there, and the playbook's stop/start/after_restore steps.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from chaton_ops.core.inventory import Database
from chaton_ops.core.loader import LoadedInventory
from chaton_ops.core.ports import TemplatesFor, Transport
from chaton_ops.core.restic import ResticError, ResticRun, build_ls_argv, build_snapshots_argv, format_version
from chaton_ops.core.restic_output import SnapshotListing, parse_ls, parse_snapshots
from chaton_ops.core.restore import (
    DestinationState,
    RestoreFacts,
    RestoreMode,
    SnapshotInfo,
    check_snapshot_service,
    choose_data_snapshot,
    choose_dumps,
    to_info,
)
from chaton_ops.core.selection import service_tag
from chaton_ops.errors import ChatonError, ConnectError, UsageError
from chaton_ops.ops.deploy import prepare_deploy
from chaton_ops.ops.restic_calls import detect_version, run_restic
from chaton_ops.ops.restore_db import existing_databases
from chaton_ops.ops.restore_steps import RestoreFailed

LIST_TIMEOUT = 3600.0
STATE_TIMEOUT = 120.0


def current_host(loaded: LoadedInventory, service: str) -> str:
    """Where a service runs now: its host in the placed inventory (after a failover, the fallback;
    `loaded.home_of(service)` is its declared home). The one place restores and drills ask."""
    return loaded.inventory.services[service].host


def check_service_and_host(loaded: LoadedInventory, service: str, host: str | None) -> None:
    inventory = loaded.inventory
    if service not in inventory.services:
        raise UsageError(f"unknown service: {service} (known: {', '.join(sorted(inventory.services)) or 'none'})")
    if host is not None and host not in inventory.hosts:
        raise UsageError(f"unknown host: {host} (known: {', '.join(sorted(inventory.hosts))})")


def choose_repository(loaded: LoadedInventory, service: str, repository: str | None) -> str:
    inventory = loaded.inventory
    own = inventory.repositories_for(service)
    if repository is not None:
        if repository not in inventory.repositories:
            raise UsageError(f"unknown repository: {repository}")
        return repository
    if not own:
        raise UsageError(f"service {service} has no repository")
    return own[0]


# ------------------------------------------------------------------------------------------ facts
@dataclass(frozen=True)
class GatheredRestore:
    """The facts, and the snapshot's listing (kept out of the facts: it can be long) for verification."""

    facts: RestoreFacts
    listing: SnapshotListing | None


def gather_restore_facts(
    loaded: LoadedInventory,
    service: str,
    transport: Transport,
    *,
    mode: RestoreMode,
    password: str,
    snapshot: str = "latest",
    repository: str | None = None,
    root: str | None = None,
    home: str | None = None,
    started: dt.datetime | None = None,
    templates: TemplatesFor | None = None,
) -> GatheredRestore:
    """Read-only: what a restore of `service` onto `transport.host` depends on. An in-place restore
    renders the playbook's stop/start/after_restore steps with `templates` (required for that mode)."""
    if mode == "in-place" and templates is None:
        raise TypeError("an in-place restore renders the playbook: pass templates")
    inventory = loaded.inventory
    host = transport.host
    check_service_and_host(loaded, service, host)
    definition = inventory.services[service]
    repository = choose_repository(loaded, service, repository)
    url = inventory.repositories[repository].url
    binary = inventory.hosts[host].restic
    guessed = list(definition.data) if mode == "in-place" else []  # the snapshot's paths, almost always
    with ThreadPoolExecutor(max_workers=5, thread_name_prefix="restore-facts") as pool:
        # every read at once: restic's start (key derivation) dominates, the host checks hide behind it
        version_done = pool.submit(detect_version, transport, binary)
        listed_all = pool.submit(_list_snapshots, transport, binary, url, password, service, repository) \
            if definition.databases else None
        listing_done = pool.submit(_find_data_snapshot, transport, binary, url, password, service, repository,
                                   snapshot, list(definition.data), listed_all.result if listed_all else None) \
            if definition.data else None
        states_done = pool.submit(destination_states, transport, [*guessed, *([root] if root else [])])
        engines_done = pool.submit(_engines, transport, definition.databases) if mode != "target" else None
        version = version_done.result()
        everything = listed_all.result() if listed_all is not None else []
        listing = listing_done.result() if listing_done is not None else None
        states = states_done.result()
        engines = engines_done.result() if engines_done is not None else {}
    if not definition.data and snapshot != "latest":
        chosen = choose_data_snapshot(everything, service, snapshot)  # checks the service
        anchor = chosen.time if chosen is not None else None
    else:
        anchor = listing.snapshot.time if listing is not None else None
    dumps, missing = choose_dumps(everything, service, definition.databases, anchor)
    data_snapshot = to_info(listing.snapshot) if listing is not None else None
    bytes_by_path, entries_by_path = _sizes(listing)
    targets = list(data_snapshot.paths) if data_snapshot is not None and mode == "in-place" else []
    if targets != guessed:
        states = destination_states(transport, [*targets, *([root] if root else [])])
    root_state = states.pop() if root else None
    stop, start, after = _playbook_labels(loaded, service, host, templates) \
        if mode == "in-place" and templates is not None else ((), (), ())
    facts = RestoreFacts(
        service=service, host=host, home=home or current_host(loaded, service), mode=mode, repository=repository,
        restic_version=format_version(version), started=started or dt.datetime.now(dt.UTC), snapshot=data_snapshot,
        bytes_by_path=bytes_by_path, entries_by_path=entries_by_path, dumps=tuple(dumps), missing_dumps=tuple(missing),
        destinations=tuple(states), root=root, root_state=root_state,
        root_is_empty=root_state is None or not root_state.exists or root_state.kind == "empty directory",
        existing_databases=tuple(f"{engine}:{name}" for engine, names in engines.items() for name in sorted(names or ())),
        missing_engines=tuple(engine for engine, names in engines.items() if names is None),
        stop=stop, start=start, after_restore=after,
    )
    return GatheredRestore(facts, listing)


def _engines(transport: Transport, databases: list[Database]) -> dict[str, set[str] | None]:
    """The databases of each engine the service uses on the host (None: the engine's client is missing)."""
    engines: dict[str, set[str] | None] = {}
    for database in databases:
        engine = "postgres" if database.engine == "postgres" else "mysql"
        if engine not in engines:
            engines[engine] = existing_databases(transport, database)
    return engines


def _restic_failure(error: ResticError, host: str, repository: str) -> ChatonError:
    if error.kind == "unreachable":
        return ConnectError(host, f"repository {repository} cannot be reached from {host}: {error.stderr_tail}")
    return error


def _read_only_restic(transport: Transport, argv: list[str], password: str) -> ResticRun:
    """A read-only restic command, run once more when it ended without an exit status (killed by a
    signal: seen on a loaded machine). Reading twice changes nothing."""
    run = run_restic(transport, argv, password, timeout=LIST_TIMEOUT)
    if run.result.returncode == -1:
        run = run_restic(transport, argv, password, timeout=LIST_TIMEOUT)
    return run


def _list_snapshots(transport: Transport, binary: str, url: str, password: str, service: str,
                    repository: str) -> list[SnapshotInfo]:
    run = _read_only_restic(transport, [*build_snapshots_argv(binary, url, tags=[service_tag(service)]), "--no-lock"],
                            password)
    if not run.succeeded:
        raise _restic_failure(run.error(f"snapshots of {service} in {repository}"), transport.host, repository)
    return [to_info(s) for s in parse_snapshots(run.result.stdout)]


def _ls(transport: Transport, binary: str, url: str, password: str, repository: str, snapshot: str,
        **choose: Any) -> SnapshotListing | None:
    """`restic ls` of a snapshot; None when `latest` matched none (0.14 says so and exits 0)."""
    run = _read_only_restic(transport, build_ls_argv(binary, url, snapshot, **choose), password)
    stderr = run.result.stderr
    if not run.succeeded:
        if "no snapshot found" in stderr or "no snapshot matched" in stderr:
            return None
        if "no matching ID found" in stderr or "failed to find snapshot" in stderr:
            raise UsageError(f"no snapshot {snapshot} in repository {repository}")
        raise _restic_failure(run.error(f"listing snapshot {snapshot} of {repository}"), transport.host, repository)
    try:
        return parse_ls(run.result.stdout)
    except ValueError:
        return None


def _find_data_snapshot(transport: Transport, binary: str, url: str, password: str, service: str, repository: str,
                        wanted: str, data: list[str],
                        listed: Callable[[], list[SnapshotInfo]] | None) -> SnapshotListing | None:
    """The data snapshot and its listing in one restic call (`ls latest --tag service:NAME --path …`, or
    `ls ID`); the snapshot list only when that finds nothing (paths changed in the inventory) or to
    tell an empty repository from another service's snapshot."""
    if wanted != "latest":
        listing = _ls(transport, binary, url, password, repository, wanted)
        if listing is None:
            raise UsageError(f"no snapshot {wanted} in repository {repository}")
        info = to_info(listing.snapshot)
        check_snapshot_service(info, service)
        if info.is_dump:
            raise UsageError(f"snapshot {info.short_id} is the dump of database {info.tag_value('database')}: give "
                             f"the data snapshot of {service} (see `chaton snapshots {service}`)")
        return listing
    listing = _ls(transport, binary, url, password, repository, "latest", tags=[service_tag(service)], paths=data)
    if listing is not None:
        return listing
    snapshots = listed() if listed is not None else _list_snapshots(transport, binary, url, password, service,
                                                                    repository)
    chosen = choose_data_snapshot(snapshots, service, "latest")
    if chosen is None:
        return None
    return _ls(transport, binary, url, password, repository, chosen.id)


def _sizes(listing: SnapshotListing | None) -> tuple[dict[str, int], dict[str, int]]:
    if listing is None:
        return {}, {}
    sizes: dict[str, int] = {}
    entries: dict[str, int] = {}
    for path in listing.snapshot.paths:
        nodes = listing.under(path)
        sizes[path] = sum(node.size for node in nodes)
        entries[path] = len(nodes)
    return sizes, entries


DESTINATION_SCRIPT = r"""
for p; do
  a=$p; while [ ! -e "$a" ] && [ ! -L "$a" ] && [ "$a" != / ]; do a=$(dirname -- "$a"); done
  if [ "$a" = "$p" ]; then e=1; k=$(stat -c %F -- "$p"); else e=0; k=-; fi
  if [ "$e" = 1 ] && [ -d "$p" ] && [ ! -L "$p" ] && [ -z "$(find "$p" -mindepth 1 -maxdepth 1 -print -quit)" ]; then
    k="empty directory"; fi
  mp=0; if [ "$e" = 1 ] && mountpoint -q -- "$p" 2>/dev/null; then mp=1; fi
  df -P -k -- "$a" | awk -v p="$p" -v e="$e" -v k="$k" -v mp="$mp" \
    'NR==2 {m=$6; for (i = 7; i <= NF; i++) m = m " " $i; printf "%s\t%s\t%s\t%s\t%s\t%s\n", p, e, k, mp, m, $4}'
done
"""


def destination_states(transport: Transport, paths: list[str]) -> list[DestinationState]:
    """Exists? what? is it a mount point? which filesystem, how much free — for each path, in one command."""
    if not paths:
        return []
    result = transport.run(["sh", "-c", DESTINATION_SCRIPT, "sh", *paths], timeout=STATE_TIMEOUT, check=False)
    states = []
    lines = result.stdout.splitlines()
    for index, path in enumerate(paths):
        fields = lines[index].rsplit("\t", 5) if index < len(lines) else []
        if len(fields) != 6:
            raise RestoreFailed(f"{transport.host}: cannot read the state of {path}: {result.stderr_tail(2)}")
        _, exists, kind, mount_point, filesystem, free = fields
        states.append(DestinationState(path=path, exists=exists == "1", kind=None if kind == "-" else kind,
                                       is_mount_point=mount_point == "1", filesystem=filesystem,
                                       free_bytes=int(free) * 1024 if free.isdigit() else None))
    return states


def _playbook_labels(loaded: LoadedInventory, service: str, host: str,
                     templates: TemplatesFor) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    if loaded.inventory.services[service].playbook is None:
        return (), (), ()
    labels = []
    for phase in ("stop", "start", "after_restore"):
        prepared = prepare_deploy(loaded, service, host, templates=templates, phase=phase)  # type: ignore[arg-type]
        labels.append(tuple(step.step.label for step in prepared.steps))
    return labels[0], labels[1], labels[2]
