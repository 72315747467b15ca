"""The failover's progress display (cli/runbook_view.RunbookProgress) gets events from every lane's
thread at once: it must start one live display, not one per thread (two displays left a frozen spinner
line on the screen at the end of a failback), and no lane may use it before it is ready (a lane that
saw the display before its task existed ended a failback with a KeyError under load)."""

from __future__ import annotations

import threading
import time

import rich.progress

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


def test_no_lane_uses_the_display_before_its_task_exists(monkeypatch) -> None:
    class SlowToAddATask(rich.progress.Progress):
        def add_task(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            time.sleep(0.05)  # a loaded machine: long enough for another lane to come by
            return super().add_task(*args, **kwargs)

    monkeypatch.setattr(rich.progress, "Progress", SlowToAddATask)
    progress = RunbookProgress(GlobalOptions())
    progress.live = progress.enabled = True
    gate = threading.Barrier(8)
    failures: list[BaseException] = []

    def lane(index: int) -> None:
        gate.wait()
        time.sleep(0.01 * (index % 2))  # half the lanes arrive while the first is starting the display
        try:
            progress(StepEvent("start", PlannedStep(key=f"s{index}", action="do", title=f"step {index}")))
        except BaseException as failure:  # noqa: BLE001 - the test reports what a lane raised
            failures.append(failure)

    with progress:
        threads = [threading.Thread(target=lane, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert failures == []
    assert isinstance(progress.display, SlowToAddATask)


class FakeDisplay:
    def __init__(self) -> None:
        self.descriptions: list[str] = []

    def update(self, task: int, description: str) -> None:
        self.descriptions.append(description)


def test_drills_of_many_services_at_once_start_one_display(monkeypatch) -> None:
    from chaton_ops.cli.restore import _DrillProgress

    made: list[rich.progress.Progress] = []

    class SlowToStart(rich.progress.Progress):
        def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            made.append(self)
            time.sleep(0.05)  # a loaded machine: long enough for the other lanes to come by
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(rich.progress, "Progress", SlowToStart)
    progress = _DrillProgress(GlobalOptions())
    progress.enabled = True
    gate = threading.Barrier(6)

    def lane(index: int) -> None:
        gate.wait()
        progress(StepEvent("start", PlannedStep(key=f"drill:s{index}", action="drill", target=f"s{index}",
                                                title=f"drill s{index}")))

    threads = [threading.Thread(target=lane, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    progress.__exit__(None, None, None)

    assert len(made) == 1
    assert sorted(progress.tasks) == [f"s{i}" for i in range(6)]
