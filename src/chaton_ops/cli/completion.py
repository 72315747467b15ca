"""`chaton completion SHELL`: the shell's completion script for chaton (commands, options, names)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

COMPLETE_VARIABLE = "_CHATON_COMPLETE"


class Shell(StrEnum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"


def completion(shell: Annotated[Shell, typer.Argument(help="bash, zsh or fish.")]) -> None:
    """Print the completion script of SHELL.

    bash: chaton completion bash > /etc/bash_completion.d/chaton ·
    zsh: chaton completion zsh > "${fpath[1]}/_chaton" ·
    fish: chaton completion fish > ~/.config/fish/completions/chaton.fish
    """
    from typer._completion_shared import get_completion_script

    typer.echo(get_completion_script(prog_name="chaton", complete_var=COMPLETE_VARIABLE, shell=shell.value))


def prepare_if_completing(environ: dict[str, str]) -> None:
    """The shell asks for completions through the environment: typer's completion classes are loaded
    only then (they cost every other command start-up time)."""
    if COMPLETE_VARIABLE in environ:
        from typer.completion import completion_init

        completion_init()
