"""Transports to the inventory's hosts: the local-or-SSH factory, and the per-run pool (one connection
per host, shared by every step of a run).

Importing this module is cheap; fabric and paramiko are loaded on the first transport opened.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chaton_ops.core.loader import LoadedInventory
    from chaton_ops.core.ports import Transport


LOCAL_NAMES = ("localhost",)


def open_transport(loaded: LoadedInventory, host_name: str) -> Transport:
    """A new transport to a host of the inventory: local for `localhost` (by name or address), else SSH
    with its settings. Connects on first use; the SSH library is loaded only for an SSH host."""
    from chaton_ops.errors import UsageError

    inventory = loaded.inventory
    if host_name not in inventory.hosts:
        known = ", ".join(sorted(inventory.hosts)) or "none"
        raise UsageError(f"unknown host {host_name!r} (known hosts: {known})")
    host = inventory.hosts[host_name]
    if host_name in LOCAL_NAMES or host.address in LOCAL_NAMES:
        from chaton_ops.adapters.local import LocalTransport

        return LocalTransport(host_name)
    from chaton_ops.adapters.ssh import SshTransport

    ssh = inventory.ssh_for(host_name)
    return SshTransport(
        host_name,
        host.address,
        user=ssh.user,
        port=ssh.port,
        identity=loaded.resolve_path(ssh.identity) if ssh.identity else None,
        known_hosts=loaded.resolve_path(ssh.known_hosts or "~/.ssh/known_hosts"),
        connect_timeout=ssh.connect_timeout,
    )


class HostPool:
    """Hands out one transport per host and closes them all at the end of the run. Thread-safe."""

    def __init__(self, loaded: LoadedInventory) -> None:
        self.loaded = loaded
        self._transports: dict[str, Transport] = {}
        self._lock = threading.Lock()
        self._closed = False

    def transport(self, host_name: str) -> Transport:
        # Creating a transport does not connect (that happens on its first command, under the
        # transport's own lock), so holding the pool's lock here never waits on the network.
        with self._lock:
            return self._transport_locked(host_name)

    def _transport_locked(self, host_name: str) -> Transport:
        existing = self._transports.get(host_name)
        if existing is None:
            existing = open_transport(self.loaded, host_name)
            self._transports[host_name] = existing
        return existing

    def connect_in_background(self, host_names: Iterable[str]) -> None:
        """Start connecting to `host_names` now, each in a thread of its own, so that loading the SSH
        library and the handshakes overlap with whatever the caller does next. The first command on
        a host waits for its connection; a failure is raised there, as if it had connected then."""
        for host_name in dict.fromkeys(host_names):
            threading.Thread(target=self._connect_early, args=(host_name,), name=f"connect-{host_name}",
                             daemon=True).start()

    def _connect_early(self, host_name: str) -> None:
        try:
            with self._lock:
                if self._closed:  # the run ended first: nothing to open any more
                    return
                transport = self._transport_locked(host_name)
        except Exception:  # noqa: BLE001 - the same error reaches the first real use of this host
            return
        connect = getattr(transport, "connect", None)  # local transports have nothing to open
        if connect is not None:
            connect()

    def close_all(self) -> None:
        with self._lock:
            self._closed = True
            transports = list(self._transports.values())
            self._transports.clear()
        for transport in transports:
            transport.close()

    def __enter__(self) -> HostPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close_all()
