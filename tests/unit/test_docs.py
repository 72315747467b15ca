"""The docs carried by the project: generated reference pages are current, every command has help and
is documented."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "scripts" / "gen_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_docs"] = module
    spec.loader.exec_module(module)
    return module


def test_the_generated_reference_pages_are_current() -> None:
    for path, text in _generator().pages().items():
        assert path.read_text(encoding="utf-8") == text, f"{path} is stale: run python scripts/gen_docs.py"


def test_every_command_and_option_has_help() -> None:
    for name, command in _generator().all_commands():
        if not name:
            continue
        assert (command.help or "").strip(), f"chaton {name} has no help"
        for param in command.params:
            if param.param_type_name == "option" and not param.hidden:
                assert (param.help or "").strip(), f"chaton {name} {param.opts[0]} has no help"


def test_every_command_has_a_docs_page_beside_the_generated_one() -> None:
    written = "\n".join(path.read_text(encoding="utf-8") for path in [ROOT / "README.md", *(ROOT / "docs").rglob("*.md")]
                        if path.name not in ("commands.md", "inventory-fields.md"))
    generated = (ROOT / "docs" / "reference" / "commands.md").read_text(encoding="utf-8")
    for name, _command in _generator().all_commands():
        if not name:
            continue
        assert f"## chaton {name}\n" in generated
        assert f"chaton {name}" in written, f"chaton {name} is not described in README.md or docs/"


def test_the_architecture_page_names_every_layer_and_module_folder() -> None:
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    for folder in ("cli/", "ops/", "core/", "adapters/", "core/ports.py", "ops/engine.py", "core/runbook.py"):
        assert folder in page
