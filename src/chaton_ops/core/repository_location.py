"""Where a restic repository lives, read from its URL: on an SFTP server (which may be a host of the
inventory), in a local folder, or elsewhere. Free space is measured there (ops/repository.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from chaton_ops.core.inventory import Inventory

# restic's two SFTP forms: sftp:user@host:/path, and sftp://user@host:port//absolute (one slash: relative
# to the login folder, which sftp's `df` understands too)
_SFTP_SHORT = re.compile(r"^sftp:(?:(?P<user>[^@/]+)@)?(?P<host>\[[^\]]+\]|[^:/]+):(?P<path>.+)$")
_SFTP_URL = re.compile(r"^sftp://(?:(?P<user>[^@/]+)@)?(?P<host>\[[^\]]+\]|[^:/]+)(?::(?P<port>\d+))?/(?P<path>.+)$")


@dataclass(frozen=True)
class RepositoryLocation:
    """Where a repository lives, as far as free space is concerned."""

    kind: str  # "sftp", "local" or "other"
    path: str = ""
    user: str | None = None
    host: str | None = None
    port: int | None = None


def locate_repository(url: str) -> RepositoryLocation:
    match = _SFTP_URL.match(url)
    if match:
        port = match.group("port")
        return RepositoryLocation("sftp", match.group("path"), match.group("user"), match.group("host"),
                                  int(port) if port else None)
    match = _SFTP_SHORT.match(url)
    if match:
        return RepositoryLocation("sftp", match.group("path"), match.group("user"), match.group("host"))
    if url.startswith("sftp:"):
        return RepositoryLocation("other")
    if url.startswith("local:"):
        return RepositoryLocation("local", url[len("local:"):])
    if url.startswith("/"):
        return RepositoryLocation("local", url)
    return RepositoryLocation("other")


def repository_host(inventory: Inventory, url: str) -> str | None:
    """The inventory host that stores an SFTP repository (matched by address or name), if any."""
    location = locate_repository(url)
    if location.kind != "sftp" or not location.path.startswith("/"):
        return None
    for name, host in inventory.hosts.items():
        if location.host in (host.address, name):
            return name
    return None
