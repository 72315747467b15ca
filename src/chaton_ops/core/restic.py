"""restic's command line as a pure model: what chaton asks of restic and what its answers mean.

- argv builders: small pure functions returning lists (no password ever: it travels in the
  environment of the command, see ops/restic_calls.py `run_restic`);
- ONE exit-code table (`classify`, `ResticRun`, `ResticError`) for every supported version;
- the pipelines of a database dump into restic (and back) with their exit-status marker;
- parsers of restic's `--json` output (0.14 and newer) into small frozen models: core/restic_output.py.

Version differences live in one table, FEATURE_MIN_VERSION. Running restic is not here: it goes
through the Transport port (ops/restic_calls.py: `run_restic`, the lock wait, `restic version` once
per host).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Literal

from chaton_ops.core.ports import CommandResult
from chaton_ops.errors import ChatonError

# ---------------------------------------------------------------------------------------------
# Versions and features
# ---------------------------------------------------------------------------------------------

Version = tuple[int, int, int]


class Feature(Enum):
    JSON_INIT = "init --json"
    JSON_RESTORE = "restore --json (status lines while restoring, then a summary)"
    RESTORE_DELETE = "restore --delete (remove files absent from the snapshot)"
    RESTORE_OVERWRITE = "restore --overwrite always|if-changed|if-newer|never"
    RESTORE_DRY_RUN = "restore --dry-run"
    LONG_SNAPSHOT_ID_IN_SUMMARY = "full snapshot id in the backup summary"
    EXIT_CODES_10_TO_12 = "exit codes 10 (no repository), 11 (locked), 12 (wrong password)"
    STDIN_FROM_COMMAND = "backup --stdin-from-command (a failing dump makes no snapshot)"
    SNAPSHOT_SUMMARY = "snapshots --json carries a size summary"
    RETRY_LOCK = "--retry-lock"
    GROUP_BY_EMPTY = "--group-by ''"


FEATURE_MIN_VERSION: dict[Feature, Version] = {
    Feature.JSON_INIT: (0, 15, 0),
    Feature.JSON_RESTORE: (0, 16, 0),
    Feature.RESTORE_DELETE: (0, 17, 0),
    Feature.RESTORE_OVERWRITE: (0, 17, 0),
    Feature.RESTORE_DRY_RUN: (0, 17, 0),
    Feature.LONG_SNAPSHOT_ID_IN_SUMMARY: (0, 15, 0),
    Feature.RETRY_LOCK: (0, 16, 0),
    Feature.GROUP_BY_EMPTY: (0, 16, 0),
    Feature.EXIT_CODES_10_TO_12: (0, 17, 0),
    Feature.STDIN_FROM_COMMAND: (0, 17, 0),
    Feature.SNAPSHOT_SUMMARY: (0, 17, 0),
}

OLDEST_SUPPORTED: Version = (0, 14, 0)

_VERSION_RE = re.compile(r"restic\s+(\d+)\.(\d+)\.(\d+)")


def parse_version(text: str) -> Version:
    """`restic 0.14.0 compiled with go1.19.8 on linux/amd64` → (0, 14, 0)."""
    match = _VERSION_RE.search(text)
    if not match:
        raise ValueError(f"not a restic version line: {text.strip()[:80]!r}")
    major, minor, patch = (int(part) for part in match.groups())
    return (major, minor, patch)


def supports(version: Version, feature: Feature) -> bool:
    return version >= FEATURE_MIN_VERSION[feature]


def format_version(version: Version) -> str:
    return ".".join(str(part) for part in version)


# ---------------------------------------------------------------------------------------------
# argv builders (pure)
# ---------------------------------------------------------------------------------------------


def build_version_argv(binary: str = "restic") -> list[str]:
    return [binary, "version"]


def _repo(binary: str, repository_url: str) -> list[str]:
    return [binary, "--repo", repository_url]


def build_init_argv(binary: str, repository_url: str, version: Version) -> list[str]:
    argv = [*_repo(binary, repository_url), "init"]
    return argv + (["--json"] if supports(version, Feature.JSON_INIT) else [])


def build_backup_argv(
    binary: str,
    repository_url: str,
    *,
    paths: Sequence[str],
    host: str,
    tags: Sequence[str],
    excludes: Sequence[str] = (),
    time: dt.datetime | None = None,
) -> list[str]:
    """`restic backup --json` of paths. `--host` is the inventory host name (failover restores by it)."""
    argv = [*_repo(binary, repository_url), "backup", "--json", "--host", host]
    for tag in tags:
        argv += ["--tag", tag]
    for pattern in excludes:
        argv += ["--exclude", pattern]
    if time is not None:
        argv += ["--time", time.strftime("%Y-%m-%d %H:%M:%S")]
    return [*argv, "--", *paths]


def build_stdin_backup_argv(
    binary: str,
    repository_url: str,
    *,
    filename: str,
    host: str,
    tags: Sequence[str],
    command: Sequence[str] | None = None,
) -> list[str]:
    """`restic backup --stdin` (or `--stdin-from-command -- COMMAND…` when `command` is given)."""
    argv = [*_repo(binary, repository_url), "backup", "--json", "--host", host]
    for tag in tags:
        argv += ["--tag", tag]
    if command is None:
        return [*argv, "--stdin", "--stdin-filename", filename]
    return [*argv, "--stdin-filename", filename, "--stdin-from-command", "--", *command]


def build_forget_argv(
    binary: str,
    repository_url: str,
    *,
    tags: Sequence[str],
    keep_flags: Sequence[str],
    prune: bool,
    group_by: str = "host,tags",
) -> list[str]:
    """`restic forget` limited to snapshots carrying one of `tags` (several `--tag`: any of them)."""
    if not keep_flags:
        raise ValueError("forget needs at least one --keep-* rule: without one restic would keep nothing")
    argv = [*_repo(binary, repository_url), "forget", "--json", "--group-by", group_by]
    for tag in tags:
        argv += ["--tag", tag]
    argv += list(keep_flags)
    return argv + (["--prune"] if prune else [])


def build_forget_ids_argv(binary: str, repository_url: str, snapshot_ids: Sequence[str]) -> list[str]:
    return [*_repo(binary, repository_url), "forget", *snapshot_ids]


def build_prune_argv(binary: str, repository_url: str, *, max_unused: str | None = None) -> list[str]:
    """`restic prune`: removes the data no snapshot references any more (forgotten snapshots'), repacking
    partly used packs until at most `max_unused` stays unused (restic's default: 5%)."""
    argv = [*_repo(binary, repository_url), "prune"]
    return argv + (["--max-unused", max_unused] if max_unused is not None else [])


def parse_max_unused(text: str) -> str:
    """`text` if restic's `prune --max-unused` accepts it, else ValueError saying what it takes: a size
    (bytes, or with a unit k, m, g, t), a percentage of the repository (0–100 %), or `unlimited`."""
    expected = "expected a size such as 500M or 2G, a percentage such as 5% (0 to 100), or unlimited"
    if text == "unlimited":
        return text
    if match := re.fullmatch(r"(\d{1,3}(?:\.\d{1,6})?)%", text):
        if not 0 <= float(match[1]) <= 100:
            raise ValueError(f"the percentage must be from 0 to 100 ({expected})")
        return text
    if re.fullmatch(r"\d{1,15}[kKmMgGtT]?", text):
        return text
    raise ValueError(expected)


def build_snapshots_argv(binary: str, repository_url: str, *, tags: Sequence[str] = (),
                         host: str | None = None) -> list[str]:
    argv = [*_repo(binary, repository_url), "snapshots", "--json"]
    for tag in tags:
        argv += ["--tag", tag]
    return argv + (["--host", host] if host else [])


_SUBSET_SIZE_UNITS = {"b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_read_data_subset(text: str) -> str:
    """`text` if restic's `check --read-data-subset` accepts it, else ValueError saying what it takes.

    n/t (1 ≤ n ≤ t: the n-th of t parts), x% (0 < x ≤ 100) or a size with a unit (500M, 2G); the
    forms restic 0.14 and newer accept (checked against restic 0.14.0).
    """
    expected = "expected n/t (1 ≤ n ≤ t), x% (0 < x ≤ 100) or a size such as 500M or 2G"
    if match := re.fullmatch(r"(\d{1,9})/(\d{1,9})", text):
        part, parts = int(match[1]), int(match[2])
        if not 1 <= part <= parts:
            raise ValueError(f"n/t needs 1 ≤ n ≤ t ({expected})")
        return text
    if match := re.fullmatch(r"(\d{1,3}(?:\.\d{1,6})?)%", text):
        if not 0 < float(match[1]) <= 100:
            raise ValueError(f"x% needs 0 < x ≤ 100 ({expected})")
        return text
    if match := re.fullmatch(r"(\d{1,15})([bkmgtBKMGT])", text):
        size = int(match[1]) * _SUBSET_SIZE_UNITS[match[2].lower()]
        if not 0 < size < 1 << 63:
            raise ValueError(f"the size must be above 0 and below 8 EiB ({expected})")
        return text
    raise ValueError(expected)


def build_check_argv(binary: str, repository_url: str, *, read_data_subset: str | None = None) -> list[str]:
    argv = [*_repo(binary, repository_url), "check"]
    return argv + (["--read-data-subset", read_data_subset] if read_data_subset else [])


def build_unlock_argv(binary: str, repository_url: str, *, remove_all: bool = False) -> list[str]:
    return [*_repo(binary, repository_url), "unlock"] + (["--remove-all"] if remove_all else [])


def build_list_locks_argv(binary: str, repository_url: str) -> list[str]:
    return [*_repo(binary, repository_url), "list", "locks", "--no-lock"]


def build_dump_argv(binary: str, repository_url: str, snapshot_id: str, path: str) -> list[str]:
    return [*_repo(binary, repository_url), "dump", snapshot_id, path]


def build_ls_argv(binary: str, repository_url: str, snapshot: str, *, tags: Sequence[str] = (),
                  paths: Sequence[str] = ()) -> list[str]:
    """`restic ls --json SNAPSHOT`: the snapshot (first line) then every node with type, mode, size, owner.

    With `snapshot` "latest", `tags` and `paths` choose it: the newest snapshot carrying the tags whose
    paths are exactly `paths` (so a service's database dumps, tagged alike, are not taken)."""
    argv = [*_repo(binary, repository_url), "ls", "--json", "--no-lock"]
    for tag in tags:
        argv += ["--tag", tag]
    for path in paths:
        argv += ["--path", path]
    return [*argv, "--", snapshot]


def build_stats_argv(binary: str, repository_url: str, snapshot_id: str) -> list[str]:
    """`restic stats --mode restore-size`: bytes and files a restore of the snapshot writes."""
    return [*_repo(binary, repository_url), "stats", "--json", "--no-lock", "--mode", "restore-size", "--",
            snapshot_id]


RestoreOverwrite = Literal["always", "if-changed", "if-newer", "never"]


def build_restore_argv(
    binary: str,
    repository_url: str,
    snapshot_id: str,
    *,
    target: str,
    version: Version,
    includes: Sequence[str] = (),
    verify: bool = True,
    delete: bool = False,
    overwrite: RestoreOverwrite | None = None,
    dry_run: bool = False,
) -> list[str]:
    """`restic restore SNAPSHOT --target DIR`, with `--json` where restic prints JSON progress.

    `includes` restricts the restore to those snapshot paths. `delete`, `overwrite` and `dry_run`
    exist from restic 0.17 on: asking for them on an older version is a programming error (ValueError),
    the callers consult `supports()` first. `--verify` (restic re-reads every restored file and
    checks its content against the snapshot) cannot go with `--dry-run`.
    """
    wanted = [(delete, Feature.RESTORE_DELETE), (overwrite is not None, Feature.RESTORE_OVERWRITE),
              (dry_run, Feature.RESTORE_DRY_RUN)]
    for asked, feature in wanted:
        if asked and not supports(version, feature):
            raise ValueError(f"restic {format_version(version)} has no {feature.value}")
    if dry_run and verify:
        raise ValueError("restic cannot --verify a --dry-run")
    argv = [*_repo(binary, repository_url), "restore"]
    if supports(version, Feature.JSON_RESTORE):
        argv.append("--json")
    argv += ["--target", target]
    for path in includes:
        argv += ["--include", path]
    if verify:
        argv.append("--verify")
    if delete:
        argv.append("--delete")
    if overwrite is not None:
        argv += ["--overwrite", overwrite]
    if dry_run:
        argv.append("--dry-run")
    return [*argv, "--", snapshot_id]


PIPE_STATUS_MARKER = "chaton-pipe-status:"


def build_dump_pipeline_argv(dump_command: Sequence[str], restic_argv: Sequence[str]) -> list[str]:
    """`bash -c` running DUMP | RESTIC, both quoted with shlex, reporting both exit codes.

    The password is dropped from the dump tool's environment (`env -u`): only restic needs it.
    The pipeline exits with restic's code, or 1 when the dump failed (PIPE_STATUS_MARKER on
    stderr says which; a dump that failed halfway may still have made a snapshot of a truncated
    file, which the caller then forgets).
    """
    script = (
        f"set -o pipefail; env -u RESTIC_PASSWORD {shlex.join(dump_command)} | {shlex.join(restic_argv)}; "
        f'statuses=("${{PIPESTATUS[@]}}"); '
        f'echo "{PIPE_STATUS_MARKER} ${{statuses[0]}} ${{statuses[1]}}" >&2; '
        f'if [ "${{statuses[0]}}" != 0 ]; then exit 1; fi; exit "${{statuses[1]}}"'
    )
    return ["bash", "-c", script]


def build_load_pipeline_argv(restic_argv: Sequence[str], load_command: Sequence[str]) -> list[str]:
    """`bash -c` running RESTIC | LOAD (a dump read back from the repository into a database tool),
    reporting both exit codes like `build_dump_pipeline_argv`. The load tool does not get the password."""
    script = (
        f"set -o pipefail; {shlex.join(restic_argv)} | env -u RESTIC_PASSWORD {shlex.join(load_command)}; "
        f'statuses=("${{PIPESTATUS[@]}}"); '
        f'echo "{PIPE_STATUS_MARKER} ${{statuses[0]}} ${{statuses[1]}}" >&2; '
        f'if [ "${{statuses[0]}}" != 0 ]; then exit "${{statuses[0]}}"; fi; '
        f'if [ "${{statuses[1]}}" != 0 ]; then exit 1; fi; exit 0'
    )
    return ["bash", "-c", script]


def parse_pipe_status(stderr: str) -> tuple[int, int] | None:
    """(dump exit code, restic exit code) from the pipeline's marker line, None if absent."""
    for line in reversed(stderr.splitlines()):
        if line.startswith(PIPE_STATUS_MARKER):
            parts = line[len(PIPE_STATUS_MARKER):].split()
            if len(parts) == 2 and all(p.lstrip("-").isdigit() for p in parts):
                return int(parts[0]), int(parts[1])
    return None


def strip_pipe_status(stderr: str) -> str:
    return "\n".join(line for line in stderr.splitlines() if not line.startswith(PIPE_STATUS_MARKER))


# ---------------------------------------------------------------------------------------------
# Exit codes and error classification: the one table
# ---------------------------------------------------------------------------------------------

Outcome = Literal["ok", "warning", "fatal", "no-repository", "locked", "wrong-password", "unreachable",
                  "missing"]

EXIT_CODE_OUTCOMES: dict[int, Outcome] = {
    0: "ok",
    1: "fatal",
    3: "warning",  # snapshot made, but some source files could not be read
    10: "no-repository",
    11: "locked",
    12: "wrong-password",
}

# restic 0.14–0.16 say everything with exit code 1: the kind is read from stderr.
STDERR_OUTCOMES: tuple[tuple[str, Outcome], ...] = (
    ("wrong password or no key found", "wrong-password"),
    ("repository does not exist", "no-repository"),
    ("unable to open config file", "no-repository"),
    ("Is there a repository at the following location", "no-repository"),
    ("unable to create lock", "locked"),
    ("repository is already locked", "locked"),
    ("unable to start the sftp session", "unreachable"),
    ("Host key verification failed", "unreachable"),
    ("connection lost", "unreachable"),
    ("connection reset by peer", "unreachable"),
    ("broken pipe", "unreachable"),
)

OUTCOME_MESSAGES: dict[Outcome, str] = {
    "ok": "ok",
    "warning": "snapshot incomplete: some files could not be read",
    "fatal": "restic failed",
    "no-repository": "the repository does not exist (create it with --init or `chaton repo init`)",
    "locked": "the repository is locked by another restic process",
    "wrong-password": "wrong repository password",
    "unreachable": "the repository cannot be reached",
    "missing": "restic is not installed",
}


def classify(returncode: int, stderr: str) -> Outcome:
    """What a restic exit means, for every supported version."""
    outcome = EXIT_CODE_OUTCOMES.get(returncode, "fatal")
    if returncode == 127:
        return "missing"
    if outcome != "fatal":
        return outcome
    lowered = stderr.lower()
    for needle, kind in STDERR_OUTCOMES:
        if needle.lower() in lowered:
            return kind
    return "fatal"


class ResticError(ChatonError):
    """restic failed on a host; `kind` is the classified outcome (never carries the password)."""

    def __init__(self, message: str, *, kind: Outcome = "fatal", stderr_tail: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.stderr_tail = stderr_tail


@dataclass(frozen=True)
class ResticRun:
    """A finished restic command: its result and what it means."""

    result: CommandResult
    outcome: Outcome

    @property
    def succeeded(self) -> bool:
        return self.outcome in ("ok", "warning")

    def error(self, what: str) -> ResticError:
        tail = _restic_stderr_tail(self.result.stderr)
        message = f"{self.result.host}: {what}: {OUTCOME_MESSAGES[self.outcome]}"
        if self.outcome in ("fatal", "unreachable", "locked") and tail:
            message += f" ({tail})"
        elif self.result.returncode < 0 or self.result.returncode in (128 + 9, 128 + 15):
            # ssh reports a process ended by a signal without an exit status (-1 here)
            message += " (it was killed: no exit status)"
        return ResticError(message, kind=self.outcome, stderr_tail=tail)


def _restic_stderr_tail(stderr: str, lines: int = 4) -> str:
    """The human lines of restic's stderr (its JSON error lines are parsed separately, except the
    final `exit_error` of restic ≥ 0.17 with --json, which is the only place its message is)."""
    kept: list[str] = []
    for line in strip_pipe_status(stderr).splitlines():
        text = line.strip()
        if text.startswith("{"):
            text = _exit_error_message(text)
        if text:
            kept.append(text)
    return " / ".join(kept[-lines:])


def _exit_error_message(line: str) -> str:
    try:
        message = json.loads(line)
    except ValueError:
        return ""
    if isinstance(message, dict) and message.get("message_type") == "exit_error":
        return " / ".join(part.strip() for part in str(message.get("message", "")).splitlines() if part.strip())
    return ""
