"""Use case `ping`: is every host reachable over SSH? All hosts in parallel, a bounded pool.

Pure orchestration over a transport factory (`open_transport(host_name) -> Transport`), so it is
tested with in-memory fakes; the CLI passes a HostPool of real SSH transports.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

from chaton_ops.core.inventory import Inventory
from chaton_ops.core.masking import mask_text
from chaton_ops.core.ports import Transport
from chaton_ops.errors import ChatonError, ConnectError, ExitCode, UsageError, exit_code_of

PING_COMMAND = ("true",)

TransportFactory = Callable[[str], Transport]


@dataclass(frozen=True)
class PingResult:
    """How one host answered. `result` is "ok", or the cause of the failure."""

    host: str
    address: str
    ok: bool
    reachable: bool
    result: str
    latency_ms: float | None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def select_hosts(inventory: Inventory, names: Sequence[str]) -> list[str]:
    """The hosts to ping: the named ones (in the given order, once each), else all of them."""
    if not names:
        return list(inventory.hosts)
    unknown = [name for name in names if name not in inventory.hosts]
    if unknown:
        known = ", ".join(sorted(inventory.hosts)) or "none"
        plural = "s" if len(unknown) > 1 else ""
        raise UsageError(f"unknown host{plural} {', '.join(unknown)} (known hosts: {known})")
    return list(dict.fromkeys(names))


def ping_host(inventory: Inventory, host_name: str, open_transport: TransportFactory) -> PingResult:
    """Connect (or reuse the connection) and run a trivial command; never raises."""
    address = inventory.hosts[host_name].address
    timeout = inventory.ssh_for(host_name).connect_timeout
    started = time.monotonic()
    try:
        open_transport(host_name).run(list(PING_COMMAND), timeout=timeout, check=True)
    except ConnectError as error:
        return PingResult(host_name, address, False, False, mask_text(error.cause), None)
    except ChatonError as error:
        return PingResult(host_name, address, False, True, mask_text(error.message), None)
    except Exception as error:  # noqa: BLE001 - one host's surprise must not hide the others' results
        return PingResult(host_name, address, False, False,
                          mask_text(f"unexpected error: {type(error).__name__}: {error}"), None)
    latency = (time.monotonic() - started) * 1000
    return PingResult(host_name, address, True, True, "ok", round(latency, 1))


def ping_hosts(
    inventory: Inventory, names: Sequence[str], open_transport: TransportFactory, *, jobs: int | None = None
) -> list[PingResult]:
    """Ping the selected hosts with at most `jobs` (default `defaults.jobs`) at once; results in host order."""
    selected = select_hosts(inventory, names)
    if not selected:
        return []
    workers = max(1, min(jobs or inventory.defaults.jobs, len(selected)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="chaton-ping") as pool:
        return list(pool.map(lambda name: ping_host(inventory, name, open_transport), selected))


def exit_code_for(results: Sequence[PingResult]) -> ExitCode:
    """The policy of errors.EXIT_CODES: 0 all answered · 3 some did, some did not · 4 no host could be
    reached · 1 none answered and some were reachable (the command failed there)."""
    return exit_code_of("ok" if r.ok else "failed" if r.reachable else "unreachable" for r in results)
