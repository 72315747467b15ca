"""The layer contract (scripts/check_layers.py): cli → ops → core ← adapters, checked on every import."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _checker():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("check_layers", ROOT / "scripts" / "check_layers.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["check_layers"] = module
    spec.loader.exec_module(module)
    return module


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / "chaton_ops" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_the_source_keeps_the_layers() -> None:
    assert _checker().violations(ROOT / "src") == []


def test_core_importing_a_network_library_or_an_upper_layer_is_a_violation(tmp_path: Path) -> None:
    checker = _checker()
    source = _package(tmp_path, {
        "core/model.py": "import httpx\n\ndef f():\n    from chaton_ops.ops import backup\n",
        "core/typed.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import rich\n",
    })
    checker.OPS_ADAPTER_DEBT = {}
    found = checker.violations(source)
    assert any("core/model.py:1: core imports httpx" in line for line in found)
    assert any("core/model.py:4: core imports chaton_ops.ops" in line for line in found)
    assert not any("typed.py" in line for line in found)  # a type-only import costs nothing at run time


def test_an_adapter_importing_a_use_case_and_ops_importing_the_cli_are_violations(tmp_path: Path) -> None:
    checker = _checker()
    source = _package(tmp_path, {
        "adapters/journal.py": "from chaton_ops.ops.history import x\n",
        "ops/backup.py": "from ..cli.output import warn\n",
    })
    checker.OPS_ADAPTER_DEBT = {}
    found = checker.violations(source)
    assert any("adapters/journal.py:1: an adapter imports" in line for line in found)
    assert any("ops/backup.py:1: a use case imports chaton_ops.cli.output" in line for line in found)


def test_a_new_adapter_import_in_ops_fails_and_a_paid_debt_must_leave_the_list(tmp_path: Path) -> None:
    checker = _checker()
    source = _package(tmp_path, {"ops/check.py": "def f():\n    from chaton_ops.adapters.ssh import open_transport\n"})
    checker.OPS_ADAPTER_DEBT = {"ops.backup": frozenset({"restic"})}
    found = checker.violations(source)
    assert any("ops/check.py:2: a use case imports the adapter chaton_ops.adapters.ssh" in line for line in found)
    assert any("ops.backup no longer imports adapters.restic" in line for line in found)


def test_a_command_building_an_adapter_fails_unless_listed_and_a_composition_root_may(tmp_path: Path) -> None:
    checker = _checker()
    source = _package(tmp_path, {
        "cli/ping.py": "def ping():\n    from chaton_ops.adapters.hosts import HostPool\n",
        "cli/backup.py": "def dry():\n    from chaton_ops.adapters.restic import build_backup_argv\n",
        "ops/compose.py": "def on_hosts():\n    from chaton_ops.adapters.hosts import HostPool\n",
    })
    checker.OPS_ADAPTER_DEBT = {}
    checker.CLI_ADAPTER_DEBT = {"cli.backup": frozenset({"restic"}), "cli.vm": frozenset({"proxmox"})}
    found = checker.violations(source)
    assert any("cli/ping.py:2: a command imports the adapter chaton_ops.adapters.hosts" in line for line in found)
    assert not any("cli/backup.py" in line or "ops/compose.py" in line for line in found)
    assert any("cli.vm no longer imports adapters.proxmox: remove it from CLI_ADAPTER_DEBT" in line for line in found)
    assert len(found) == 2
