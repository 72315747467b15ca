"""The exit-code policy (one table), and the one family of errors chaton raises.

Only the CLI layer turns errors into messages and exit codes; library code raises them and never
prints. Messages must never contain a secret's value: argv is masked before it reaches an error.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Literal


class ExitCode(IntEnum):
    """Documented exit codes (README, DESIGN.md)."""

    OK = 0
    FAILED = 1
    USAGE = 2
    PARTIAL = 3
    UNREACHABLE = 4
    INTERRUPTED = 130


class Verdict(StrEnum):
    """How a command ended; EXIT_CODES says which exit code each verdict gives."""

    OK = "ok"  # everything asked for was done (a step skipped on request counts as done)
    WARNING = "warning"  # done, with something to look at (a snapshot that misses unreadable files)
    PARTIAL = "partial"  # some targets succeeded, some failed or could not be reached
    FAILED = "failed"  # nothing succeeded, and not only because hosts could not be reached
    UNREACHABLE = "unreachable"  # nothing succeeded because no target could be reached
    USAGE = "usage"  # the command line or the inventory is wrong: nothing was run
    DECLINED = "declined"  # a destructive step was not confirmed: nothing was done
    INTERRUPTED = "interrupted"  # Ctrl-C
    OUTPUT_CLOSED = "output-closed"  # whoever read the output went away (`chaton … | head -1`)


# The exit-code policy of every command, in one place (README's table says the same).
EXIT_CODES: dict[Verdict, ExitCode] = {
    Verdict.OK: ExitCode.OK,
    Verdict.WARNING: ExitCode.PARTIAL,
    Verdict.PARTIAL: ExitCode.PARTIAL,
    Verdict.FAILED: ExitCode.FAILED,
    Verdict.UNREACHABLE: ExitCode.UNREACHABLE,
    Verdict.USAGE: ExitCode.USAGE,
    Verdict.DECLINED: ExitCode.FAILED,
    Verdict.INTERRUPTED: ExitCode.INTERRUPTED,
    Verdict.OUTPUT_CLOSED: ExitCode.OK,
}

# What happened to one target of a run (a service on a repository, a host, a repository).
TargetOutcome = Literal["ok", "skipped", "warning", "failed", "unreachable"]


# The verdict a bare exit code stands for, where one was given instead of a verdict.
_VERDICT_OF_CODE: dict[ExitCode, Verdict] = {
    ExitCode.OK: Verdict.OK,
    ExitCode.FAILED: Verdict.FAILED,
    ExitCode.USAGE: Verdict.USAGE,
    ExitCode.PARTIAL: Verdict.PARTIAL,
    ExitCode.UNREACHABLE: Verdict.UNREACHABLE,
    ExitCode.INTERRUPTED: Verdict.INTERRUPTED,
}


def exit_code_for(verdict: Verdict) -> ExitCode:
    return EXIT_CODES[verdict]


def verdict_of(outcomes: Iterable[TargetOutcome]) -> Verdict:
    """The verdict of a run from its targets' outcomes: any success next to a failure is partial; a run
    where nothing succeeded is unreachable when no target could be reached, else failed; no target is ok."""
    seen = set(outcomes)
    unknown = seen - {"ok", "skipped", "warning", "failed", "unreachable"}
    if unknown:
        raise ValueError(f"not a target outcome: {', '.join(sorted(unknown))}")
    succeeded = bool(seen & {"ok", "skipped", "warning"})
    if seen & {"failed", "unreachable"}:
        if succeeded:
            return Verdict.PARTIAL
        return Verdict.UNREACHABLE if seen == {"unreachable"} else Verdict.FAILED
    return Verdict.WARNING if "warning" in seen else Verdict.OK


def exit_code_of(outcomes: Iterable[TargetOutcome]) -> ExitCode:
    """The exit code of a run over targets (backup, check, ping, repo …): EXIT_CODES[verdict_of(outcomes)]."""
    return EXIT_CODES[verdict_of(outcomes)]


class ChatonError(Exception):
    """Base of every error chaton expects and reports without a traceback.

    A subclass says how it ends a command with `verdict`; its exit code comes from EXIT_CODES.
    """

    verdict: Verdict = Verdict.FAILED

    @property
    def exit_code(self) -> ExitCode:
        return EXIT_CODES[self.verdict]

    @exit_code.setter
    def exit_code(self, code: ExitCode) -> None:
        # for errors that set a code rather than a verdict: the code still comes from the table
        self.verdict = _VERDICT_OF_CODE[ExitCode(code)]

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UsageError(ChatonError):
    """Bad arguments on the command line."""

    verdict = Verdict.USAGE


class ConfirmationRequired(UsageError):
    """A destructive step needs a yes, and there is no terminal to ask on and no --yes."""


class Declined(ChatonError):
    """The user did not confirm a destructive step: nothing was done."""

    verdict = Verdict.DECLINED


@dataclass(frozen=True)
class Problem:
    """One validation problem, located in a source file."""

    message: str
    path: str = ""
    file: str = ""
    line: int | None = None
    column: int | None = None

    def location(self) -> str:
        parts = [self.file] if self.file else []
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)

    def render(self) -> str:
        """One line, always: a control character from the file (a key holding a newline, an escape
        sequence) is shown escaped, never sent to the terminal."""
        where = self.location()
        at = f"at '{self.path}': " if self.path else ""
        return _escape_controls(f"{where}: {at}{self.message}" if where else f"{at}{self.message}")


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _escape_controls(text: str) -> str:
    return _CONTROL.sub(lambda found: found.group().encode("unicode_escape").decode("ascii"), text)


class InventoryError(ChatonError):
    """The inventory (or a playbook) cannot be used; carries every problem found."""

    verdict = Verdict.USAGE

    def __init__(self, problems: list[Problem] | Problem | str) -> None:
        if isinstance(problems, str):
            problems = [Problem(problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems = problems
        count = len(problems)
        head = f"{count} problem{'s' if count != 1 else ''} in the inventory"
        super().__init__(head + ":\n" + "\n".join("  " + p.render() for p in problems))


class SecretError(ChatonError):
    """A secret reference cannot be resolved (never carries the secret's value)."""


class ConnectError(ChatonError):
    """A host could not be reached (refused, timed out, host key rejected, auth failed)."""

    verdict = Verdict.UNREACHABLE

    def __init__(self, host: str, cause: str) -> None:
        super().__init__(f"{host}: {cause}")
        self.host = host
        self.cause = cause


class CommandFailed(ChatonError):
    """A command on a host exited non-zero. argv is already masked."""

    def __init__(self, host: str, argv: list[str], returncode: int, stderr_tail: str = "") -> None:
        self.host = host
        self.argv = argv
        self.returncode = returncode
        self.stderr_tail = stderr_tail
        shown = shlex.join(argv)  # pasted into a shell, it runs exactly this argv
        message = f"{host}: `{shown}` exited with {returncode}"
        if stderr_tail.strip():
            message += ": " + stderr_tail.strip()
        super().__init__(message)


class PathError(ChatonError):
    """A file chaton was to read or write is not one it may use: a device, a folder, a FIFO, too large,
    or in a folder that does not exist."""


class LockError(ChatonError):
    """Another run holds the lock."""


class JournalError(ChatonError):
    """The journal cannot be opened, read or written; names the file and what to do."""


class DnsError(ChatonError):
    """A DNS server refused, failed or did not answer. `rcode` is the server's answer code when it gave
    one (NXRRSET, REFUSED, NOTAUTH…), BADSIG for a rejected TSIG signature; never carries the key."""

    def __init__(self, message: str, *, rcode: str | None = None, unreachable: bool = False) -> None:
        super().__init__(message)
        self.rcode = rcode
        self.unreachable = unreachable
        self.verdict = Verdict.UNREACHABLE if unreachable else Verdict.FAILED


class ProxmoxError(ChatonError):
    """The Proxmox VE API refused or failed a request. `pve_message` is PVE's own text, as PVE wrote it."""

    def __init__(self, cluster: str, message: str, *, status: int | None = None,
                 pve_message: str | None = None) -> None:
        super().__init__(f"{cluster}: {message}")
        self.cluster = cluster
        self.detail = message  # without the cluster's name
        self.status = status
        self.pve_message = pve_message


class ProxmoxAuthError(ProxmoxError):
    """The API token was refused: a configuration problem (token id or secret), exit 2."""

    verdict = Verdict.USAGE


class NodeOffline(ProxmoxError):
    """The cluster answered, but the node a request is for is offline."""

    verdict = Verdict.UNREACHABLE


class QuorumLost(ProxmoxError):
    """The cluster has no quorum: /etc/pve is read-only and PVE refuses every change."""


class TaskFailed(ProxmoxError):
    """A PVE task ended with an exit status other than OK; carries the last lines of its log."""

    def __init__(self, cluster: str, message: str, *, upid: str, exitstatus: str | None,
                 log_tail: tuple[str, ...] = ()) -> None:
        super().__init__(cluster, message, pve_message=exitstatus)
        self.upid = upid
        self.exitstatus = exitstatus
        self.log_tail = log_tail
