"""The per-run pool of transports: one connection per host, shared by every step of a run.

Importing this module is cheap; fabric and paramiko are loaded on the first transport opened.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chaton_ops.core.loader import LoadedInventory
    from chaton_ops.core.ports import Transport


def open_transport(loaded: LoadedInventory, host_name: str) -> Transport:
    """A new transport to `host_name` (local for `localhost`, else SSH). Connects on first use."""
    from chaton_ops.adapters.ssh import open_transport as open_ssh_or_local

    return open_ssh_or_local(loaded, host_name)


class HostPool:
    """Hands out one transport per host and closes them all at the end of the run. Thread-safe."""

    def __init__(self, loaded: LoadedInventory) -> None:
        self.loaded = loaded
        self._transports: dict[str, Transport] = {}
        self._lock = threading.Lock()

    def transport(self, host_name: str) -> Transport:
        # Creating a transport does not connect (that happens on its first command, under the
        # transport's own lock), so holding the pool's lock here never waits on the network.
        with self._lock:
            existing = self._transports.get(host_name)
            if existing is None:
                existing = open_transport(self.loaded, host_name)
                self._transports[host_name] = existing
            return existing

    def close_all(self) -> None:
        with self._lock:
            transports = list(self._transports.values())
            self._transports.clear()
        for transport in transports:
            transport.close()

    def __enter__(self) -> HostPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close_all()
