"""The one family of errors chaton raises, and the exit codes they map to.

Only the CLI layer turns these into messages and exit codes; library code raises them and never
prints. Messages must never contain a secret's value: argv is masked before it reaches an error.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from enum import IntEnum


class ExitCode(IntEnum):
    """Documented exit codes (README, DESIGN.md)."""

    OK = 0
    FAILED = 1
    USAGE = 2
    PARTIAL = 3
    UNREACHABLE = 4


class ChatonError(Exception):
    """Base of every error chaton expects and reports without a traceback."""

    exit_code: ExitCode = ExitCode.FAILED

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UsageError(ChatonError):
    """Bad arguments on the command line."""

    exit_code = ExitCode.USAGE


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

    exit_code = ExitCode.USAGE

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

    exit_code = ExitCode.FAILED


class ConnectError(ChatonError):
    """A host could not be reached (refused, timed out, host key rejected, auth failed)."""

    exit_code = ExitCode.UNREACHABLE

    def __init__(self, host: str, cause: str) -> None:
        super().__init__(f"{host}: {cause}")
        self.host = host
        self.cause = cause


class CommandFailed(ChatonError):
    """A command on a host exited non-zero. argv is already masked."""

    exit_code = ExitCode.FAILED

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


class LockError(ChatonError):
    """Another run holds the lock."""

    exit_code = ExitCode.FAILED


class JournalError(ChatonError):
    """The journal cannot be opened, read or written; names the file and what to do."""

    exit_code = ExitCode.FAILED


class DnsError(ChatonError):
    """A DNS server refused, failed or did not answer. `rcode` is the server's answer code when it gave
    one (NXRRSET, REFUSED, NOTAUTH…), BADSIG for a rejected TSIG signature; never carries the key."""

    def __init__(self, message: str, *, rcode: str | None = None, unreachable: bool = False) -> None:
        super().__init__(message)
        self.rcode = rcode
        self.unreachable = unreachable
        self.exit_code = ExitCode.UNREACHABLE if unreachable else ExitCode.FAILED


class ProxmoxError(ChatonError):
    """The Proxmox VE API refused or failed a request. `pve_message` is PVE's own text, as PVE wrote it."""

    exit_code = ExitCode.FAILED

    def __init__(self, cluster: str, message: str, *, status: int | None = None,
                 pve_message: str | None = None) -> None:
        super().__init__(f"{cluster}: {message}")
        self.cluster = cluster
        self.detail = message  # without the cluster's name
        self.status = status
        self.pve_message = pve_message


class ProxmoxAuthError(ProxmoxError):
    """The API token was refused: a configuration problem (token id or secret), exit 2."""

    exit_code = ExitCode.USAGE


class NodeOffline(ProxmoxError):
    """The cluster answered, but the node a request is for is offline."""

    exit_code = ExitCode.UNREACHABLE


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
