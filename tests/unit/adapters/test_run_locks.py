"""The per-repository lock on the machine running chaton (fcntl.flock in the state directory)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from chaton_ops.adapters.run_locks import repository_locks
from chaton_ops.errors import LockError


def hold_in_another_process(directory, name: str, seconds: float) -> subprocess.Popen[str]:
    code = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from chaton_ops.adapters.run_locks import repository_locks
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


def hold_names_in_another_process(directory, names: list[str], seconds: float) -> subprocess.Popen[str]:
    code = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from chaton_ops.adapters.run_locks import hold_locks
        with hold_locks({names!r}, directory=Path({str(directory)!r})):
            print("held", flush=True)
            time.sleep({seconds})
    """)
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "held"
    return process


def test_a_service_lock_is_its_own_and_says_what_is_held_and_how_to_go_on(tmp_path):
    from chaton_ops.adapters.run_locks import FileLocks

    holder = hold_names_in_another_process(tmp_path, ["service:www"], 30)
    try:
        locks = FileLocks(tmp_path)
        with locks.hold(["repository:www", "service:mail", "schedule"]):  # other names: not blocked
            pass
        with pytest.raises(LockError, match=r"^service www is in use by another chaton run \(held by pid \d+\); "
                                            r"try again when it has ended$"):
            with locks.hold(["service:mail", "service:www"], wait_option=False):
                pass
        with pytest.raises(LockError, match=r"after waiting 0\.3 s; try again later or wait for it with --lock-wait"):
            with locks.hold(["service:www"], wait=0.3):
                pass
        with locks.hold(["service:mail"]):  # what the refused run had taken was released
            pass
    finally:
        holder.kill()
        holder.wait()
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.lock")) == [
        "runs/schedule.lock", "services/mail.lock", "services/www.lock", "www.lock"]


@pytest.mark.parametrize("name", ["service:", "service:../x", "service:a/b", "nothing:x", ":x", ".hidden", "service:.x"])
def test_a_lock_name_that_is_not_one_is_refused_before_any_file(tmp_path, name):
    from chaton_ops.adapters.run_locks import hold_locks

    with pytest.raises(ValueError, match="not a lock name"):
        with hold_locks([name], directory=tmp_path):
            pass
    assert not list(tmp_path.rglob("*.lock"))
