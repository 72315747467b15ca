#!/usr/bin/env python3
"""The layer contract of chaton_ops, checked on the source (every import, lazy ones inside functions too).

    cli  →  ops (use cases)  →  core (models, plans, ports)  ←  adapters

- core imports nothing of ops, cli or adapters, and none of the libraries that reach the outside
  world or the terminal (typer, rich, subprocess, paramiko, httpx, dnspython, proxmoxer, apprise);
- adapters import core and errors only (never ops or cli);
- ops never imports cli;
- cli reaches adapters only through the pairs listed in CLI_ADAPTER_DEBT (the CLI parses, calls one use
  case and renders: connections, the journal, locks and files are built by ops' composition roots);
  that list may only shrink too;
- ops reaches adapters only in its composition roots (COMPOSITION_ROOTS below: the modules that build
  the adapters a command uses and hand them to the use cases as ports), and through the pairs listed
  in OPS_ADAPTER_DEBT: each is a use case that still imports an adapter instead of receiving a port.
  The list may only shrink: a new pair fails the check, and so does a listed pair that is gone (so
  that the list stays true).

Run by `make lint` and by tests/unit/test_layers.py. Exit 1 with one line per violation.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

PACKAGE = "chaton_ops"
HEAVY = ("typer", "rich", "subprocess", "paramiko", "httpx", "dns", "proxmoxer", "apprise", "click")

# ops modules that build adapters for one command (or a few) and hand them down as ports
COMPOSITION_ROOTS = frozenset({"ops.backup_run", "ops.check_run", "ops.deploy_run", "ops.drill_run",
                               "ops.failover_run", "ops.repository_run", "ops.restore_run", "ops.compose",
                               "ops.status_run", "ops.vm.run"})

# cli module → adapters it still imports. Shrink this list; never grow it.
CLI_ADAPTER_DEBT: dict[str, frozenset[str]] = {}

# ops module → adapters it still imports. The list is empty (every use case takes ports from its
# composition root) and may not grow: a new pair fails the check.
OPS_ADAPTER_DEBT: dict[str, frozenset[str]] = {}


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(tree: ast.AST, module: str) -> Iterator[tuple[int, str]]:
    """(line, imported module) for every import, relative ones resolved, TYPE_CHECKING ones left out."""
    checking_lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for inner in node.body:
                checking_lines.update(range(inner.lineno, (inner.end_lineno or inner.lineno) + 1))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom) and node.lineno in checking_lines:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[: -node.level]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            yield node.lineno, name
            for alias in node.names:  # `from chaton_ops import adapters`
                yield node.lineno, f"{name}.{alias.name}"


def layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == PACKAGE else ""


def violations(source_root: Path) -> list[str]:
    package_root = source_root / PACKAGE
    found: list[str] = []
    # the layers whose adapter imports are listed: the list's name, the list, the message for one not listed
    debts = {
        "ops": ("OPS_ADAPTER_DEBT", OPS_ADAPTER_DEBT, "a use case imports the adapter {}: take a port of "
                "core/ports.py instead (the composition root builds adapters)"),
        "cli": ("CLI_ADAPTER_DEBT", CLI_ADAPTER_DEBT, "a command imports the adapter {}: call a use case of ops/ "
                "(its composition root builds the adapters)"),
    }
    used: dict[tuple[str, str], set[str]] = {}
    for path in sorted(package_root.rglob("*.py")):
        module = f"{PACKAGE}." + module_name(path, package_root) if path.name != "__init__.py" or \
            path.parent != package_root else PACKAGE
        short = module.removeprefix(f"{PACKAGE}.")
        layer = layer_of(module)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        where = path.relative_to(source_root)
        reported: set[tuple[int, str]] = set()
        for line, imported in imports_of(tree, module):
            target = layer_of(imported)
            top = imported.split(".")[0]
            if layer == "core":
                if target in ("ops", "cli", "adapters"):
                    found.append(f"{where}:{line}: core imports {imported} (core imports only core and errors)")
                elif top in HEAVY:
                    found.append(f"{where}:{line}: core imports {top} (core stays free of I/O and terminal libraries)")
            elif layer == "adapters" and target in ("ops", "cli"):
                found.append(f"{where}:{line}: an adapter imports {imported} (adapters know only core)")
            elif layer == "ops" and target == "cli":
                found.append(f"{where}:{line}: a use case imports {imported} (ops never imports the CLI)")
            elif layer in debts and target == "adapters" and imported.count(".") >= 2 \
                    and short not in COMPOSITION_ROOTS:
                _, debt, message = debts[layer]
                adapter = imported.split(".")[2]
                if adapter in debt.get(short, frozenset()):
                    used.setdefault((layer, short), set()).add(adapter)
                elif (line, adapter) not in reported:
                    reported.add((line, adapter))
                    found.append(f"{where}:{line}: {message.format(imported)}")
    for layer, (name, debt, _) in debts.items():
        for owner, adapters in sorted(debt.items()):
            for adapter in sorted(adapters - used.get((layer, owner), set())):
                found.append(f"scripts/check_layers.py: {owner} no longer imports adapters.{adapter}: "
                             f"remove it from {name}")
    return found


def main() -> int:
    source_root = Path(__file__).resolve().parent.parent / "src"
    problems = violations(source_root)
    for problem in problems:
        print(problem)
    if not problems:
        print("layers: cli → ops → core ← adapters holds")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
