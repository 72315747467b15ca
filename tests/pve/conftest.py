"""Fixtures for the tests against fakepve (no lab, no root): a started fake PVE (fakepve's own pytest
fixture, time_scale 0 unless a test says otherwise) with an API token, the vzdump worker of
tests/pve/vzdump.py, an inventory pointing at it, and `chaton` run in this process.

fakepve speaks TLS with its own certificate, which the inventory gives as `ca_file`: chaton verifies it
as it verifies a real cluster's.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from chaton_ops.cli.main import main
from tests.pve.cluster import TOKEN_ID, add_token, proxmox_entry, write_inventory, write_token
from tests.pve.vzdump import install_vzdump


@dataclass
class Ran:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@dataclass
class FakeCluster:
    """A fakepve instance and what chaton needs to reach it."""

    pve: Any
    url: str
    cafile: str
    token: str
    directory: Path
    capsys: pytest.CaptureFixture[str]
    vzdumps: list[dict[str, Any]] = field(default_factory=list)
    inventory_path: Path | None = None

    def write_inventory(self, hosts: dict[str, dict[str, Any]], *, name: str = "hutte",
                        extra_clusters: dict[str, dict[str, Any]] | None = None, **settings: Any) -> Path:
        clusters = {name: proxmox_entry(self.url, self.cafile, **settings), **(extra_clusters or {})}
        self.inventory_path = write_inventory(self.directory / "inventory.yml", clusters, hosts,
                                              self.directory / "pve-token")
        return self.inventory_path

    def chaton(self, *args: str) -> Ran:
        """`chaton -i INVENTORY ARGS…` in this process; stdin is no terminal (pytest's)."""
        assert self.inventory_path is not None, "write_inventory first"
        self.capsys.readouterr()
        code = main(["-i", str(self.inventory_path), *args])
        out, err = self.capsys.readouterr()
        assert "Traceback" not in err, err
        assert self.token not in out + err, "the token leaked into the output"
        return Ran(code, out, err)

    def api_requests(self, method: str | None = None, contains: str = "") -> list[tuple[str, str, bytes]]:
        return [r for r in self.pve.requests if (method is None or r[0] == method) and contains in r[1]]


def vm_host(vmid: int, node: str = "pve1", cluster: str = "hutte", address: str | None = None) -> dict[str, Any]:
    return {"address": address or f"192.0.2.{vmid % 250}", "vm": {"proxmox": cluster, "node": node, "vmid": vmid}}


@pytest.fixture
def journal_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "journal.sqlite3"
    monkeypatch.setenv("CHATON_JOURNAL", str(path))
    monkeypatch.delenv("CHATON_INVENTORY", raising=False)
    return path


@pytest.fixture
def cluster(fakepve: Any, fakepve_cafile: str, tmp_path: Path, journal_path: Path,
            capsys: pytest.CaptureFixture[str]) -> FakeCluster:
    token = add_token(fakepve)
    write_token(tmp_path, token)
    fake = FakeCluster(fakepve, fakepve.url, fakepve_cafile, token, tmp_path, capsys)
    fake.vzdumps = install_vzdump(fakepve)
    return fake


def journal_rows(path: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """(runs, steps) of the journal: (command, args, status, exit_code), (run_id, target, step, status, detail)."""
    with sqlite3.connect(path) as db:
        runs = db.execute("SELECT id, command, args, status, exit_code FROM runs ORDER BY id").fetchall()
        steps = db.execute("SELECT run_id, target, step, status, detail FROM steps ORDER BY id").fetchall()
    return runs, steps


__all__ = ["TOKEN_ID", "FakeCluster", "Ran", "journal_rows", "vm_host"]
