"""The chaton command as a whole: help everywhere, exit codes, JSON, global options anywhere."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer

from chaton_ops.cli.main import app, main
from chaton_ops.errors import ExitCode

EXAMPLE = str(Path(__file__).parents[3] / "inventory" / "example.yml")


def every_command_path() -> list[list[str]]:
    """Every command and subcommand of the Typer app, found by walking it, so new commands are covered."""
    paths: list[list[str]] = []

    def walk(command: Any, path: list[str]) -> None:
        paths.append(path)
        # typer's click (vendored or not) — a group is what has subcommands
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return paths


@pytest.fixture(autouse=True)
def isolated_journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "journal.sqlite3"
    monkeypatch.setenv("CHATON_JOURNAL", str(path))
    monkeypatch.delenv("CHATON_INVENTORY", raising=False)
    return path


def test_the_walk_finds_the_inventory_and_history_commands() -> None:
    found = {" ".join(path) for path in every_command_path()}
    assert {"", "inventory", "inventory check", "inventory show", "inventory schema", "history"} <= found


@pytest.mark.parametrize("path", every_command_path(), ids=lambda p: " ".join(p) or "chaton")
def test_every_command_has_help_that_exits_0(path: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code = main([*path, "--help"])

    out, _ = capsys.readouterr()
    assert code == ExitCode.OK
    assert "Usage:" in out


def test_chaton_without_arguments_prints_help_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == ExitCode.OK
    assert "inventory" in capsys.readouterr().out


def test_an_unknown_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inventory", "check", "--no-such-option"]) == ExitCode.USAGE
    assert "Traceback" not in capsys.readouterr().err


def test_an_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["no-such-command"]) == ExitCode.USAGE
    assert "Traceback" not in capsys.readouterr().err


def test_version_prints_the_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == ExitCode.OK
    assert capsys.readouterr().out.startswith("chaton ")


def test_global_options_are_accepted_after_the_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["inventory", "check", "--json", "-i", EXAMPLE, "-q"])

    out, _ = capsys.readouterr()
    assert code == ExitCode.OK
    assert json.loads(out)["ok"] is True


def test_a_missing_inventory_gives_exit_2_naming_the_path(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.yml"

    code = main(["inventory", "check", str(missing)])

    err = capsys.readouterr().err
    assert code == ExitCode.USAGE
    assert f"{missing}: no such file or directory" in err
    assert "Traceback" not in err


def test_the_default_inventory_location_is_explained_when_absent(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)

    assert main(["inventory"]) == ExitCode.USAGE
    assert "CHATON_INVENTORY" in capsys.readouterr().err


def test_the_inventory_environment_variable_is_used_without_i(monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CHATON_INVENTORY", EXAMPLE)

    assert main(["inventory", "check", "--json"]) == ExitCode.OK
    assert json.loads(capsys.readouterr().out)["files"] == [EXAMPLE]
