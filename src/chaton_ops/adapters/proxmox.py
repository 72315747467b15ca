"""The Proxmox VE API through proxmoxer, with an API token (the `Proxmox` port of core/ports.py).

proxmoxer (and requests under it) is imported here only, when a `chaton vm` command first talks to a
cluster: `chaton --help` and the other commands never pay for it.

TLS is verified against the cluster's `ca_file` (else the system's CAs); `verify_tls: false` only when
the inventory says so, and the CLI warns about it on every run. Every request has the cluster's
timeout. Errors come back as PVE wrote them: ProxmoxError (ProxmoxAuthError for a refused token,
NodeOffline for PVE's 595, QuorumLost), ConnectError when the API cannot be reached or verified.
"""

from __future__ import annotations

import re
import threading
import urllib.parse
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from chaton_ops.core.inventory import Proxmox as ProxmoxSettings
from chaton_ops.core.loader import LoadedInventory
from chaton_ops.core.masking import mask_text
from chaton_ops.core.proxmox import DEFAULT_PORT, ApiCall, base_url
from chaton_ops.errors import (
    ConnectError,
    NodeOffline,
    ProxmoxAuthError,
    ProxmoxError,
    QuorumLost,
    UsageError,
)

NO_QUORUM = "no quorum"
_ERRNO_RE = re.compile(r"\[Errno -?\d+\] ([^'\")\]]+)")
_NODE_IN_PATH_RE = re.compile(r"^/nodes/([^/]+)")


class ProxmoxClient:
    """One cluster's API. Each thread gets its own HTTP session (vzdump runs nodes in parallel)."""

    def __init__(self, cluster: str, settings: ProxmoxSettings, token_value: str, ca_file: Path | None) -> None:
        self.cluster = cluster
        self.settings = settings
        parts = urllib.parse.urlsplit(settings.api)
        self.host = parts.hostname or ""
        self.port = parts.port or DEFAULT_PORT
        self.base_url = base_url(settings)
        self._user, _, self._token_name = settings.token_id.partition("!")
        self._token_value = token_value
        self._verify: bool | str = str(ca_file) if (settings.verify_tls and ca_file) else settings.verify_tls
        self._local = threading.local()

    def _api(self) -> Any:
        api = getattr(self._local, "api", None)
        if api is None:
            from proxmoxer import ProxmoxAPI

            if self._verify is False:  # said once per run by the CLI, not by urllib3 on every request
                import warnings

                from urllib3.exceptions import InsecureRequestWarning

                warnings.simplefilter("ignore", InsecureRequestWarning)

            api = ProxmoxAPI(self.host, port=self.port, user=self._user, token_name=self._token_name,
                             token_value=self._token_value, verify_ssl=self._verify,
                             timeout=(self.settings.timeout, self.settings.timeout))
            self._local.api = api
        return api

    def get(self, path: str, params: Mapping[str, str | int] | None = None) -> Any:
        return self._request("GET", path, dict(params or {}))

    def send(self, call: ApiCall) -> Any:
        return self._request(call.method, call.path, dict(call.params))

    def _request(self, method: str, path: str, params: dict[str, Any]) -> Any:
        from proxmoxer import ResourceException
        from requests import exceptions as http

        resource = self._api()(path.lstrip("/"))
        try:
            answer = getattr(resource, method.lower())(**params)
        except ResourceException as error:
            raise self._pve_error(method, path, error) from None
        except http.SSLError as error:
            raise ConnectError(self.cluster, f"TLS: the certificate of {self.base_url} cannot be verified "
                               f"({_ssl_reason(error)}); give the cluster's CA in proxmox.{self.cluster}.ca_file "
                               "(/etc/pve/pve-root-ca.pem on a node)") from None
        except http.Timeout:
            raise ConnectError(self.cluster, f"no answer from {self.base_url} within "
                               f"{self.settings.timeout:g} s") from None
        except http.ConnectionError as error:
            raise ConnectError(self.cluster, f"cannot connect to {self.base_url}: {_errno_reason(error)}") from None
        except http.RequestException as error:
            raise ConnectError(self.cluster, f"{self.base_url}: {mask_text(str(error))}") from None
        if isinstance(answer, dict) and set(answer) == {"errors"} and isinstance(answer["errors"], bytes):
            # proxmoxer's way of saying the body was not JSON: a proxy's page, not PVE
            raise ProxmoxError(self.cluster, f"{method} {path}: the answer of {self.base_url} is not PVE's JSON "
                               "(a proxy in the way?)")
        return answer

    def _pve_error(self, method: str, path: str, error: Any) -> ProxmoxError:
        status = int(error.status_code)
        text = str(error.content or error.status_message or "").strip()
        fields = error.errors if isinstance(error.errors, dict) else {}
        if fields and all(isinstance(value, str) for value in fields.values()):  # PVE's per-parameter errors
            text += " " + "; ".join(f"{key}: {value.strip()}" for key, value in fields.items())
        text = mask_text(text)
        if status == 401:
            return ProxmoxAuthError(
                self.cluster, f"the API refused token {self.settings.token_id} (PVE: {status} {text}); check "
                f"proxmox.{self.cluster}.token_id and the value of secret '{self.settings.token}'",
                status=status, pve_message=text)
        if status == 595:
            node = _NODE_IN_PATH_RE.match(path)
            where = f"node {node.group(1)}" if node else "the node"
            return NodeOffline(self.cluster, f"{where} is offline or cannot be reached by the cluster "
                               f"(PVE: {status} {text})", status=status, pve_message=text)
        if NO_QUORUM in text:
            return QuorumLost(self.cluster, f"the cluster has lost quorum: PVE refuses every change until enough "
                              f"nodes are back (PVE: {text})", status=status, pve_message=text)
        return ProxmoxError(self.cluster, f"{method} {path}: {text}", status=status, pve_message=text)


