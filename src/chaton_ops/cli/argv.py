"""Global options written after the subcommand (`chaton backup --all --dry-run`), moved in front of it.

The move reads argv the way click will, token by token, from the command tree itself: a command's own
options keep their place and their values, a subcommand name is recognised where click will look for
it, and a global option is moved only whole (with its value). An option whose value is missing
(`chaton inventory check -i`: nothing follows; `backup --metrics-file --json`: an option follows) is a
usage error, never a chance to swallow the next word: moving options can therefore never change which
command runs, and `hoist_global_options` checks that it did not.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from chaton_ops.errors import UsageError

HELP_OPTIONS = ("-h", "--help")

# name (`--inventory`, `-i`) → (how many words follow it as its value (0 for a flag or a counter),
# its long name for messages)
OptionTable = Mapping[str, tuple[int, str]]


def hoist_global_options(argv: Sequence[str], root: Any) -> list[str]:
    """argv with the root command's options moved in front of the subcommand; stops at `--`.

    `root` is the click command of the application (its `params` are the global options, its
    `commands` the subcommands). Raises UsageError when an option lacks its value.
    """
    front, rest, path = _split(list(argv), root)
    hoisted = front + rest
    _, _, path_after = _split(hoisted, root)
    if path_after != path:  # cannot happen by construction; a guard, not a code path
        raise UsageError(f"cannot tell which command to run from: {shlex.join(argv)}")
    return hoisted


def command_path(argv: Sequence[str], root: Any) -> list[str]:
    """The subcommand names argv selects (`['inventory', 'check']`), as click will read them."""
    return _split(list(argv), root)[2]


def _split(argv: list[str], root: Any) -> tuple[list[str], list[str], list[str]]:
    global_options = _options_of(root)
    front: list[str] = []
    rest: list[str] = []
    path: list[str] = []
    command = root
    index = 0
    while index < len(argv):
        token = argv[index]
        if token == "--":
            (front if command is root else rest).extend(argv[index:])
            break
        if _is_option(token):
            own = global_options if command is root else _options_of(command)

            def known(word: str, own: OptionTable = own) -> bool:
                return _words_taken(word, own) is not None or _words_taken(word, global_options) is not None

            words = _words_taken(token, own)
            if words is not None:
                # the command's own option (or, before any subcommand, a root option) stays in place
                _require_values(token, argv[index + 1:index + 1 + words], words, own, known)
                (front if command is root else rest).extend(argv[index:index + 1 + words])
                index += 1 + words
                continue
            words = _words_taken(token, global_options)
            if words is not None:
                _require_values(token, argv[index + 1:index + 1 + words], words, global_options, known)
                front.extend(argv[index:index + 1 + words])
                index += 1 + words
                continue
            (front if command is root else rest).append(token)  # unknown: click says so
            index += 1
            continue
        subcommands = getattr(command, "commands", None)
        if subcommands is not None:
            if token not in subcommands:  # an unknown command: click reports it, nothing is moved past it
                rest.extend(argv[index:])
                break
            command = subcommands[token]
            path.append(token)
        rest.append(token)
        index += 1
    return front, rest, path


def _options_of(command: Any) -> dict[str, tuple[int, str]]:
    table = {name: (0, "--help") for name in HELP_OPTIONS}
    for param in getattr(command, "params", ()):
        if getattr(param, "param_type_name", "") != "option":
            continue
        words = 0 if (param.is_flag or param.count) else max(1, param.nargs)
        names = (*param.opts, *param.secondary_opts)
        long_name = max(names, key=len)
        for name in names:
            table[name] = (words, long_name)
    return table


def _is_option(token: str) -> bool:
    return token.startswith("-") and len(token) > 1 and token != "--"


def _words_taken(token: str, options: OptionTable) -> int | None:
    """How many of the following words `token` takes if it is one of `options`, else None.

    `--name=value` and `-xVALUE` carry their value; `-qv` is a run of flags (all of them in `options`).
    """
    if token.startswith("--"):
        name, attached = token.split("=", 1)[0], "=" in token
        if name not in options:
            return None
        return 0 if attached else options[name][0]
    if token in options:
        return options[token][0]
    first = token[:2]
    if first not in options:
        return None
    if options[first][0]:
        return 0  # `-iPATH`: the value is attached
    # a run of single-letter flags: each must be a flag here, else it is not ours to move
    return 0 if all(options.get(f"-{letter}", (None,))[0] == 0 for letter in token[1:]) else None


def _require_values(token: str, values: list[str], wanted: int, options: OptionTable,
                    known: Callable[[str], bool]) -> None:
    """An option's value may not be missing, nor be `--` or an option chaton knows: that is a value
    forgotten, and taking the next word would run something else than what was typed."""
    if wanted == 0 or token.startswith("--") and "=" in token:
        return
    forgotten = [value for value in values if value == "--" or (_is_option(value) and known(value))]
    if len(values) == wanted and not forgotten:
        return
    if len(values) < wanted or forgotten[0] == "--":
        raise UsageError(f"option {token} needs a value")
    long_name = options[token][1] if token in options else token
    raise UsageError(f"option {token} needs a value, not the option {forgotten[0]} "
                     f"(a value that is itself an option is written {long_name}=VALUE)")
