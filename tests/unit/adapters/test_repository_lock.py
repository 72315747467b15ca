"""The per-repository lock on the machine running chaton (fcntl.flock in the state directory)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from chaton_ops.adapters.repository_lock import repository_locks
from chaton_ops.errors import LockError


def hold_in_another_process(directory, name: str, seconds: float) -> subprocess.Popen[str]:
    code = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from chaton_ops.adapters.repository_lock import repository_locks
        with repository_locks([{name!r}], directory=Path({str(directory)!r})):
            print("held", flush=True)
            time.sleep({seconds})
    """)
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "held"
    return process


def test_a_second_run_on_the_same_repository_is_refused_with_a_clear_message(tmp_path):
    holder = hold_in_another_process(tmp_path, "main", 30)
    try:
        with pytest.raises(LockError, match=r"repository main is in use by another chaton run \(held by pid \d+\)"):
            with repository_locks(["main"], directory=tmp_path):
                pass
    finally:
        holder.kill()
        holder.wait()


def test_another_repository_is_not_blocked_and_a_waiting_run_gets_the_lock_when_it_is_released(tmp_path):
    holder = hold_in_another_process(tmp_path, "main", 0.5)
    try:
        with repository_locks(["offsite"], directory=tmp_path):
            pass
        with repository_locks(["main", "offsite"], wait=30, directory=tmp_path):
            # the lock came free only because the holder left its `with` block and ended
            assert holder.wait(timeout=10) == 0
    finally:
        holder.kill()
        holder.wait()