def _errno_reason(error: Exception) -> str:
    found = _ERRNO_RE.search(str(error))
    return found.group(1).strip() if found else type(error).__name__


def _ssl_reason(error: Exception) -> str:
    text = str(error)
    found = re.search(r"certificate verify failed: ([^(]+)", text)
    if found:
        return "certificate verify failed: " + found.group(1).strip()
    return _errno_reason(error) if "Errno" in text else "TLS handshake failed"


class ProxmoxClients:
    """The clusters of an inventory, each client made (and its token resolved) on first use."""

    def __init__(self, loaded: LoadedInventory, on_insecure: Callable[[str], None] | None = None) -> None:
        self.loaded = loaded
        self.on_insecure = on_insecure  # told when a cluster's certificate will not be verified
        self._clients: dict[str, ProxmoxClient] = {}
        self._lock = threading.Lock()

    def __call__(self, cluster: str) -> ProxmoxClient:
        with self._lock:
            client = self._clients.get(cluster)
            if client is None:
                client = self._clients[cluster] = self._make(cluster)
            return client

    def _make(self, cluster: str) -> ProxmoxClient:
        from chaton_ops.adapters.secrets import resolve_secret

        settings = self.loaded.inventory.proxmox.get(cluster)
        if settings is None:
            known = ", ".join(sorted(self.loaded.inventory.proxmox)) or "none"
            raise UsageError(f"unknown proxmox cluster '{cluster}' (known: {known})")
        ca_file = None
        if settings.verify_tls and settings.ca_file:
            ca_file = self.loaded.resolve_path(settings.ca_file)
            if not ca_file.is_file():
                raise UsageError(f"proxmox.{cluster}.ca_file: {ca_file} is not a file "
                                 f"({self.loaded.where(('proxmox', cluster, 'ca_file'))})")
        token = resolve_secret(self.loaded, settings.token)
        if not settings.verify_tls and self.on_insecure is not None:
            self.on_insecure(cluster)
        return ProxmoxClient(cluster, settings, token.reveal(), ca_file)
