"""The failover's progress display (cli/runbook_view.RunbookProgress) gets events from every lane's
thread at once: it must start one live display, not one per thread (two displays left a frozen spinner
line on the screen at the end of a failback)."""

from __future__ import annotations

import threading
import time

from chaton_ops.cli.context import GlobalOptions
from chaton_ops.cli.runbook_view import RunbookProgress
from chaton_ops.core.runbook import PlannedStep
from chaton_ops.ops.engine import StepEvent


def test_events_from_many_lanes_at_once_start_one_display() -> None:
    progress = RunbookProgress(GlobalOptions())
    progress.live = progress.enabled = True
    started: list[int] = []

    def start() -> None:
        time.sleep(0.05)  # a display takes a while to start: long enough for another lane to come by
        started.append(threading.get_ident())
        progress.display, progress.task = FakeDisplay(), 0

    progress._start = start  # type: ignore[method-assign]
    gate = threading.Barrier(8)

    def lane(index: int) -> None:
        gate.wait()
        progress(StepEvent("start", PlannedStep(key=f"s{index}", action="do", title=f"step {index}")))

    threads = [threading.Thread(target=lane, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(started) == 1
    assert len(progress.display.descriptions) == 8  # every lane's event reached the one display


class FakeDisplay:
    def __init__(self) -> None:
        self.descriptions: list[str] = []

    def update(self, task: int, description: str) -> None:
        self.descriptions.append(description)
