"""Global options after the subcommand: moving them never changes which command runs.

The truth is click's own reading of argv (`click_reading`); every command of the application, every
global option in every spelling, at every position after every part of the command path."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import pytest
import typer

from chaton_ops.cli.argv import command_path, hoist_global_options
from chaton_ops.cli.main import app, main
from chaton_ops.errors import ExitCode, UsageError

ROOT = typer.main.get_command(app)
EXAMPLE = str(Path(__file__).parents[3] / "inventory" / "example.yml")

# each global option in every spelling click accepts, with the root parameter it must set
GLOBAL_SPELLINGS: list[tuple[list[str], str, Any]] = [
    (["--json"], "json_output", True),
    (["-q"], "quiet", True),
    (["--quiet"], "quiet", True),
    (["--dry-run"], "dry_run", True),
    (["--yes"], "yes", True),
    (["-y"], "yes", True),
    (["-v"], "verbose", 1),
    (["-vv"], "verbose", 2),
    (["-qy"], "yes", True),
    (["-i", "inv.yml"], "inventory", "inv.yml"),
    (["--inventory", "inv.yml"], "inventory", "inv.yml"),
    (["--inventory=inv.yml"], "inventory", "inv.yml"),
    (["-iinv.yml"], "inventory", "inv.yml"),
    (["--inventory=-odd.yml"], "inventory", "-odd.yml"),
]


def every_command_path() -> list[list[str]]:
    paths: list[list[str]] = []

    def walk(command: Any, path: list[str]) -> None:
        if path:
            paths.append(path)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*path, name])

    walk(ROOT, [])
    return paths


def click_reading(argv: list[str], root: Any = ROOT) -> tuple[list[str], dict[str, Any]]:
    """(the command path, the root's parameters) as click itself parses argv."""
    ctx = root.make_context("chaton", list(argv), resilient_parsing=True)
    params = dict(ctx.params)
    path: list[str] = []
    command = root
    while getattr(command, "commands", None):
        rest = [*ctx._protected_args, *ctx.args]
        if not rest:
            break
        name, sub, rest = command.resolve_command(ctx, rest)
        if sub is None or name is None:
            break
        path.append(name)
        command = sub
        ctx = sub.make_context(name, rest, parent=ctx, resilient_parsing=True)
    return path, params


@pytest.mark.parametrize("path", every_command_path(), ids=" ".join)
def test_a_global_option_anywhere_after_the_command_runs_that_command_with_the_option(path: list[str]) -> None:
    for spelling, parameter, value in GLOBAL_SPELLINGS:
        for position in range(1, len(path) + 1):
            argv = [*path[:position], *spelling, *path[position:]]

            hoisted = hoist_global_options(argv, ROOT)

            found_path, params = click_reading(hoisted)
            assert found_path == path, (argv, hoisted)
            assert params[parameter] == value, (argv, hoisted)


@pytest.mark.parametrize("path", every_command_path(), ids=" ".join)
def test_a_global_option_whose_value_is_forgotten_is_a_usage_error(path: list[str]) -> None:
    for option in ("-i", "--inventory"):
        forgotten = [[*path, option], [*path, option, "--json"], [*path, option, "--", "x"]]
        forgotten += [[*path[:k], option, "-q", *path[k:]] for k in range(1, len(path) + 1)]
        for argv in forgotten:
            with pytest.raises(UsageError, match=f"^option {option} needs a value"):
                hoist_global_options(argv, ROOT)


def test_inventory_check_with_a_forgotten_value_is_a_usage_error_and_runs_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CHATON_JOURNAL", str(tmp_path / "journal.sqlite3"))
    monkeypatch.setenv("CHATON_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("CHATON_INVENTORY", EXAMPLE)

    code = main(["inventory", "check", "-i"])

    out, err = capsys.readouterr()
    assert code == ExitCode.USAGE
    assert err == "error: option -i needs a value\n"
    assert out == ""
    assert not (tmp_path / "journal.sqlite3").exists() and not (tmp_path / "state").exists()


def test_the_value_of_a_global_option_before_the_command_is_taken_as_typed() -> None:
    # `chaton -i inventory check` names the inventory "inventory" (a directory name that is the default)
    assert click_reading(hoist_global_options(["-i", "inventory", "check"], ROOT)) == (
        ["check"], pytest.approx(click_reading(["-i", "inventory", "check"])[1]))
    assert command_path(["-i", "inventory", "check"], ROOT) == ["check"]
    assert command_path(["inventory", "check", "-i", "inventory"], ROOT) == ["inventory", "check"]


def test_a_command_option_keeps_its_place_and_its_value() -> None:
    hoisted = hoist_global_options(["backup", "--jobs", "4", "-q", "--host", "web", "--metrics-file=-m"], ROOT)

    assert hoisted == ["-q", "backup", "--jobs", "4", "--host", "web", "--metrics-file=-m"]


def test_nothing_after_double_dash_or_an_unknown_command_is_moved() -> None:
    assert hoist_global_options(["backup", "--json", "--", "--yes"], ROOT) == ["--json", "backup", "--", "--yes"]
    assert hoist_global_options(["nosuch", "--json"], ROOT) == ["nosuch", "--json"]
    assert hoist_global_options(["backup", "--inventory=a.yml"], ROOT) == ["--inventory=a.yml", "backup"]


def test_an_option_the_subcommand_defines_itself_is_the_subcommand_s() -> None:
    demo = typer.Typer()
    seen: dict[str, Any] = {}

    @demo.callback()
    def root(quiet: Annotated[bool, typer.Option("-q")] = False) -> None:
        seen["root quiet"] = quiet

    @demo.command()
    def run(quiet: Annotated[bool, typer.Option("-q")] = False) -> None:
        seen["run quiet"] = quiet

    @demo.command()
    def other() -> None:
        pass

    command = typer.main.get_command(demo)

    assert hoist_global_options(["run", "-q"], command) == ["run", "-q"]
    assert hoist_global_options(["other", "-q"], command) == ["-q", "other"]


@pytest.mark.parametrize(("argv", "option"), [
    (["backup", "www", "--metrics-file", "--json"], "--metrics-file"),
    (["backup", "--host", "--all"], "--host"),
    (["check", "--via", "--no-integrity"], "--via"),
    (["check", "--via", "-q", "main"], "--via"),
    (["check", "--via", "-i", "x.yml"], "--via"),
    (["ping", "--jobs", "--"], "--jobs"),
    (["snapshots", "-r", "-q"], "-r"),
    (["history", "--limit", "--json"], "--limit"),
])
def test_a_command_option_whose_value_is_forgotten_is_a_usage_error(argv: list[str], option: str) -> None:
    # the next word is an option chaton knows: taking it as the value would do something else than typed
    with pytest.raises(UsageError, match=f"^option {option} needs a value"):
        hoist_global_options(argv, ROOT)


def test_a_value_that_merely_starts_with_a_dash_is_left_to_the_command() -> None:
    assert hoist_global_options(["check", "--lock-wait", "-1"], ROOT) == ["check", "--lock-wait", "-1"]
    assert hoist_global_options(["backup", "-i", "-odd.yml", "--all"], ROOT) == ["-i", "-odd.yml", "backup", "--all"]
