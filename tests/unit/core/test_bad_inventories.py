"""The bad-inventory corpus: every case is refused with exactly the expected problems, each located.

A case is a file `bad_inventories/NN-name.yml` whose header comments say what is expected:

    # expect: line=7 path=services.www.host message=unknown host

or a directory `bad_inventories/NN-name/` (an inventory directory) with the same lines, without the
leading `# `, in `expect.txt`, plus `file=NAME` for the file the problem must point at. `line=-` and
`path=-` mean "no line" and "no path"; `message` is a fragment of the message. A case has exactly as
many problems as it has `expect` lines: one mistake gives one message, not a cascade.
Cases are checked as `chaton inventory check` checks them: the inventory, then the variables of the
services' playbooks (the shipped ones).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from chaton_ops.cli.main import main
from chaton_ops.errors import ExitCode, InventoryError
from chaton_ops.ops.inventory_check import check_inventory_at

CORPUS = Path(__file__).parent / "bad_inventories"
EXPECT_LINE = re.compile(r"^(?:# )?expect: (?:file=(?P<file>\S+) )?line=(?P<line>\d+|-) path=(?P<path>.+?) "
                         r"message=(?P<message>.+)$")
# Words of pydantic's own vocabulary that must never reach an admin.
JARGON = ("Extra inputs are not permitted", "Input should be", "pydantic", "Traceback", "union", "[key]")
SECRETS_IN_CORPUS = ("hunter2", "correct horse battery")


@dataclass(frozen=True)
class Expected:
    file: str | None
    line: int | None
    path: str
    message: str


def read_expectations(case: Path) -> list[Expected]:
    source = case / "expect.txt" if case.is_dir() else case
    expected = []
    for text in source.read_text(encoding="utf-8").splitlines():
        found = EXPECT_LINE.match(text)
        if found:
            expected.append(Expected(
                file=found["file"],
                line=None if found["line"] == "-" else int(found["line"]),
                path="" if found["path"] == "-" else found["path"],
                message=found["message"],
            ))
    return expected


CASES = sorted(p for p in CORPUS.iterdir() if re.match(r"^\d\d-", p.name))


def test_the_corpus_has_at_least_25_cases_each_with_expectations() -> None:
    assert len(CASES) >= 25
    for case in CASES:
        assert read_expectations(case), f"{case.name} has no `expect:` line"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_inventory_is_refused_with_each_expected_problem_located(case: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPO_PASS", "not-used")
    expected = read_expectations(case)

    with pytest.raises(InventoryError) as raised:
        check_inventory_at(case, environ={})

    problems = raised.value.problems
    assert len(problems) == len({(e.file, e.line, e.path) for e in expected}), raised.value.message
    for expectation in expected:
        matching = [
            p for p in problems
            if p.line == expectation.line and p.path == expectation.path and expectation.message in p.message
            and (expectation.file is None or Path(p.file).name == expectation.file)
        ]
        assert matching, f"expected {expectation} in:\n{raised.value.message}"
        for problem in matching:
            if problem.line is not None:
                assert problem.column is not None and problem.column >= 1
                assert problem.file


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_chaton_inventory_check_exits_2_with_file_and_line_and_no_jargon(
        case: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("REPO_PASS", "not-used")

    code = main(["inventory", "check", str(case)])

    out, err = capsys.readouterr()
    assert code == ExitCode.USAGE
    assert out == ""
    for expectation in read_expectations(case):
        where = str(case / expectation.file) if expectation.file else str(case)
        if expectation.line is not None:
            where += f":{expectation.line}:"
        assert where in err
    for word in (*JARGON, *SECRETS_IN_CORPUS):
        assert word not in err
