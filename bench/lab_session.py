"""The lab for one benchmark: root checked, lab N's lock (CHATON_LAB_ID) held from `up` to `down`, and
the lab torn down however the measurement ends."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class LabUnavailable(Exception):
    """Why this benchmark cannot have the lab (not root, the lab in use by someone else)."""


@contextmanager
def lab_session(who: str, *, extra: int = 0) -> Iterator[Any]:
    """The lab (tests.lab.lab.Lab) brought up for `who`; LabUnavailable before anything is touched."""
    if os.geteuid() != 0:
        raise LabUnavailable("the lab needs root")
    from tests.lab.lab import Lab, LabError, LabLock

    lock = LabLock()
    try:
        lock.acquire(timeout=float(os.environ.get("CHATON_LAB_LOCK_WAIT", "240")), who=who)
    except LabError as error:
        raise LabUnavailable(str(error)) from error
    lab = Lab(extra=extra)
    try:
        lab.up()
        yield lab
    finally:
        lab.down()
        lock.release()
