"""The runbook engine, with recording actions and a real (temporary) journal."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from chaton_ops.adapters.journal import Journal
from chaton_ops.core.runbook import Plan, PlanError, PlannedStep, run_status
from chaton_ops.errors import ChatonError, ExitCode
from chaton_ops.ops.engine import GO, Done, Refuse, RunState, StepOutput, apply_plan, load_plan, start_run


class Recorder:
    """An action that records what it did; behaviour per step key is scripted."""

    def __init__(self) -> None:
        self.applied: list[str] = []
        self.verdicts: dict[str, object] = {}
        self.failures: dict[str, BaseException] = {}
        self.outputs: dict[str, dict] = {}
        self.seen_outputs: dict[str, object] = {}
        self.hooks: dict[str, Callable[[], None]] = {}

    def check(self, step: PlannedStep, run: RunState):
        return self.verdicts.get(step.key, GO)

    def apply(self, step: PlannedStep, run: RunState) -> StepOutput:
        self.applied.append(step.key)
        for need in step.needs:
            self.seen_outputs[f"{step.key}<-{need}"] = run.outputs(need)
        if step.key in self.hooks:
            self.hooks[step.key]()
        if step.key in self.failures:
            raise self.failures.pop(step.key)
        return StepOutput("changed", self.outputs.get(step.key, {"did": step.key}))


@pytest.fixture
def journal(tmp_path: Path):
    with Journal(tmp_path / "journal.sqlite3") as opened:
        yield opened


def s(key: str, **kw) -> PlannedStep:
    return PlannedStep(key=key, action="do", title=f"do {key}", **kw)


def test_steps_run_in_order_and_each_is_journaled_with_its_outputs(journal):
    plan = Plan("failover", (s("a", host="vps"), s("b", host="vps", needs=("a",))))
    recorder = Recorder()
    run_id = start_run(journal, plan, ["--to", "vps"])

    result = apply_plan(plan, {"do": recorder}, journal, run_id)

    assert recorder.applied == ["a", "b"]
    assert recorder.seen_outputs == {"b<-a": {"did": "a", "duration": pytest.approx(0, abs=1)}}
    assert (result.status, result.exit_code) == ("ok", ExitCode.OK)
    rows = journal.keyed_steps(run_id)
    assert [(k, r.status, r.host) for k, r in rows.items()] == [("a", "changed", "vps"), ("b", "changed", "vps")]
    assert rows["a"].detail["outputs"]["did"] == "a"
    assert journal.run(run_id).status == "ok"
    assert load_plan(journal, run_id) == plan


def test_a_failed_step_skips_the_rest_of_its_lane_and_what_needs_it_but_not_other_lanes(journal):
    plan = Plan("failover", (
        s("restore:www", lane="www", phase=1), s("deploy:www", lane="www", phase=1),
        s("restore:mail", lane="mail", phase=1), s("deploy:mail", lane="mail", phase=1),
        s("dns:www", phase=2, needs=("deploy:www",)), s("dns:mail", phase=2, needs=("deploy:mail",)),
    ))
    recorder = Recorder()
    recorder.failures["restore:www"] = ChatonError("vps: restic is not installed")

    result = apply_plan(plan, {"do": recorder}, journal, start_run(journal, plan, []))

    assert recorder.applied == ["restore:www", "restore:mail", "deploy:mail", "dns:mail"]
    statuses = {r.step.key: r.status for r in result.steps}
    assert statuses == {"restore:www": "failed", "deploy:www": "skipped", "restore:mail": "changed",
                        "deploy:mail": "changed", "dns:www": "skipped", "dns:mail": "changed"}
    assert result.result("restore:www").message == "vps: restic is not installed"
    assert (result.status, result.exit_code) == ("partial", ExitCode.PARTIAL)
    assert journal.keyed_steps(result.run_id)["restore:www"].detail["error"] == "vps: restic is not installed"


def test_a_precondition_already_met_is_a_no_op_and_a_refusal_is_a_failure(journal):
    plan = Plan("x", (s("a"), s("b"), s("c", noop="nothing to move")))
    recorder = Recorder()
    recorder.verdicts = {"a": Done("records already point at vps"), "b": Refuse("vps did not answer")}

    result = apply_plan(plan, {"do": recorder}, journal, start_run(journal, plan, []))

    assert recorder.applied == []
    assert [(r.status, r.message) for r in result.steps] == [
        ("noop", "records already point at vps"), ("failed", "vps did not answer"), ("noop", "nothing to move")]
    assert result.status == "failed"


def test_an_interrupted_run_resumes_without_redoing_finished_steps(journal):
    plan = Plan("failover", (s("a", lane="l"), s("b", lane="l"), s("c", lane="l"), s("d", lane="l", needs=("a",))))
    first = Recorder()
    first.failures["c"] = KeyboardInterrupt()
    run_id = start_run(journal, plan, [])
    with pytest.raises(KeyboardInterrupt):
        apply_plan(plan, {"do": first}, journal, run_id)
    assert journal.run(run_id).status == "interrupted"
    assert journal.keyed_steps(run_id)["c"].status == "interrupted"

    second = Recorder()
    result = apply_plan(load_plan(journal, run_id), {"do": second}, journal, run_id, resume=True)

    assert first.applied == ["a", "b", "c"] and second.applied == ["c", "d"]
    assert second.seen_outputs["d<-a"]["did"] == "a"  # read back from the journal
    assert [r.earlier for r in result.steps] == [True, True, False, False]
    rows = journal.keyed_steps(run_id)
    assert len(journal.steps(run_id)) == 4  # one row per step: nothing done twice
    assert rows["c"].attempt == 2 and rows["c"].status == "changed" and rows["a"].attempt == 1
    assert journal.run(run_id).status == "ok" and journal.run(run_id).resumed_at


def test_a_failed_step_is_retried_on_resume(journal):
    plan = Plan("failover", (s("a"), s("b", needs=("a",))))
    first = Recorder()
    first.failures["a"] = ChatonError("dns server refused")
    run_id = start_run(journal, plan, [])
    assert apply_plan(plan, {"do": first}, journal, run_id).status == "failed"

    result = apply_plan(plan, {"do": Recorder()}, journal, run_id, resume=True)

    assert result.status == "ok"
    assert journal.keyed_steps(run_id)["a"].detail["earlier_attempts"] == [
        {"status": "failed", "error": "dns server refused"}]


def test_lanes_of_a_phase_run_in_parallel_up_to_jobs(journal):
    both_running = threading.Barrier(2, timeout=10)
    plan = Plan("backup", (s("a", host="primary"), s("b", host="vps"), s("c", host="after", phase=1)))
    recorder = Recorder()
    recorder.hooks = {"a": both_running.wait, "b": both_running.wait}

    result = apply_plan(plan, {"do": recorder}, journal, start_run(journal, plan, []), jobs=2)

    assert result.status == "ok" and recorder.applied[-1] == "c"


def test_an_unexpected_error_in_a_step_is_a_failed_step_not_a_traceback(journal):
    plan = Plan("x", (s("a"), s("b", lane="other")))
    recorder = Recorder()
    recorder.failures["a"] = RuntimeError("boom")

    result = apply_plan(plan, {"do": recorder}, journal, start_run(journal, plan, []))

    assert result.result("a").message == "unexpected error: RuntimeError: boom"
    assert result.result("b").status == "changed"


def test_plans_with_duplicate_keys_or_needs_on_later_steps_are_refused():
    with pytest.raises(PlanError, match="two steps"):
        Plan("x", (s("a"), s("a")))
    with pytest.raises(PlanError, match="not an earlier step"):
        Plan("x", (s("a", needs=("b",)), s("b")))
    with pytest.raises(PlanError, match="later phase"):
        Plan("x", (s("b", phase=2), s("a", phase=1, needs=("b",))))


@pytest.mark.parametrize(("statuses", "expected"), [
    (["ok", "noop"], "ok"), (["ok", "warning"], "warning"), (["ok", "failed"], "partial"),
    (["noop", "failed", "skipped"], "failed"), (["ok", "interrupted"], "interrupted"), ([], "ok"),
])
def test_run_status_follows_from_the_steps(statuses, expected):
    assert run_status(statuses) == expected


def test_an_independent_step_that_fails_does_not_skip_the_rest_of_its_lane(journal):
    plan = Plan("backup", (s("backup:www", lane="web", independent=True), s("backup:wiki", lane="web", independent=True),
                           s("after", lane="web")))
    recorder = Recorder()
    recorder.failures["backup:www"] = ChatonError("disk full")
    result = apply_plan(plan, {"do": recorder}, journal, start_run(journal, plan, []))

    assert recorder.applied == ["backup:www", "backup:wiki", "after"]
    assert [r.status for r in result.steps] == ["failed", "changed", "changed"]
    assert Plan.from_dict(plan.as_dict()) == plan  # stored and read back with the flag


def test_a_run_without_a_journal_applies_the_same_plan():
    from chaton_ops.ops.engine import NoJournal

    plan = Plan("backup", (s("a"), s("b", needs=("a",))))
    recorder = Recorder()
    result = apply_plan(plan, {"do": recorder}, NoJournal(), 0)
    assert recorder.applied == ["a", "b"] and result.status == "ok"


class JournalsItsParts(Recorder):
    """An action that writes its own rows (a deploy: one per playbook step)."""

    journals_parts = True

    def __init__(self, journal: Journal) -> None:
        super().__init__()
        self.journal = journal

    def apply(self, step: PlannedStep, run: RunState) -> StepOutput:
        self.journal.record_step(run.run_id, step.host or "", f"{step.key}: part 1", "changed")
        return super().apply(step, run)


def test_an_action_that_journals_its_parts_gets_no_row_of_its_own_but_a_skip_still_is_journaled(journal):
    plan = Plan("deploy", (s("a", host="vps"), s("b", host="vps"), s("c", host="vps")))
    action = JournalsItsParts(journal)
    action.failures["b"] = ChatonError("part 2 failed")
    run_id = start_run(journal, plan, [])

    result = apply_plan(plan, {"do": action}, journal, run_id)

    assert [r.status for r in result.steps] == ["changed", "failed", "skipped"]
    assert [(row.step, row.status) for row in journal.steps(run_id)] == [
        ("a: part 1", "changed"), ("b: part 1", "changed"), ("do", "skipped")]
    assert journal.run(run_id).status == "partial"  # type: ignore[union-attr]


def test_a_run_reports_in_the_one_shape_and_reads_back_the_same_from_the_journal(journal):
    from chaton_ops.ops.history import describe_run

    plan = Plan("failover", (s("restore:www", host="vps", lane="www"), s("dns:www", needs=("restore:www",)),
                             s("restore:mail", host="vps", lane="mail"), s("noop", noop="nothing to move")))
    recorder = Recorder()
    recorder.failures["restore:mail"] = ChatonError("vps: restic is not installed")
    run_id = start_run(journal, plan, ["--to", "vps"])
    journal.record_step(run_id, "www", "note", "ok", {"said": "a note beside the steps"})

    live = apply_plan(plan, {"do": recorder}, journal, run_id).summary().as_json()
    read = describe_run(journal, run_id)["runbook"]

    assert (live["run"], live["command"], live["status"], live["exit_code"]) == (run_id, "failover", "partial", 3)
    assert [(x["key"], x["status"], x["message"]) for x in live["steps"]] == [
        ("restore:www", "changed", ""), ("dns:www", "changed", ""),
        ("restore:mail", "failed", "vps: restic is not installed"), ("noop", "noop", "nothing to move")]
    assert live["steps"][0]["outputs"]["did"] == "restore:www" and live["steps"][0]["duration"] is not None
    assert live["steps"][3]["duration"] is None  # a planned no-op did not run
    assert {k: read[k] for k in ("run", "command", "status", "exit_code")} == \
           {k: live[k] for k in ("run", "command", "status", "exit_code")}
    assert [x for x in read["steps"] if x["key"] is None] == [
        {"key": None, "action": "note", "target": "www", "host": None, "status": "ok", "message": "",
         "outputs": {"said": "a note beside the steps"}, "duration": None}]
    keyed = sorted((x["key"], x["action"], x["status"], x["message"]) for x in read["steps"] if x["key"])
    assert keyed == sorted((x["key"], x["action"], x["status"], x["message"]) for x in live["steps"])
